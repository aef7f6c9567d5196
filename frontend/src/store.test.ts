import { describe, expect, it } from "vitest";
import {
  addInstance,
  adoptVersion,
  canRedo,
  canUndo,
  createEditor,
  cycleSelection,
  cycleVertex,
  deleteInstance,
  deleteSelection,
  deleteVertex,
  dragVertex,
  insertVertex,
  isDirty,
  loadServerSet,
  markSaved,
  moveInstance,
  redo,
  select,
  setCategory,
  Store,
  toAnnotationInputs,
  undo,
  UNDO_LIMIT,
  type EditorState,
} from "./store";
import type { Annotation, Shape } from "./types";

const sq = (x: number, y: number, s: number): Shape => [[[[x, y], [x + s, y], [x + s, y + s], [x, y + s]]]];
const annotations: Annotation[] = [
  { id: 1, category: 10, shape: sq(0, 0, 10), source: "model", score: 0.9 },
  { id: 2, category: 11, shape: sq(50, 50, 20), source: "manual", score: null },
];

function fresh(): EditorState {
  return createEditor({ imageId: 7, width: 100, height: 100, version: 3, annotations, activeCategory: 10 });
}

describe("editor state", () => {
  it("starts clean with stable keys", () => {
    const s = fresh();
    expect(s.instances.map((i) => i.key)).toEqual(["k1", "k2"]);
    expect(isDirty(s)).toBe(false);
    expect(canUndo(s)).toBe(false);
  });

  it("moves an instance; a model pre-label becomes manual", () => {
    const s = moveInstance(fresh(), "k1", 5, 5);
    expect(s.instances[0].shape[0][0][0]).toEqual([5, 5]);
    expect(s.instances[0].source).toBe("manual");
    expect(s.instances[0].score).toBeNull();
    expect(isDirty(s)).toBe(true);
  });

  it("a drag is one undo step", () => {
    let s = fresh();
    for (let i = 0; i < 20; i++) s = moveInstance(s, "k2", 1, 0, "g1");
    expect(s.past).toHaveLength(1);
    expect(s.instances[1].shape[0][0][0]).toEqual([70, 50]);
    s = moveInstance(s, "k2", 1, 0, "g2");
    expect(s.past).toHaveLength(2);
    s = undo(undo(s));
    expect(s.instances[1].shape[0][0][0]).toEqual([50, 50]);
  });

  it("drags, inserts and deletes vertices, clamped to the image", () => {
    let s = dragVertex(fresh(), "k2", { poly: 0, ring: 0, index: 0 }, [-20, 45], "v");
    expect(s.instances[1].shape[0][0][0]).toEqual([0, 45]);
    expect(s.selected).toBe("k2");
    s = insertVertex(s, "k2", { poly: 0, ring: 0, index: 0 }, [60, 48]);
    expect(s.instances[1].shape[0][0]).toHaveLength(5);
    expect(s.vertex).toEqual({ poly: 0, ring: 0, index: 1 });
    s = deleteSelection(s); // the selected vertex
    expect(s.instances[1].shape[0][0]).toHaveLength(4);
    expect(s.past).toHaveLength(3);
  });

  it("deleting the last vertices removes the instance", () => {
    let s = fresh();
    s = deleteVertex(s, "k1", { poly: 0, ring: 0, index: 0 });
    expect(s.instances).toHaveLength(2);
    s = deleteVertex(select(s, "k1"), "k1", { poly: 0, ring: 0, index: 0 });
    expect(s.instances.map((i) => i.key)).toEqual(["k2"]);
    expect(s.selected).toBeNull();
  });

  it("deletes an instance and changes category", () => {
    let s = select(fresh(), "k1");
    s = deleteSelection(s);
    expect(s.instances.map((i) => i.key)).toEqual(["k2"]);
    expect(s.selected).toBeNull();
    s = setCategory(s, "k2", 12);
    expect(s.instances[0].category).toBe(12);
    expect(s.activeCategory).toBe(12);
    s = deleteInstance(s, "nope");
    expect(s.instances).toHaveLength(1);
  });

  it("undo and redo cover every edit and restore the saved state", () => {
    const s0 = fresh();
    const edits = [
      (s: EditorState) => moveInstance(s, "k1", 1, 1),
      (s: EditorState) => dragVertex(s, "k2", { poly: 0, ring: 0, index: 2 }, [80, 80]),
      (s: EditorState) => insertVertex(s, "k2", { poly: 0, ring: 0, index: 0 }, [60, 50]),
      (s: EditorState) => deleteVertex(s, "k2", { poly: 0, ring: 0, index: 1 }),
      (s: EditorState) => setCategory(s, "k1", 11),
      (s: EditorState) => addInstance(s, { category: 10, shape: sq(30, 30, 5), source: "sam", score: 0.8 }),
      (s: EditorState) => deleteInstance(s, "k2"),
    ];
    const states = [s0];
    for (const e of edits) states.push(e(states[states.length - 1]));
    let s = states[states.length - 1];
    for (let i = states.length - 2; i >= 0; i--) {
      s = undo(s);
      expect(s.instances).toBe(states[i].instances);
    }
    expect(isDirty(s)).toBe(false);
    expect(canUndo(s)).toBe(false);
    expect(undo(s)).toBe(s);
    for (let i = 1; i < states.length; i++) {
      s = redo(s);
      expect(s.instances).toBe(states[i].instances);
    }
    expect(canRedo(s)).toBe(false);
  });

  it("a new edit clears the redo stack; undo drops a stale selection", () => {
    let s = addInstance(fresh(), { category: 10, shape: sq(30, 30, 5), source: "sam", score: 0.8 });
    expect(s.selected).toBe("k3");
    s = undo(s);
    expect(s.selected).toBeNull();
    expect(canRedo(s)).toBe(true);
    s = moveInstance(s, "k1", 1, 0);
    expect(canRedo(s)).toBe(false);
  });

  it("caps the undo stack", () => {
    let s = fresh();
    for (let i = 0; i < UNDO_LIMIT + 20; i++) s = moveInstance(s, "k2", 0.01, 0);
    expect(s.past).toHaveLength(UNDO_LIMIT);
  });

  it("cycles selection and vertices", () => {
    let s = cycleSelection(fresh(), 1);
    expect(s.selected).toBe("k1");
    s = cycleSelection(s, -1);
    expect(s.selected).toBe("k2");
    s = cycleVertex(s, -1);
    expect(s.vertex).toEqual({ poly: 0, ring: 0, index: 3 });
    s = cycleVertex(s, 1);
    expect(s.vertex).toEqual({ poly: 0, ring: 0, index: 0 });
  });
});

describe("saving and conflicts", () => {
  it("markSaved keeps edits made while the request was in flight dirty", () => {
    const s1 = moveInstance(fresh(), "k1", 1, 0);
    const sent = s1.instances;
    const s2 = moveInstance(s1, "k1", 1, 0);
    const saved = markSaved(s2, 4, sent);
    expect(saved.version).toBe(4);
    expect(isDirty(saved)).toBe(true);
    expect(isDirty(markSaved(s1, 4, sent))).toBe(false);
    // undoing back to what the server has is clean again
    expect(isDirty(undo(saved))).toBe(false);
  });

  it("reload keeps local edits one undo away", () => {
    const local = moveInstance(fresh(), "k1", 5, 0);
    const server: Annotation[] = [{ category: 11, shape: sq(1, 1, 3), source: "manual", score: null }];
    const s = loadServerSet(local, 9, server);
    expect(s.version).toBe(9);
    expect(isDirty(s)).toBe(false);
    expect(s.instances).toHaveLength(1);
    expect(s.instances[0].key).not.toBe("k1");
    const back = undo(s);
    expect(back.instances).toBe(local.instances);
    expect(isDirty(back)).toBe(true);
  });

  it("overwrite aims at the current version and stays dirty", () => {
    const s = adoptVersion(moveInstance(fresh(), "k1", 5, 0), 12);
    expect(s.version).toBe(12);
    expect(isDirty(s)).toBe(true);
    expect(isDirty(adoptVersion(fresh(), 12))).toBe(true);
  });

  it("serialises instances for the PUT body", () => {
    expect(toAnnotationInputs(fresh().instances)[0]).toEqual({ category: 10, shape: sq(0, 0, 10), source: "model", score: 0.9 });
  });
});

describe("Store", () => {
  it("notifies on change only", () => {
    const store = new Store(fresh());
    const seen: number[] = [];
    store.subscribe((s) => seen.push(s.instances.length));
    store.dispatch((s) => s);
    store.dispatch((s) => deleteInstance(s, "k1"));
    expect(seen).toEqual([1]);
  });
});
