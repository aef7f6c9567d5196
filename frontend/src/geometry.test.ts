import { describe, expect, it } from "vitest";
import {
  deleteVertex,
  hitShapeIndex,
  insertVertex,
  moveVertex,
  nearestEdge,
  nearestVertex,
  pointInRing,
  pointInShape,
  shapeArea,
  shapeBBox,
  translateShape,
} from "./geometry";
import type { Shape } from "./types";

const square = (x: number, y: number, s: number) => [[x, y], [x + s, y], [x + s, y + s], [x, y + s]] as [number, number][];
// A 100×100 square with a 20×20 hole in the middle, plus a separate 10×10 square.
const donut: Shape = [[square(0, 0, 100), square(40, 40, 20)], [square(200, 0, 10)]];

describe("point in polygon", () => {
  it("tests a single ring", () => {
    expect(pointInRing(5, 5, square(0, 0, 10))).toBe(true);
    expect(pointInRing(15, 5, square(0, 0, 10))).toBe(false);
  });

  it("treats holes as outside (even-odd)", () => {
    expect(pointInShape(10, 10, donut)).toBe(true);
    expect(pointInShape(50, 50, donut)).toBe(false);
    expect(pointInShape(205, 5, donut)).toBe(true);
    expect(pointInShape(150, 5, donut)).toBe(false);
  });

  it("handles a concave ring", () => {
    const L: Shape = [[[[0, 0], [10, 0], [10, 2], [2, 2], [2, 10], [0, 10]]]];
    expect(pointInShape(1, 9, L)).toBe(true);
    expect(pointInShape(5, 5, L)).toBe(false);
  });

  it("returns the topmost hit", () => {
    const a: Shape = [[square(0, 0, 50)]];
    const b: Shape = [[square(25, 25, 50)]];
    expect(hitShapeIndex([a, b], [30, 30])).toBe(1);
    expect(hitShapeIndex([a, b], [10, 10])).toBe(0);
    expect(hitShapeIndex([a, b], [90, 90])).toBe(-1);
    expect(hitShapeIndex([donut], [50, 50])).toBe(-1);
  });
});

describe("measures", () => {
  it("computes bbox and area minus holes", () => {
    expect(shapeBBox(donut)).toEqual([0, 0, 210, 100]);
    expect(shapeArea(donut)).toBe(100 * 100 - 20 * 20 + 10 * 10);
  });
});

describe("nearest vertex and edge", () => {
  it("finds the vertex within a radius", () => {
    expect(nearestVertex(donut, [98, 1], 5)).toEqual({ poly: 0, ring: 0, index: 1 });
    expect(nearestVertex(donut, [59, 41], 5)).toEqual({ poly: 0, ring: 1, index: 1 });
    expect(nearestVertex(donut, [50, 20], 5)).toBeNull();
  });

  it("finds the edge and the foot of the perpendicular for insertion", () => {
    const hit = nearestEdge(donut, [50, 2], 5)!;
    expect(hit).toMatchObject({ poly: 0, ring: 0, index: 0, point: [50, 0], distance: 2 });
    const closing = nearestEdge(donut, [1, 50], 5)!; // the implicit closing edge (3 → 0)
    expect(closing).toMatchObject({ poly: 0, ring: 0, index: 3, point: [0, 50] });
    expect(nearestEdge(donut, [50, 20], 5)).toBeNull();
  });
});

describe("shape edits are pure", () => {
  it("moves, inserts and translates without touching the input", () => {
    const before = JSON.stringify(donut);
    const moved = moveVertex(donut, { poly: 0, ring: 0, index: 0 }, [-5, -5]);
    expect(moved[0][0][0]).toEqual([-5, -5]);
    const inserted = insertVertex(donut, { poly: 0, ring: 0, index: 0 }, [50, 0]);
    expect(inserted[0][0]).toEqual([[0, 0], [50, 0], [100, 0], [100, 100], [0, 100]]);
    expect(translateShape(donut, 1, 2)[1][0][0]).toEqual([201, 2]);
    expect(JSON.stringify(donut)).toBe(before);
    expect(moved[1]).toBe(donut[1]); // untouched polygons are shared
  });

  it("deleting below three points drops the hole or the polygon", () => {
    const tri: Shape = [[[[0, 0], [10, 0], [0, 10]], [[1, 1], [2, 1], [1, 2]]]];
    const noHole = deleteVertex(tri, { poly: 0, ring: 1, index: 0 });
    expect(noHole[0]).toHaveLength(1);
    expect(deleteVertex(tri, { poly: 0, ring: 0, index: 0 })).toEqual([]);
    expect(deleteVertex(donut, { poly: 0, ring: 0, index: 0 })[0][0]).toHaveLength(3);
  });
});
