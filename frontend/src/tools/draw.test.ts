import { describe, expect, it } from "vitest";
import { shapeArea } from "../geometry";
import { samArm } from "../samSession";
import { createEditor, isDirty, select, undo, type EditorState } from "../store";
import type { Shape } from "../types";
import { applyStroke, resizeBrush } from "./brush";
import { addRectangle, draftAdd, draftCancel, draftClose, draftUndo, rectangleShape, setTool } from "./draw";

const sq = (x: number, y: number, s: number): Shape => [[[[x, y], [x + s, y], [x + s, y + s], [x, y + s]]]];

function fresh(): EditorState {
  return createEditor({
    imageId: 1, width: 200, height: 100, version: 1, activeCategory: 7,
    annotations: [{ category: 3, shape: sq(10, 10, 20), source: "model", score: 0.8 }],
  });
}

describe("polygon tool", () => {
  it("clicks vertices and closes on the first one: one manual instance of the active category, one undo step", () => {
    let s = setTool(fresh(), "polygon");
    s = draftAdd(s, [50, 20], 5);
    s = draftAdd(s, [90, 20], 5);
    s = draftAdd(s, [90, 60], 5);
    expect(s.draft).toHaveLength(3);
    expect(s.instances).toHaveLength(1);
    s = draftAdd(s, [52, 22], 5); // on the first vertex: closes
    expect(s.draft).toHaveLength(0);
    expect(s.instances).toHaveLength(2);
    const made = s.instances[1];
    expect(made).toMatchObject({ category: 7, source: "manual", score: null });
    expect(made.shape).toEqual([[[[50, 20], [90, 20], [90, 60]]]]);
    expect(s.selected).toBe(made.key);
    expect(isDirty(s)).toBe(true);
    expect(undo(s).instances).toHaveLength(1);
  });

  it("Enter closes, Backspace takes a vertex back, Escape drops the polygon; clicks are clamped to the image", () => {
    let s = setTool(fresh(), "polygon");
    for (const p of [[120, 10], [180, 10], [250, 90], [120, 90]] as [number, number][]) s = draftAdd(s, p, 5);
    expect(s.draft[2]).toEqual([200, 90]);
    s = draftUndo(s);
    expect(s.draft).toHaveLength(3);
    const closed = draftClose(s);
    expect(closed.instances).toHaveLength(2);
    expect(closed.instances[1].shape[0][0]).toHaveLength(3);
    expect(draftCancel(s).draft).toHaveLength(0);
    expect(draftCancel(s).instances).toHaveLength(1);
  });

  it("a double click adds no second vertex; fewer than three vertices make no shape", () => {
    let s = setTool(fresh(), "polygon");
    s = draftAdd(s, [50, 50], 5);
    s = draftAdd(s, [50.2, 50.1], 5);
    expect(s.draft).toHaveLength(1);
    s = draftAdd(s, [80, 50], 5);
    const closed = draftClose(s);
    expect(closed.instances).toHaveLength(1);
    expect(closed.draft).toHaveLength(0);
  });

  it("switching tools drops the polygon in progress and disarms SAM", () => {
    let s = samArm(fresh(), true);
    s = setTool(s, "polygon");
    expect(s.sam.armed).toBe(false);
    s = draftAdd(s, [1, 1], 5);
    s = setTool(s, "rectangle");
    expect(s.tool).toBe("rectangle");
    expect(s.draft).toHaveLength(0);
  });
});

describe("rectangle tool", () => {
  it("drags from any corner, clamped to the image; a tiny drag makes nothing", () => {
    expect(rectangleShape([80, 60], [20, 30], 200, 100)).toEqual([[[[20, 30], [80, 30], [80, 60], [20, 60]]]]);
    expect(rectangleShape([150, 50], [400, 300], 200, 100)).toEqual([[[[150, 50], [200, 50], [200, 100], [150, 100]]]]);
    expect(rectangleShape([10, 10], [10.5, 40], 200, 100)).toBeNull();
    const s = addRectangle(fresh(), [100, 20], [140, 60]);
    expect(s.instances).toHaveLength(2);
    expect(shapeArea(s.instances[1].shape)).toBe(1600);
    expect(s.instances[1]).toMatchObject({ category: 7, source: "manual" });
  });
});

describe("brush and eraser on the editor", () => {
  it("the brush grows the selected shape (a pre-label becomes manual), the eraser shrinks it; each stroke is one undo step", () => {
    let s = select(fresh(), "k1");
    const before = shapeArea(s.instances[0].shape);
    s = { ...s, brush: 5 };
    s = applyStroke(s, [[30, 20], [45, 20]], false);
    const grown = shapeArea(s.instances[0].shape);
    expect(grown).toBeGreaterThan(before + 50);
    expect(s.instances[0].source).toBe("manual");
    expect(s.past).toHaveLength(1);
    s = applyStroke(s, [[10, 10]], true);
    expect(shapeArea(s.instances[0].shape)).toBeLessThan(grown);
    expect(s.past).toHaveLength(2);
    expect(undo(undo(s)).instances[0].shape).toEqual(sq(10, 10, 20));
  });

  it("with nothing selected the brush paints a new shape and the eraser does nothing; erasing it all deletes it", () => {
    const s = { ...fresh(), brush: 6 };
    const painted = applyStroke(s, [[100, 50], [130, 50]], false);
    expect(painted.instances).toHaveLength(2);
    expect(painted.instances[1]).toMatchObject({ category: 7, source: "manual" });
    expect(applyStroke(s, [[20, 20]], true)).toBe(s);
    const gone = applyStroke({ ...select(s, "k1"), brush: 40 }, [[20, 20]], true);
    expect(gone.instances).toHaveLength(0);
    expect(gone.selected).toBeNull();
  });

  it("a locked shape is not painted", () => {
    const s = { ...select(fresh(), "k1"), locked: new Set(["k1"]) };
    expect(applyStroke(s, [[30, 20]], false)).toBe(s);
  });

  it("[ and ] resize the brush within its limits", () => {
    let s = fresh();
    const start = s.brush;
    s = resizeBrush(s, 1);
    expect(s.brush).toBeGreaterThan(start);
    for (let i = 0; i < 40; i++) s = resizeBrush(s, -1);
    expect(s.brush).toBe(1);
  });
});
