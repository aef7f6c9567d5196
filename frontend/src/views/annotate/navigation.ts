// Previous / next image in the annotate view. They walk the image list the annotator came from
// (its filter and order ride in the hash query: #/images/7/annotate?status=rejected); opened from
// the queue, they walk all of the project's images in upload order. Both save first, through the
// same flush as Submit and Next, and stay put when the save fails.

import { api } from "../../api";
import { h, toast } from "../../dom";
import { filterFromQuery, filterToQuery, hashQuery, positionText } from "../../images/filter";
import { toggleHelp, type Shortcut } from "../../keyboard";
import type { ImageNeighbours } from "../../types";

export interface ImageNavigation {
  /** "◀ 3 / 40 ▶" for the toolbar. */
  el: HTMLElement;
  shortcuts(): Shortcut[];
}

export function imageNavigation(opts: { imageId: number; projectId: number; flushBeforeLeaving(): Promise<boolean> }): ImageNavigation {
  const query = filterToQuery(filterFromQuery(hashQuery(location.hash)));
  let near: ImageNeighbours | null = null;
  let moving = false;

  const prevBtn = h("button", { type: "button", "data-testid": "image-previous", title: "Previous image in the list (Alt+← or Page Up)", disabled: true, onclick: () => void go("previous") }, "◀");
  const nextBtn = h("button", { type: "button", "data-testid": "image-next", title: "Next image in the list (Alt+→ or Page Down)", disabled: true, onclick: () => void go("next") }, "▶");
  const where = h("span", { class: "muted small", "data-testid": "image-position" }, "…");
  const listLink = h("a", { href: `#/projects/${opts.projectId}/images${query ? `?${query}` : ""}`, title: "Back to the image list" }, "list");
  const el = h("span", { class: "image-nav", role: "group", "aria-label": "Previous and next image" }, prevBtn, where, nextBtn, " ", listLink);

  async function go(which: "previous" | "next"): Promise<void> {
    const target = near?.[which];
    if (moving) return;
    if (!target) {
      toast(which === "next" ? "This is the last image of the list." : "This is the first image of the list.");
      return;
    }
    moving = true;
    try {
      if (!(await opts.flushBeforeLeaving())) return;
      location.hash = `#/images/${target}/annotate${query ? `?${query}` : ""}`;
    } finally {
      moving = false;
    }
  }

  api.neighbours(opts.imageId, filterFromQuery(query)).then(
    (n) => {
      near = n;
      prevBtn.disabled = n.previous === null;
      nextBtn.disabled = n.next === null;
      where.textContent = positionText(n.position, n.count);
    },
    () => (where.textContent = ""),
  );

  const shortcuts = (): Shortcut[] => [
    { keys: "alt+arrowleft / pageup", label: "Previous image in the list (saves first)", group: "Workflow", run: () => void go("previous") },
    { keys: "alt+arrowright / pagedown", label: "Next image in the list (saves first)", group: "Workflow", run: () => void go("next") },
  ];
  return { el, shortcuts };
}

/**
 * The view's shortcut table with previous / next first (so Alt+arrows win over the arrows that
 * pan), and a `?` that lists them too; unchanged while a dialog owns the keys.
 */
export function withNavigation(table: () => Shortcut[], nav: ImageNavigation, dialogOpen: () => boolean): () => Shortcut[] {
  const full = (): Shortcut[] => {
    if (dialogOpen()) return table();
    const help: Shortcut = { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Annotate", full()) };
    return [help, ...nav.shortcuts(), ...table().filter((s) => s.keys !== "?")];
  };
  return full;
}
