// The annotate view's side panel: the SAM status line, the instance list (click selects)
// and a one-line summary, redrawn from the editor state.

import { clear, h } from "../../dom";
import { vertexCount } from "../../geometry";
import type { SamState } from "../../samSession";
import type { EditorState } from "../../store";
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
    private onPick: (key: string) => void,
  ) {}

  render(s: EditorState, prev: EditorState | null): void {
    this.samStatus.textContent = samStatusText(s.sam);
    if (prev && prev.instances === s.instances && prev.selected === s.selected && prev.version === s.version) return;
    clear(this.list);
    s.instances.forEach((inst) => {
      const c = this.categories.get(inst.category);
      this.list.append(h("li", { class: inst.key === s.selected ? "selected" : "", "data-key": inst.key, "data-source": inst.source,
        onclick: () => this.onPick(inst.key) },
        h("span", { class: "swatch", style: `background:${c?.color ?? "#f0f"}` }),
        c?.name ?? `#${inst.category}`, " ",
        h("span", { class: "muted" }, inst.source, inst.score !== null ? ` ${inst.score.toFixed(2)}` : "")));
    });
    this.list.querySelector("li.selected")?.scrollIntoView({ block: "nearest" });
    this.info.textContent = `${s.instances.length} instances · ${s.instances.reduce((n, i) => n + vertexCount(i.shape), 0)} vertices · version ${s.version}`;
  }
}
