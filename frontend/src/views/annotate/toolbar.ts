// The annotate view's toolbar (back link, image name, save and lease status, undo/redo, SAM,
// Next, Submit, help) and its category palette, both redrawn from the editor state.

import { h } from "../../dom";
import { canRedo, canUndo, selectedInstance, type EditorState } from "../../store";
import type { Category, ImageRecord, Project, PromptEngineInfo } from "../../types";

export interface ToolbarActions {
  undo(): void;
  redo(): void;
  toggleSam(): void;
  next(): void;
  submit(): void;
  help(): void;
  chooseCategory(id: number): void;
}

export interface Toolbar {
  toolbar: HTMLElement;
  palette: HTMLElement;
  render(s: EditorState): void;
}

export function annotateToolbar(opts: {
  project: Project;
  image: ImageRecord;
  /** Status elements owned by the saving and the lease. */
  saveStatus: HTMLElement;
  lease: HTMLElement;
  /** The click engine that runs, and why (null: the server did not say). */
  engine?: PromptEngineInfo | null;
  actions: ToolbarActions;
}): Toolbar {
  const { project, image, actions } = opts;
  const undoBtn = h("button", { type: "button", title: "Undo (Ctrl+Z)", "data-testid": "undo", onclick: () => actions.undo() }, "↶ Undo");
  const redoBtn = h("button", { type: "button", title: "Redo (Ctrl+Shift+Z)", "data-testid": "redo", onclick: () => actions.redo() }, "↷ Redo");
  const engine = opts.engine;
  const samBtn = h("button", { type: "button", title: engine ? `Click tool (S): ${engine.label}, ${engine.reason}` : "SAM mode (S)", "data-testid": "sam-toggle",
    "data-engine": engine?.engine, onclick: () => actions.toggleSam() }, engine ? `${engine.label} (S)` : "SAM (S)");
  const submitBtn = h("button", { type: "button", class: "primary", title: "Submit and go to the next image (Ctrl+Enter)", "data-testid": "submit", onclick: () => actions.submit() }, "Submit (Ctrl+Enter)");
  const nextBtn = h("button", { type: "button", title: "Skip to the next image (N)", "data-testid": "next", onclick: () => actions.next() }, "Next (N)");
  const palette = h("div", { class: "palette", role: "toolbar", "aria-label": "Categories" },
    project.categories.map((c: Category, i) => h("button", { type: "button", "data-category": c.id, title: `${c.name} (${i + 1})`, onclick: () => actions.chooseCategory(c.id) },
      h("span", { class: "swatch", style: `background:${c.color}` }), `${i + 1} ${c.name}`)));

  const toolbar = h("div", { class: "toolbar" },
    h("a", { href: `#/projects/${project.id}`, title: "Back to the dashboard" }, "← ", project.name),
    h("strong", { class: "image-name", "data-testid": "image-name" }, image.name),
    opts.saveStatus, opts.lease,
    h("span", { class: "spacer" }),
    undoBtn, redoBtn, samBtn,
    engine ? h("span", { class: "muted small engine-reason", "data-testid": "engine-reason" }, engine.reason) : null,
    nextBtn, submitBtn,
    h("button", { type: "button", title: "Keyboard shortcuts (?)", onclick: () => actions.help() }, "?"),
  );

  const render = (s: EditorState) => {
    undoBtn.disabled = !canUndo(s);
    redoBtn.disabled = !canRedo(s);
    samBtn.classList.toggle("active", s.sam.armed);
    // The palette marks the selection's category, or the one the next new shape gets.
    const sel = selectedInstance(s);
    for (const b of palette.querySelectorAll<HTMLButtonElement>("button")) {
      const id = Number(b.dataset.category);
      b.classList.toggle("active", id === (sel ? sel.category : s.activeCategory));
    }
  };
  return { toolbar, palette, render };
}
