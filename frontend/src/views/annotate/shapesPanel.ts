// The annotate view's panel for many shapes at once: what is selected and what to do with all of
// it (delete, re-class, lock), "delete all model shapes", and the display: which categories are
// shown, when labels are drawn, and the fill opacity. Edits go through the store (one undo step
// each, saved like any edit); the display settings are kept in this browser.

import { clear, h, toast } from "../../dom";
import { deleteModelShapes, deleteSelected, modelShapeKeys, setCategoryHidden, setSelectedCategory, toggleLocked } from "../../selection";
import { DEFAULT_OPACITY, selectedKeys, type EditorState, type LabelMode, type Store } from "../../store";
import type { Category } from "../../types";

const DISPLAY_KEY = "annotator.display";
const LABEL_MODES: { mode: LabelMode; text: string }[] = [
  { mode: "always", text: "always" },
  { mode: "hover", text: "on hover and selection" },
  { mode: "selection", text: "on the selection only" },
];

/** The display settings this browser keeps: label mode and opacity. */
export function loadDisplay(storage: Pick<Storage, "getItem">): { labels: LabelMode; opacity: number } {
  try {
    const raw = JSON.parse(storage.getItem(DISPLAY_KEY) ?? "{}") as { labels?: unknown; opacity?: unknown };
    const labels = LABEL_MODES.some((m) => m.mode === raw.labels) ? (raw.labels as LabelMode) : "always";
    const opacity = typeof raw.opacity === "number" && raw.opacity >= 0 && raw.opacity <= 1 ? raw.opacity : DEFAULT_OPACITY;
    return { labels, opacity };
  } catch {
    return { labels: "always", opacity: DEFAULT_OPACITY };
  }
}

export class ShapesPanel {
  private summary = h("span", { "data-testid": "selection-count" });
  private deleteBtn = h("button", { type: "button", "data-testid": "bulk-delete", title: "Delete the selected shapes, locked ones excepted (Delete)", onclick: () => this.deleteSelection() }, "Delete");
  private recl: HTMLSelectElement;
  private lockBtn = h("button", { type: "button", "data-testid": "lock-toggle", title: "Lock or unlock the selected shapes (K): a locked shape cannot be picked, moved, edited or deleted", onclick: () => this.toggleLock() }, "Lock");
  private modelBtn = h("button", { type: "button", "data-testid": "delete-model-shapes", title: "Delete every pre-label nobody edited (shown and unlocked ones); Ctrl+Z brings them back", onclick: () => this.deleteModel() }, "Delete all model shapes");
  private cats = h("ul", { class: "category-visibility", "data-testid": "category-visibility" });
  private labels: HTMLSelectElement;
  private opacity: HTMLInputElement;
  readonly el: HTMLElement;

  constructor(
    private store: Store<EditorState>,
    private categories: readonly Category[],
  ) {
    this.recl = h("select", { "data-testid": "bulk-category", "aria-label": "Re-class the selection", onchange: () => this.reclass() },
      h("option", { value: "" }, "Re-class to…"),
      categories.map((c, i) => h("option", { value: c.id }, `${i + 1} ${c.name}`)));
    this.labels = h("select", { "data-testid": "label-mode", "aria-label": "Show labels", onchange: () => this.setDisplay({ labels: this.labels.value as LabelMode }) },
      LABEL_MODES.map((m) => h("option", { value: m.mode }, m.text)));
    this.opacity = h("input", { type: "range", min: 0, max: 100, step: 5, "data-testid": "opacity", "aria-label": "Fill opacity",
      oninput: () => this.setDisplay({ opacity: Number(this.opacity.value) / 100 }) });
    this.el = h("section", { class: "shapes-panel", "data-testid": "shapes-panel" },
      h("div", { class: "bulk" }, this.summary, " ", this.deleteBtn, this.recl, this.lockBtn),
      h("div", {}, this.modelBtn),
      h("h3", {}, "Show"),
      this.cats,
      h("label", { class: "small row" }, "Labels ", this.labels),
      h("label", { class: "small row" }, "Opacity ", this.opacity));
  }

  /** Change the label mode or the opacity, and keep it in this browser. */
  setDisplay(d: { labels?: LabelMode; opacity?: number }): void {
    this.store.dispatch((s) => ({ ...s, ...d }));
    const s = this.store.state;
    try {
      localStorage.setItem(DISPLAY_KEY, JSON.stringify({ labels: s.labels, opacity: s.opacity }));
    } catch {
      // A private window may refuse: the setting still holds for this visit.
    }
  }

  deleteSelection(): void {
    const s = this.store.state;
    const keys = selectedKeys(s);
    const skipped = keys.filter((k) => s.locked.has(k)).length;
    this.store.dispatch(deleteSelected);
    if (skipped > 0) toast(`${skipped} locked shape(s) kept: unlock them (K) to delete.`);
  }

  reclass(): void {
    const id = Number(this.recl.value);
    this.recl.value = "";
    if (id) this.store.dispatch((s) => setSelectedCategory(s, id));
  }

  toggleLock(): void {
    this.store.dispatch((s) => toggleLocked(s, selectedKeys(s)));
  }

  deleteModel(): void {
    const n = modelShapeKeys(this.store.state).length;
    if (n === 0) return;
    this.store.dispatch(deleteModelShapes);
    toast(`Deleted ${n} model shape(s). Ctrl+Z brings them back.`);
  }

  render(s: EditorState, prev: EditorState | null): void {
    if (prev && prev.instances === s.instances && prev.selected === s.selected && prev.group === s.group &&
        prev.locked === s.locked && prev.hidden === s.hidden && prev.labels === s.labels && prev.opacity === s.opacity) return;
    const keys = selectedKeys(s);
    const lockedSel = keys.filter((k) => s.locked.has(k)).length;
    this.summary.textContent = keys.length === 0 ? "Nothing selected" : `${keys.length} selected${lockedSel ? ` (${lockedSel} locked)` : ""}`;
    this.deleteBtn.disabled = keys.length === lockedSel;
    this.recl.disabled = keys.length === lockedSel;
    this.lockBtn.disabled = keys.length === 0;
    this.lockBtn.textContent = keys.length > 0 && lockedSel === keys.length ? "Unlock" : "Lock";
    const models = modelShapeKeys(s).length;
    this.modelBtn.disabled = models === 0;
    this.modelBtn.textContent = `Delete all model shapes (${models})`;
    this.labels.value = s.labels;
    this.opacity.value = String(Math.round(s.opacity * 100));
    const counts = new Map<number, number>();
    for (const i of s.instances) counts.set(i.category, (counts.get(i.category) ?? 0) + 1);
    clear(this.cats);
    for (const c of this.categories) {
      const box = h("input", { type: "checkbox", "data-testid": `category-visible-${c.id}`, "aria-label": `Show ${c.name}`,
        onchange: () => this.store.dispatch((st) => setCategoryHidden(st, c.id, !box.checked)) });
      box.checked = !s.hidden.has(c.id);
      this.cats.append(h("li", {}, h("label", {}, box, h("span", { class: "swatch", style: `background:${c.color}` }), c.name, " ",
        h("span", { class: "muted" }, String(counts.get(c.id) ?? 0)))));
    }
  }
}
