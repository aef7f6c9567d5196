// A modal yes/no question (the native <dialog>): Escape or "Cancel" answers no. Used where one
// click must not do something hard to undo, e.g. promoting a model worse than the one in use.

import { h } from "../dom";

export interface ConfirmOptions {
  title: string;
  lines: string[];
  confirmLabel: string;
  testId?: string;
}

export function confirmDialog(opts: ConfirmOptions): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    const answer = (yes: boolean) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(yes);
    };
    const cancel = h("button", { type: "button", "data-testid": "confirm-cancel", onclick: () => answer(false) }, "Cancel");
    const dialog = h(
      "dialog",
      { class: "confirm-dialog", "data-testid": opts.testId ?? "confirm-dialog", "aria-labelledby": "confirm-dialog-title" },
      h("h3", { id: "confirm-dialog-title" }, opts.title),
      h("ul", {}, opts.lines.map((line) => h("li", { "data-testid": "confirm-figure" }, line))),
      h(
        "div",
        { class: "confirm-actions" },
        cancel,
        h("button", { type: "button", class: "danger", "data-testid": "confirm-ok", onclick: () => answer(true) }, opts.confirmLabel),
      ),
    );
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      answer(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus(); // the safe answer is the default
  });
}
