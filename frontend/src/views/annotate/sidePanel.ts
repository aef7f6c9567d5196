// The annotate view's side panel: the SAM status line, the instance list (click selects,
// Shift-click adds or removes, the lock button locks) and a one-line summary, redrawn from the
// editor state.

import { clear, h } from "../../dom";
import { vertexCount } from "../../geometry";
import type { SamState } from "../../samSession";
import { selectedKeys, type EditorState } from "../../store";
import type { Category } from "../../types";

/** What the SAM status line says: empty while SAM is off. */
export function samStatusText(sam: SamState): string {
  if (!sam.armed) return "";
  const target = sam.target !== null ? " (refining the selected shape)" : "";
  return sam.message ??
    (sam.preview
      ? `Preview ready${sam.previewScore !== null ? `, score ${sam.previewScore.toFixed(2)}` : ""}${sam.engine ? ` · ${sam.engine}` : ""}. Enter accepts, Esc cancels.`
      : `SAM armed${target}: click the object (right/Shift-click excludes, drag draws a box).`);
}

export class SidePanel {
  readonly samStatus = h("div", { class: "sam-status", "data-testid": "sam-status" });
  private list = h("ol", { class: "instances", "data-testid": "instance-list" });
  private info = h("div", { class: "muted small" });
  readonly el = h("aside", { class: "side" }, this.samStatus, h("h3", {}, "Instances"), this.list, this.info);

  constructor(
    private categories: Map<number, Category>,
    private onPick: (key: string, e: MouseEvent) => void,
    private onLock: (key: string) => void = () => {},
  ) {}

  render(s: EditorState, prev: EditorState | null): void {
    this.samStatus.textContent = samStatusText(s.sam);
    if (prev && prev.instances === s.instances && prev.selected === s.selected && prev.version === s.version &&
        prev.group === s.group && prev.locked === s.locked && prev.hidden === s.hidden) return;
    clear(this.list);
    const chosen = new Set(selectedKeys(s));
    s.instances.forEach((inst) => {
      const c = this.categories.get(inst.category);
      const locked = s.locked.has(inst.key);
      const cls = [inst.key === s.selected ? "selected" : chosen.has(inst.key) ? "selected also" : "", s.hidden.has(inst.category) ? "hidden" : ""].join(" ").trim();
      const lock = h("button", { type: "button", class: `lock${locked ? " on" : ""}`, "data-testid": "lock", "aria-pressed": String(locked),
        title: locked ? "Locked: click to unlock" : "Lock: no picking, moving, editing or deleting", onclick: (e: Event) => { e.stopPropagation(); this.onLock(inst.key); } },
        locked ? "locked" : "lock");
      this.list.append(h("li", { class: cls, "data-key": inst.key, "data-source": inst.source, "data-locked": String(locked),
        onclick: (e: Event) => this.onPick(inst.key, e as MouseEvent) },
        h("span", { class: "swatch", style: `background:${c?.color ?? "#f0f"}` }),
        c?.name ?? `#${inst.category}`, " ",
        h("span", { class: "muted" }, inst.source, inst.score !== null ? ` ${inst.score.toFixed(2)}` : ""), lock));
    });
    this.list.querySelector("li.selected")?.scrollIntoView({ block: "nearest" });
    this.info.textContent = `${s.instances.length} instances · ${s.instances.reduce((n, i) => n + vertexCount(i.shape), 0)} vertices · version ${s.version}`;
  }
}
