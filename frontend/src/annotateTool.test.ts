import { describe, expect, it } from "vitest";
import { createAnnotateTool, createToolUi, pickAt } from "./annotateTool";
import { toggleLocked } from "./selection";
import { createEditor, selectedKeys, Store, type EditorState } from "./store";
import { setTool } from "./tools/draw";
import type { Point, Shape } from "./types";
import { loadDisplay } from "./views/annotate/shapesPanel";

const sq = (x: number, y: number, s: number): Shape => [[[[x, y], [x + s, y], [x + s, y + s], [x, y + s]]]];

function setup() {
  const store = new Store<EditorState>(createEditor({
    imageId: 1, width: 400, height: 300, version: 1, activeCategory: 1,
    annotations: [
      { category: 1, shape: sq(10, 10, 50), source: "model", score: 0.9 },
      { category: 2, shape: sq(100, 10, 50), source: "manual", score: null },
      { category: 1, shape: sq(30, 30, 50), source: "manual", score: null }, // on top of the first
    ],
  }));
  const ui = createToolUi();
  const tool = createAnnotateTool({ store, ui, requestDraw: () => {}, px: (n) => n, onSamPrompt: () => {} });
  // A pointer event with the screen position equal to the image position (px is the identity).
  const ev = (p: Point, more: Partial<PointerEvent> = {}) => ({ button: 0, shiftKey: false, altKey: false, clientX: p[0], clientY: p[1], ...more }) as PointerEvent;
  const drag = (a: Point, b: Point, more: Partial<PointerEvent> = {}) => {
    const owned = tool.down(ev(a, more), a);
    tool.move?.(ev(b, more), b);
    tool.up?.(ev(b, more), b);
    return owned;
  };
  return { store, ui, drag, tool, ev };
}

describe("pickAt", () => {
  it("takes the topmost shape, passing over locked and hidden ones", () => {
    const { store } = setup();
    expect(pickAt(store.state, [40, 40])?.key).toBe("k3");
    const locked = toggleLocked(store.state, ["k3"]);
    expect(pickAt(locked, [40, 40])?.key).toBe("k1");
    expect(pickAt({ ...locked, hidden: new Set([1]) }, [40, 40])).toBeNull();
  });
});

describe("select tool gestures", () => {
  it("dragging an unselected shape selects it and does not move it; dragging it again moves it", () => {
    const { store, drag } = setup();
    const before = store.state.instances[1].shape;
    expect(drag([120, 30], [160, 60])).toBe(true);
    expect(store.state.instances[1].shape).toBe(before);
    expect(store.state.selected).toBe("k2");
    drag([120, 30], [160, 60]);
    expect(store.state.instances[1].shape[0][0][0]).toEqual([140, 40]);
  });

  it("Shift-click adds to the selection; a band on empty canvas selects what it encloses; a drag moves them all", () => {
    const { store, drag, ui } = setup();
    drag([120, 30], [120, 30]);
    drag([15, 15], [15, 15], { shiftKey: true });
    expect(selectedKeys(store.state).sort()).toEqual(["k1", "k2"]);
    drag([90, 90], [5, 5]);
    expect(ui.rubberBand).toBeNull();
    expect(selectedKeys(store.state).sort()).toEqual(["k1", "k3"]);
    drag([40, 40], [50, 45]);
    expect(store.state.instances[0].shape[0][0][0]).toEqual([20, 15]);
    expect(store.state.instances[2].shape[0][0][0]).toEqual([40, 35]);
    expect(store.state.instances[1].shape).toEqual(sq(100, 10, 50));
  });
});

describe("drawing tools", () => {
  it("the polygon tool adds vertices and closes on the first; the rectangle tool drags one", () => {
    const { store, tool, ev, drag } = setup();
    store.dispatch((s) => setTool(s, "polygon"));
    for (const p of [[200, 100], [300, 100], [300, 200], [201, 101]] as Point[]) {
      tool.down(ev(p), p);
      tool.up?.(ev(p), p);
    }
    expect(store.state.instances).toHaveLength(4);
    expect(store.state.instances[3].shape).toEqual([[[[200, 100], [300, 100], [300, 200]]]]);
    store.dispatch((s) => setTool(s, "rectangle"));
    drag([200, 220], [260, 280]);
    expect(store.state.instances[4].shape).toEqual(sq(200, 220, 60));
  });

  it("a brush stroke on the selected shape is one edit", () => {
    const { store, drag } = setup();
    drag([120, 30], [120, 30]);
    store.dispatch((s) => ({ ...setTool(s, "brush"), brush: 5 }));
    const past = store.state.past.length;
    drag([150, 30], [180, 30]);
    expect(store.state.past.length).toBe(past + 1);
    expect(store.state.instances[1].shape[0][0].some(([x]) => x > 170)).toBe(true);
  });
});

describe("display settings", () => {
  it("reads the label mode and opacity kept in this browser, with defaults for anything else", () => {
    const store = (v: string | null) => ({ getItem: () => v });
    expect(loadDisplay(store(JSON.stringify({ labels: "hover", opacity: 0.5 })))).toEqual({ labels: "hover", opacity: 0.5 });
    expect(loadDisplay(store(JSON.stringify({ labels: "loud", opacity: 7 })))).toEqual({ labels: "always", opacity: 0.28 });
    expect(loadDisplay(store("not json"))).toEqual({ labels: "always", opacity: 0.28 });
    expect(loadDisplay(store(null))).toEqual({ labels: "always", opacity: 0.28 });
  });
});
