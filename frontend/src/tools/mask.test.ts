import { describe, expect, it } from "vitest";
import { pointInShape, shapeArea } from "../geometry";
import type { Ring, Shape } from "../types";
import { brushShape } from "./brush";
import { gridFor, joinDiagonals, paintStroke, rasterizeShape, ringsIntersect, simplifyRing, traceMask, type Grid } from "./mask";

const rect = (x0: number, y0: number, x1: number, y1: number): Shape => [[[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]];

function gridOf(rows: string[]): Grid {
  const g = gridFor([0, 0, rows[0].length, rows.length], 1000, 1000)!;
  rows.forEach((row, r) => [...row].forEach((ch, c) => (g.data[r * g.cols + c] = ch === "#" ? 1 : 0)));
  return g;
}

function cells(g: Grid): number {
  return g.data.reduce((n, v) => n + v, 0);
}

/** Every ring of the shape: no two edges cross or touch (the shape is valid). */
function valid(shape: Shape): boolean {
  return !ringsIntersect(shape.flat()) && shape.every((poly) => poly.every((r) => r.length >= 3));
}

describe("rasterize and trace", () => {
  it("a rectangle on whole pixels comes back exactly", () => {
    const g = gridFor([10, 20, 50, 45], 100, 100)!;
    rasterizeShape(g, rect(10, 20, 50, 45));
    expect(cells(g)).toBe(40 * 25);
    const shape = traceMask(g);
    expect(shape).toHaveLength(1);
    expect(shape[0]).toHaveLength(1);
    expect(shapeArea(shape)).toBe(40 * 25);
    const xs = shape[0][0].map((p) => p[0]).sort((a, b) => a - b);
    const ys = shape[0][0].map((p) => p[1]).sort((a, b) => a - b);
    expect([xs[0], xs[3], ys[0], ys[3]]).toEqual([10, 50, 20, 45]);
  });

  it("keeps holes inside their part and separate parts apart", () => {
    const g = gridOf([
      "#######...##",
      "#.....#...##",
      "#.....#.....",
      "#######.....",
    ]);
    const shape = traceMask(g, 1);
    expect(shape).toHaveLength(2);
    const withHole = shape.find((p) => p.length === 2)!;
    expect(withHole).toBeDefined();
    expect(shapeArea([withHole])).toBe(28 - 10);
    expect(shapeArea(shape)).toBe(28 - 10 + 4);
    expect(pointInShape(3.5, 2, shape)).toBe(false); // in the hole
    expect(pointInShape(0.5, 0.5, shape)).toBe(true);
    expect(valid(shape)).toBe(true);
  });

  it("joins cells that touch only at a corner, so no ring touches itself or another", () => {
    const g = gridOf(["##..", "##..", "..##", "..##"]);
    expect(joinDiagonals(g)).toBeGreaterThan(0);
    const shape = traceMask(g, 1);
    expect(shape).toHaveLength(1);
    expect(valid(shape)).toBe(true);
  });

  it("drops speckle under the minimum area", () => {
    const g = gridOf(["#.......", "........", "...#####", "...#####"]);
    const shape = traceMask(g, 4);
    expect(shape).toHaveLength(1);
    expect(shapeArea(shape)).toBe(10);
  });

  it("a painted disc traces to a thinned, valid polygon of about the disc's area", () => {
    const g = gridFor([0, 0, 100, 100], 100, 100)!;
    paintStroke(g, [[50, 50]], 20, 1);
    const shape = traceMask(g);
    const area = shapeArea(shape);
    expect(Math.abs(area - Math.PI * 400) / (Math.PI * 400)).toBeLessThan(0.06);
    expect(shape[0][0].length).toBeLessThan(60); // the staircase is thinned
    expect(valid(shape)).toBe(true);
  });

  it("uses coarser cells for a very large shape", () => {
    const g = gridFor([0, 0, 5000, 100], 6000, 6000, 1024)!;
    expect(g.cell).toBeGreaterThan(1);
    expect(g.cols * g.cell).toBeGreaterThanOrEqual(5000);
    expect(g.cols).toBeLessThanOrEqual(1024);
  });

  it("simplifyRing keeps a ring's corners and finds crossing edges", () => {
    const stairs: Ring = [[0, 0], [10, 0], [10, 10], [9, 10], [9, 9], [8, 9], [8, 8], [0, 8]];
    const thin = simplifyRing(stairs, 1);
    expect(thin.length).toBeLessThan(stairs.length);
    expect(thin).toContainEqual([0, 0]);
    expect(ringsIntersect([[[0, 0], [10, 10], [10, 0], [0, 10]]])).toBe(true); // a bow tie
    expect(ringsIntersect([[[0, 0], [10, 0], [10, 10], [0, 10]], [[2, 2], [2, 4], [4, 4], [4, 2]]])).toBe(false);
  });
});

describe("brush and eraser", () => {
  const W = 400, H = 300;

  it("the brush grows a shape, and a stroke away from it adds a second part", () => {
    const before = rect(100, 100, 200, 180);
    const grown = brushShape(before, [[200, 140], [230, 140]], 10, false, W, H);
    expect(shapeArea(grown)).toBeGreaterThan(shapeArea(before) + 300);
    expect(pointInShape(225, 140, grown)).toBe(true);
    expect(valid(grown)).toBe(true);
    const twoParts = brushShape(before, [[300, 250]], 10, false, W, H);
    expect(twoParts).toHaveLength(2);
  });

  it("the eraser shrinks a shape, splits it, and cuts holes", () => {
    const before = rect(100, 100, 200, 180);
    const bitten = brushShape(before, [[100, 100]], 20, true, W, H);
    expect(shapeArea(bitten)).toBeLessThan(shapeArea(before) - 250);
    expect(pointInShape(102, 102, bitten)).toBe(false);
    const split = brushShape(before, [[150, 90], [150, 190]], 6, true, W, H);
    expect(split).toHaveLength(2);
    const holed = brushShape(before, [[150, 140]], 10, true, W, H);
    expect(holed).toHaveLength(1);
    expect(holed[0]).toHaveLength(2);
    expect(pointInShape(150, 140, holed)).toBe(false);
    for (const s of [bitten, split, holed]) expect(valid(s)).toBe(true);
  });

  it("erasing everything leaves nothing; a stroke that changes nothing keeps the shape as it was", () => {
    const before: Shape = [[[[100.3, 100.2], [200.7, 100], [150.2, 180.9]]]];
    expect(brushShape(before, [[150, 140]], 200, true, W, H)).toEqual([]);
    expect(brushShape(before, [[350, 20]], 5, true, W, H)).toBe(before);
  });

  it("the result stays inside the image", () => {
    const shape = brushShape(null, [[2, 2], [20, 2]], 10, false, W, H);
    const pts = shape.flat(2);
    expect(pts.every(([x, y]) => x >= 0 && y >= 0 && x <= W && y <= H)).toBe(true);
    expect(pointInShape(1, 1, shape)).toBe(true);
  });
});
