import { describe, expect, it } from "vitest";
import {
  deleteModelShapes,
  deleteSelected,
  keysInBox,
  modelShapeKeys,
  moveSelected,
  selectAll,
  selectInBox,
  setCategoryHidden,
  setSelectedCategory,
  toggleLocked,
  toggleSelected,
} from "./selection";
import { createEditor, deleteInstance, isDirty, moveInstance, select, selectedKeys, undo, type EditorState } from "./store";
import type { Annotation, Shape } from "./types";

const sq = (x: number, y: number, s: number): Shape => [[[[x, y], [x + s, y], [x + s, y + s], [x, y + s]]]];
const annotations: Annotation[] = [
  { category: 1, shape: sq(0, 0, 10), source: "model", score: 0.9 },
  { category: 1, shape: sq(20, 0, 10), source: "model", score: 0.7 },
  { category: 2, shape: sq(40, 0, 10), source: "manual", score: null },
  { category: 2, shape: sq(60, 0, 10), source: "sam", score: 0.95 },
];

function fresh(): EditorState {
  return createEditor({ imageId: 1, width: 100, height: 100, version: 1, annotations, activeCategory: 1 });
}

describe("multi-selection", () => {
  it("Shift-click adds and removes; a plain click selects one again", () => {
    let s = toggleSelected(select(fresh(), "k1"), "k3");
    expect(selectedKeys(s)).toEqual(["k1", "k3"]);
    expect(s.selected).toBe("k3");
    s = toggleSelected(s, "k3");
    expect(selectedKeys(s)).toEqual(["k1"]);
    s = toggleSelected(toggleSelected(s, "k2"), "k4");
    expect(selectedKeys(s)).toHaveLength(3);
    expect(selectedKeys(select(s, "k2"))).toEqual(["k2"]);
  });

  it("a rubber band selects the shapes inside it; Shift adds to the selection", () => {
    const s = fresh();
    expect(keysInBox(s, [35, -5, -5, 15])).toEqual(["k1", "k2"]);
    expect(keysInBox(s, [5, -5, 35, 15])).toEqual(["k2"]); // k1 sticks out
    const a = selectInBox(s, [-5, -5, 35, 15]);
    expect(selectedKeys(a)).toEqual(["k1", "k2"]);
    expect(selectedKeys(selectInBox(a, [55, -5, 75, 15], true))).toEqual(["k1", "k2", "k4"]);
    expect(selectedKeys(selectInBox(a, [90, 90, 95, 95]))).toEqual([]);
  });

  it("a band and select-all skip locked and hidden shapes", () => {
    let s = toggleLocked(fresh(), ["k2"]);
    s = setCategoryHidden(s, 2, true);
    expect(keysInBox(s, [-5, -5, 95, 95])).toEqual(["k1"]);
    expect(selectedKeys(selectAll(s))).toEqual(["k1"]);
  });

  it("moves every selected shape in one undo step, not a locked one", () => {
    let s = selectInBox(fresh(), [-5, -5, 55, 15]);
    s = toggleLocked(s, ["k3"]);
    s = moveSelected(s, 5, 0, "drag");
    s = moveSelected(s, 5, 0, "drag");
    expect(s.instances[0].shape[0][0][0]).toEqual([10, 0]);
    expect(s.instances[1].shape[0][0][0]).toEqual([30, 0]);
    expect(s.instances[2].shape).toEqual(annotations[2].shape);
    expect(s.past).toHaveLength(1);
  });
});

describe("bulk actions", () => {
  it("deletes every selected shape but the locked ones, as one undo step", () => {
    let s = selectAll(fresh());
    s = toggleLocked(s, ["k4"]);
    const after = deleteSelected(s);
    expect(after.instances.map((i) => i.key)).toEqual(["k4"]);
    expect(after.past).toHaveLength(1);
    expect(isDirty(after)).toBe(true);
    expect(undo(after).instances).toHaveLength(4);
  });

  it("deletes the selected vertex when one shape with a vertex is selected", () => {
    const s = select(fresh(), "k1", { poly: 0, ring: 0, index: 0 });
    const after = deleteSelected(s);
    expect(after.instances).toHaveLength(4);
    expect(after.instances[0].shape[0][0]).toHaveLength(3);
  });

  it("re-classes every selected unlocked shape and makes it the active category", () => {
    let s = selectInBox(fresh(), [-5, -5, 55, 15]);
    s = toggleLocked(s, ["k1"]);
    const after = setSelectedCategory(s, 9);
    expect(after.instances.map((i) => i.category)).toEqual([1, 9, 9, 2]);
    expect(after.activeCategory).toBe(9);
    expect(after.past).toHaveLength(1);
  });

  it("deletes the unedited model shapes only, undoably; an edited pre-label is the annotator's", () => {
    let s = moveInstance(fresh(), "k2", 1, 0);
    expect(modelShapeKeys(s)).toEqual(["k1"]);
    s = deleteModelShapes(s);
    expect(s.instances.map((i) => i.source)).toEqual(["manual", "manual", "sam"]);
    expect(undo(s).instances).toHaveLength(4);
  });

  it("skips locked and hidden model shapes", () => {
    let s = toggleLocked(fresh(), ["k1"]);
    s = setCategoryHidden(setCategoryHidden(s, 1, true), 1, false);
    expect(deleteModelShapes(s).instances.map((i) => i.key)).toEqual(["k1", "k3", "k4"]);
    expect(deleteModelShapes(setCategoryHidden(fresh(), 1, true)).instances).toHaveLength(4);
  });
});

describe("locks and hiding", () => {
  it("a locked shape cannot be moved, edited or deleted; unlocking lets it be", () => {
    let s = toggleLocked(fresh(), ["k1"]);
    expect(moveInstance(s, "k1", 3, 3)).toBe(s);
    expect(deleteInstance(s, "k1")).toBe(s);
    s = toggleLocked(s, ["k1"]);
    expect(s.locked.size).toBe(0);
    expect(moveInstance(s, "k1", 3, 3).instances[0].shape[0][0][0]).toEqual([3, 3]);
  });

  it("locking a mixed set locks all; locks are not edits", () => {
    const s = toggleLocked(toggleLocked(fresh(), ["k1"]), ["k1", "k2"]);
    expect([...s.locked].sort()).toEqual(["k1", "k2"]);
    expect(isDirty(s)).toBe(false);
    expect(s.past).toHaveLength(0);
  });

  it("hiding a category takes its shapes out of the selection", () => {
    const s = setCategoryHidden(selectAll(fresh()), 2, true);
    expect(selectedKeys(s)).toEqual(["k1", "k2"]);
    expect(s.hidden.has(2)).toBe(true);
  });
});
