// The model's shapes beside the annotation set (issue 28): the confidence slider over pre-labels,
// and the suggestions the trust gate offers instead of pre-labels, as pure functions of state.
//
// Pre-label mode: the set holds the model's shapes scoring at least the gate's threshold. The slider
// takes the untouched ones (source "model") scoring below it out of the set, and sliding back puts
// them in again: one undoable edit each time, saved like any other.
// Suggestion mode: the set holds none of them. Suggestions scoring at least the slider, not rejected
// (on this visit or an earlier one: the server keeps rejections), not of a category hidden in the
// shapes panel and not already covered by a shape in the set, are drawn as ghost outlines; accepting one adds it
// to the set as a "model" shape with its score, so the acceptance metric and the gate see it came
// from the model unchanged.

import { shapeBBox, type BBox } from "./geometry";
import { addInstance, commit, type EditorState, type Instance } from "./store";
import type { GateMode, Shape, Suggestion } from "./types";

export interface SuggestionState {
  mode: GateMode;
  items: readonly Suggestion[];
  /** The slider: shapes scoring below it are hidden (0–1). */
  minScore: number;
  /** Prediction indices rejected, on this visit or earlier ones (the server keeps them). */
  rejected: ReadonlySet<number>;
  /** The suggestion the keys act on; null means the best visible one. */
  selected: number | null;
}

/** A suggestion whose box overlaps a shape in the set this much is already labelled. */
export const COVERED_IOU = 0.5;

export function createSuggestions(mode: GateMode, items: readonly Suggestion[], threshold: number | null, rejected: readonly number[] = []): SuggestionState {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  return { mode, items: sorted, minScore: threshold ?? 1, rejected: new Set(rejected), selected: null };
}

const NO_CATEGORY: ReadonlySet<number> = new Set();

export function boxIou(a: BBox, b: BBox): number {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

function covered(shape: Shape, instances: readonly Instance[]): boolean {
  const box = shapeBBox(shape);
  return instances.some((i) => boxIou(box, shapeBBox(i.shape)) >= COVERED_IOU);
}

/** The ghost outlines to draw, best first: suggestion mode only; none of a `hidden` category. */
export function visibleSuggestions(st: SuggestionState, instances: readonly Instance[], hidden: ReadonlySet<number> = NO_CATEGORY): Suggestion[] {
  if (st.mode !== "suggest") return [];
  return st.items.filter((s) => s.score >= st.minScore && !st.rejected.has(s.index) && !hidden.has(s.category) && !covered(s.shape, instances));
}

/** The suggestion the keys act on: the selected one if still visible, else the best visible one. */
export function currentSuggestion(st: SuggestionState, instances: readonly Instance[], hidden: ReadonlySet<number> = NO_CATEGORY): Suggestion | null {
  const visible = visibleSuggestions(st, instances, hidden);
  return visible.find((s) => s.index === st.selected) ?? visible[0] ?? null;
}

/** Select the next (+1) or previous (-1) visible suggestion, wrapping around. */
export function cycleSuggestion(st: SuggestionState, instances: readonly Instance[], step: 1 | -1, hidden: ReadonlySet<number> = NO_CATEGORY): SuggestionState {
  const visible = visibleSuggestions(st, instances, hidden);
  if (visible.length === 0) return { ...st, selected: null };
  const at = visible.findIndex((s) => s.index === currentSuggestion(st, instances, hidden)?.index);
  return { ...st, selected: visible[(at + step + visible.length) % visible.length].index };
}

export function setMinScore(st: SuggestionState, minScore: number): SuggestionState {
  return { ...st, minScore: Math.max(0, Math.min(1, minScore)) };
}

export function rejectSuggestion(st: SuggestionState, index: number): SuggestionState {
  return { ...st, rejected: new Set([...st.rejected, index]), selected: st.selected === index ? null : st.selected };
}

/** Add a suggestion to the set as the model drew it (source "model", its score) and select it. */
export function acceptSuggestion(s: EditorState, sug: Suggestion): EditorState {
  return addInstance(s, { category: sug.category, shape: sug.shape, source: "model", score: sug.score });
}

/** Add every visible suggestion to the set in one undoable edit. */
export function acceptAll(s: EditorState, visible: readonly Suggestion[]): EditorState {
  if (visible.length === 0) return s;
  const added = visible.map((sug, n) => ({ key: `k${s.nextKey + n}`, category: sug.category, shape: sug.shape, source: "model" as const, score: sug.score }));
  return { ...commit(s, [...s.instances, ...added]), nextKey: s.nextKey + added.length, selected: null, vertex: null };
}

// --- the slider over pre-labels in the set ---------------------------------------------------

/** An untouched model shape: what the slider may take out of the set. */
export function isPreLabel(i: Instance): boolean {
  return i.source === "model" && i.score !== null;
}

/**
 * Pre-labels scoring below `minScore` leave the set (kept in `parked`), those at or above it that were
 * parked come back. Returns the new editor state and the parked shapes.
 */
export function filterPreLabels(s: EditorState, parked: readonly Instance[], minScore: number): { state: EditorState; parked: Instance[] } {
  const inSet = new Set(s.instances.map((i) => i.key));
  const pool = [...s.instances, ...parked.filter((p) => !inSet.has(p.key))];
  const keep = (i: Instance) => !isPreLabel(i) || (i.score as number) >= minScore;
  const instances = pool.filter(keep);
  const nextParked = pool.filter((i) => !keep(i));
  const same = instances.length === s.instances.length && instances.every((i, n) => i === s.instances[n]);
  const state = same ? s : { ...commit(s, instances, "score-filter"), selected: null, vertex: null };
  return { state, parked: nextParked };
}
