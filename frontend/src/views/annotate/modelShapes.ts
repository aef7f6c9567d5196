// The annotate view's model shapes (issue 28): the confidence slider, and the suggestions the trust
// gate offers instead of pre-labels (ghost outlines on the canvas, a list here, keys to take them).
// The state is in ../../suggestions.ts; this part holds it for the view and draws the panel.
// A rejection is sent to the server, which keeps it for the next visit; the annotation set is untouched.
// Suggestions of a category hidden in the shapes panel are hidden too (no outline, no key acts on them).

import { api } from "../../api";
import { clear, errorMessage, h, toast } from "../../dom";
import { hitShapeIndex } from "../../geometry";
import type { OverlayGhost } from "../../render";
import type { EditorState, Instance, Store } from "../../store";
import {
  acceptAll,
  acceptSuggestion,
  createSuggestions,
  currentSuggestion,
  cycleSuggestion,
  filterPreLabels,
  rejectSuggestion,
  setMinScore,
  visibleSuggestions,
  type SuggestionState,
} from "../../suggestions";
import type { Category, ImageSuggestions, Point } from "../../types";

export class ModelShapes {
  private state: SuggestionState;
  /** Pre-labels the slider took out of the set, to put back when it slides down again. */
  private parked: Instance[] = [];
  private slider: HTMLInputElement;
  private value = h("output", { "data-testid": "score-value" });
  private list = h("ol", { class: "instances suggestions", "data-testid": "suggestion-list" });
  private note = h("p", { class: "muted small", "data-testid": "model-shapes-note" });
  readonly el: HTMLElement;

  constructor(
    private store: Store<EditorState>,
    private imageId: number,
    private categories: Map<number, Category>,
    data: ImageSuggestions | null,
    private requestDraw: () => void,
  ) {
    const mode = data?.mode ?? "prelabel";
    const threshold = mode === "prelabel" ? (data?.threshold ?? 0) : (data?.threshold ?? null);
    this.state = createSuggestions(mode, data?.instances ?? [], threshold, data?.rejected ?? []);
    this.slider = h("input", {
      type: "range", min: 0, max: 1, step: 0.01, value: String(this.state.minScore), "data-testid": "score-slider",
      "aria-label": "Hide the model's shapes scoring below", oninput: () => this.setMinScore(Number(this.slider.value)),
    });
    const shown = data?.model_version
      ? [h("h3", {}, mode === "suggest" ? "Suggestions" : "Pre-labels"), h("label", { class: "small slider" }, "Hide below ", this.slider, " ", this.value), this.note, this.list]
      : [];
    this.el = h("div", { class: "model-shapes", "data-testid": "model-shapes", "data-mode": mode }, shown);
  }

  get mode(): string {
    return this.state.mode;
  }

  /** The slider: hide the model's shapes scoring below `t` (pre-labels leave the set; sliding back returns them). */
  setMinScore(t: number): void {
    this.state = setMinScore(this.state, t);
    if (this.state.mode === "prelabel") {
      const r = filterPreLabels(this.store.state, this.parked, this.state.minScore);
      this.parked = r.parked;
      this.store.dispatch(() => r.state);
    }
    this.render(this.store.state);
    this.requestDraw();
  }

  /** Ghost outlines for the canvas. */
  ghosts(s: EditorState): OverlayGhost[] {
    const current = currentSuggestion(this.state, s.instances, s.hidden);
    return visibleSuggestions(this.state, s.instances, s.hidden).map((g) => ({ category: g.category, shape: g.shape, score: g.score, selected: g.index === current?.index }));
  }

  accept(): void {
    const sug = currentSuggestion(this.state, this.store.state.instances, this.store.state.hidden);
    if (sug) this.store.dispatch((s) => acceptSuggestion(s, sug));
  }

  acceptAll(): void {
    const visible = visibleSuggestions(this.state, this.store.state.instances, this.store.state.hidden);
    this.store.dispatch((s) => acceptAll(s, visible));
  }

  /** Reject the highlighted suggestion: hidden now, and remembered by the server for later visits. */
  reject(): void {
    const sug = currentSuggestion(this.state, this.store.state.instances, this.store.state.hidden);
    if (!sug) return;
    this.state = rejectSuggestion(this.state, sug.index);
    this.render(this.store.state);
    this.requestDraw();
    api.rejectSuggestion(this.imageId, sug.index).catch((e) =>
      toast(`The rejection is kept on this visit only: ${errorMessage(e)}`, "error"));
  }

  cycle(step: 1 | -1): void {
    this.state = cycleSuggestion(this.state, this.store.state.instances, step, this.store.state.hidden);
    this.render(this.store.state);
    this.requestDraw();
  }

  /** A click on the canvas: highlight the suggestion under it, if any. */
  highlightAt(p: Point): void {
    const visible = visibleSuggestions(this.state, this.store.state.instances, this.store.state.hidden);
    const idx = hitShapeIndex(visible.map((g) => g.shape), p);
    if (idx >= 0) this.highlight(visible[idx].index);
  }

  /** Highlight one suggestion (a click in the list or on its outline); the keys act on it. */
  highlight(index: number): void {
    this.state = { ...this.state, selected: index };
    this.render(this.store.state);
    this.requestDraw();
  }

  render(s: EditorState): void {
    this.value.textContent = this.state.minScore.toFixed(2);
    if (this.slider.value !== String(this.state.minScore)) this.slider.value = String(this.state.minScore);
    clear(this.list);
    if (this.state.mode !== "suggest") {
      const hidden = this.parked.length;
      this.note.textContent = hidden ? `${hidden} pre-label(s) below ${this.state.minScore.toFixed(2)} left the set; slide down to bring them back.` : "";
      return;
    }
    const visible = visibleSuggestions(this.state, s.instances, s.hidden);
    const current = currentSuggestion(this.state, s.instances, s.hidden);
    this.note.textContent = visible.length
      ? "A accepts the highlighted one, Shift+A all shown, X rejects; , and . move between them."
      : "No suggestion left at this score.";
    for (const g of visible) {
      const c = this.categories.get(g.category);
      this.list.append(h("li", { class: g.index === current?.index ? "selected" : "", "data-index": g.index, "data-score": g.score, title: "Click to highlight; A accepts it", onclick: () => this.highlight(g.index) },
        h("span", { class: "swatch", style: `background:${c?.color ?? "#f0f"}` }), c?.name ?? `#${g.category}`, " ", h("span", { class: "muted" }, g.score.toFixed(2))));
    }
  }
}
