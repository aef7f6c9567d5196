import { describe, expect, it } from "vitest";
import { createEditor, deleteInstance, isDirty, toAnnotationInputs, undo } from "./store";
import {
  acceptAll,
  acceptSuggestion,
  boxIou,
  createSuggestions,
  currentSuggestion,
  cycleSuggestion,
  filterPreLabels,
  rejectSuggestion,
  setMinScore,
  visibleSuggestions,
} from "./suggestions";
import type { Annotation, Shape, Suggestion } from "./types";

const sq = (x: number, y: number, s: number): Shape => [[[[x, y], [x + s, y], [x + s, y + s], [x, y + s]]]];
const sug = (index: number, x: number, score: number): Suggestion => ({ index, category: 1, shape: sq(x, 10, 20), score });

const editor = (annotations: Annotation[] = []) =>
  createEditor({ imageId: 1, width: 200, height: 100, version: 3, annotations, activeCategory: 1 });

describe("suggestions", () => {
  const items = [sug(0, 10, 0.4), sug(1, 60, 0.9), sug(2, 110, 0.7)];

  it("shows, best first, the suggestions at or above the slider that no shape covers", () => {
    const st = createSuggestions("suggest", items, 0.5);
    const s = editor([{ category: 2, shape: sq(112, 12, 20), source: "manual", score: null }]);
    expect(visibleSuggestions(st, s.instances).map((x) => x.index)).toEqual([1]); // 2 is covered, 0 too low
    expect(visibleSuggestions(setMinScore(st, 0.3), editor().instances).map((x) => x.index)).toEqual([1, 2, 0]);
    expect(visibleSuggestions(createSuggestions("prelabel", items, 0.5), editor().instances)).toEqual([]);
    expect(createSuggestions("suggest", items, null).minScore).toBe(1); // the gate saw none worth showing
  });

  it("accepts one as the model drew it, marked as the model's, and saves it like an edit", () => {
    const st = createSuggestions("suggest", items, 0.5);
    let s = editor();
    const best = currentSuggestion(st, s.instances)!;
    expect(best.index).toBe(1);
    s = acceptSuggestion(s, best);
    expect(isDirty(s)).toBe(true);
    expect(toAnnotationInputs(s.instances)).toEqual([{ category: 1, shape: best.shape, source: "model", score: 0.9 }]);
    expect(visibleSuggestions(st, s.instances).map((x) => x.index)).toEqual([2]); // now covered by the set
    expect(undo(s).instances).toEqual([]);
  });

  it("accepts all visible in one undoable edit, and rejected ones stay out", () => {
    let st = createSuggestions("suggest", items, 0.3);
    st = rejectSuggestion(st, 2);
    let s = editor();
    s = acceptAll(s, visibleSuggestions(st, s.instances));
    expect(s.instances.map((i) => i.score)).toEqual([0.9, 0.4]);
    expect(new Set(s.instances.map((i) => i.key)).size).toBe(2);
    expect(undo(s).instances).toEqual([]);
  });

  it("starts with the rejections the server remembers from earlier visits", () => {
    const st = createSuggestions("suggest", items, 0.3, [1]);
    const none = editor().instances;
    expect(visibleSuggestions(st, none).map((x) => x.index)).toEqual([2, 0]);
    expect(currentSuggestion(st, none)?.index).toBe(2);
    expect(visibleSuggestions(rejectSuggestion(st, 2), none).map((x) => x.index)).toEqual([0]);
  });

  it("hides the suggestions of a hidden category: no outline, and no key takes or selects them", () => {
    const mixed = [sug(0, 10, 0.4), { ...sug(1, 60, 0.9), category: 2 }, sug(2, 110, 0.7)];
    const st = createSuggestions("suggest", mixed, 0.3);
    const none = editor().instances;
    const hidden = new Set([2]);
    expect(visibleSuggestions(st, none, hidden).map((x) => x.index)).toEqual([2, 0]);
    expect(currentSuggestion(st, none, hidden)?.index).toBe(2); // the best (category 2) is hidden
    expect(currentSuggestion({ ...st, selected: 1 }, none, hidden)?.index).toBe(2);
    expect(cycleSuggestion(st, none, 1, hidden).selected).toBe(0);
    expect(acceptAll(editor(), visibleSuggestions(st, none, hidden)).instances.map((i) => i.score)).toEqual([0.7, 0.4]);
    expect(visibleSuggestions(st, none, new Set()).map((x) => x.index)).toEqual([1, 2, 0]); // shown again
  });

  it("cycles the selection through the visible suggestions", () => {
    const st = createSuggestions("suggest", items, 0.3);
    const none = editor().instances;
    const next = cycleSuggestion(st, none, 1);
    expect(currentSuggestion(next, none)!.index).toBe(2);
    expect(currentSuggestion(cycleSuggestion(next, none, 1), none)!.index).toBe(0);
    expect(currentSuggestion(cycleSuggestion(st, none, -1), none)!.index).toBe(0);
  });

  it("measures box IoU", () => {
    expect(boxIou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(boxIou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(1 / 3);
    expect(boxIou([0, 0, 10, 10], [20, 20, 30, 30])).toBe(0);
  });
});

describe("the slider over pre-labels", () => {
  const set: Annotation[] = [
    { category: 1, shape: sq(10, 10, 20), source: "model", score: 0.9 },
    { category: 1, shape: sq(60, 10, 20), source: "model", score: 0.45 },
    { category: 1, shape: sq(110, 10, 20), source: "manual", score: null },
  ];

  it("takes low-scoring pre-labels out of the set and puts them back, never a person's shapes", () => {
    const s0 = editor(set);
    const up = filterPreLabels(s0, [], 0.6);
    expect(up.state.instances.map((i) => i.source)).toEqual(["model", "manual"]);
    expect(up.parked.map((i) => i.score)).toEqual([0.45]);
    expect(isDirty(up.state)).toBe(true);
    const down = filterPreLabels(up.state, up.parked, 0.2);
    expect(down.state.instances.map((i) => i.score).sort()).toEqual([0.45, 0.9, null].sort());
    expect(down.parked).toEqual([]);
    const all = filterPreLabels(s0, [], 1);
    expect(all.state.instances.map((i) => i.source)).toEqual(["manual"]);
  });

  it("changes nothing when no pre-label crosses the slider, and survives undo", () => {
    const s0 = editor(set);
    expect(filterPreLabels(s0, [], 0.3).state).toBe(s0);
    const up = filterPreLabels(s0, [], 0.6);
    const back = undo(up.state); // the pre-label is in the set again, and still parked
    const again = filterPreLabels(back, up.parked, 0.6);
    expect(again.state.instances.length).toBe(2);
    expect(again.parked.length).toBe(1);
    const deleted = deleteInstance(s0, s0.instances[1].key);
    expect(filterPreLabels(deleted, [], 0.2).state.instances.length).toBe(2); // a deleted one stays deleted
  });
});
