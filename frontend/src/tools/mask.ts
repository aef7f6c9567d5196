// Shapes as bitmaps and back, for the brush and the eraser. A shape is rasterized onto a grid
// of square cells (one image pixel each, coarser for very large shapes: at most MAX_CELLS a
// side), the stroke is painted into it, and the cells are traced back into a MultiPolygon
// whose edges run along the cell borders.
//
// A cell is inside when its centre is inside the shape (even-odd over all rings), so an
// axis-aligned rectangle on whole pixels comes back exactly. The trace is valid by
// construction: before tracing, every diagonal-only contact between two cells (a 2×2 block
// [1 0; 0 1]) is joined by filling one more cell, so each grid corner lies on at most one
// boundary loop and loops neither cross nor touch. The loops are then thinned (collinear
// corners dropped, then Douglas-Peucker at one cell); when the thinning would make any
// two edges cross, the unthinned loops are kept. Coordinates are image pixels, x right, y down.

import { pointInRing, ringArea } from "../geometry";
import type { Point, Polygon, Ring, Shape } from "../types";

/** The largest grid side, in cells: a 4000 px shape is traced at 2 px per cell. */
export const MAX_CELLS = 2048;

/** Douglas-Peucker tolerance of the traced outline, in cells. */
export const THIN_CELLS = 1;

/** A bitmap over the image rectangle [x0, x0 + cols·cell) × [y0, y0 + rows·cell). */
export interface Grid {
  x0: number;
  y0: number;
  cell: number;
  cols: number;
  rows: number;
  /** 1 = inside, row-major. */
  data: Uint8Array;
}

/**
 * An empty grid covering the box (x0, y0, x1, y1), clipped to the image and aligned on
 * whole multiples of the cell size, or null when the box misses the image.
 */
export function gridFor(box: [number, number, number, number], width: number, height: number, maxCells = MAX_CELLS): Grid | null {
  const bx0 = Math.max(0, Math.min(box[0], box[2]));
  const by0 = Math.max(0, Math.min(box[1], box[3]));
  const bx1 = Math.min(width, Math.max(box[0], box[2]));
  const by1 = Math.min(height, Math.max(box[1], box[3]));
  if (!(bx1 > bx0 && by1 > by0)) return null;
  const cell = Math.max(1, Math.ceil(Math.max(bx1 - bx0, by1 - by0) / (maxCells - 2)));
  const x0 = Math.floor(bx0 / cell) * cell;
  const y0 = Math.floor(by0 / cell) * cell;
  const cols = Math.max(1, Math.ceil((Math.min(bx1, width) - x0) / cell));
  const rows = Math.max(1, Math.ceil((Math.min(by1, height) - y0) / cell));
  return { x0, y0, cell, cols, rows, data: new Uint8Array(cols * rows) };
}

/** Set every cell whose centre is inside the shape (even-odd over all its rings). */
export function rasterizeShape(grid: Grid, shape: Shape): void {
  const { x0, y0, cell, cols, rows, data } = grid;
  const rings: Ring[] = shape.flat().filter((r) => r.length >= 3);
  const xs: number[] = [];
  for (let r = 0; r < rows; r++) {
    const y = y0 + (r + 0.5) * cell;
    xs.length = 0;
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i];
        const [xj, yj] = ring[j];
        if (yi > y !== yj > y) xs.push(xi + ((y - yi) * (xj - xi)) / (yj - yi));
      }
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // Cells c with centre x0 + (c + 0.5)·cell in [xs[k], xs[k+1]).
      const c0 = Math.max(0, Math.ceil((xs[k] - x0) / cell - 0.5));
      const c1 = Math.min(cols - 1, Math.ceil((xs[k + 1] - x0) / cell - 0.5) - 1);
      for (let c = c0; c <= c1; c++) data[r * cols + c] = 1;
    }
  }
}

/**
 * Paint a stroke: every cell whose centre is within `radius` of the polyline through `points`
 * becomes `value` (1 paints, 0 erases). One point paints a disc.
 */
export function paintStroke(grid: Grid, points: readonly Point[], radius: number, value: 0 | 1): void {
  const { x0, y0, cell, cols, rows, data } = grid;
  const r2 = radius * radius;
  const segs = points.length === 1 ? [[points[0], points[0]]] : points.slice(1).map((p, i) => [points[i], p]);
  for (const [a, b] of segs) {
    const c0 = Math.max(0, Math.floor((Math.min(a[0], b[0]) - radius - x0) / cell));
    const c1 = Math.min(cols - 1, Math.ceil((Math.max(a[0], b[0]) + radius - x0) / cell));
    const r0 = Math.max(0, Math.floor((Math.min(a[1], b[1]) - radius - y0) / cell));
    const r1 = Math.min(rows - 1, Math.ceil((Math.max(a[1], b[1]) + radius - y0) / cell));
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const len2 = dx * dx + dy * dy;
    for (let r = r0; r <= r1; r++) {
      const py = y0 + (r + 0.5) * cell;
      for (let c = c0; c <= c1; c++) {
        const px = x0 + (c + 0.5) * cell;
        let t = len2 === 0 ? 0 : ((px - a[0]) * dx + (py - a[1]) * dy) / len2;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const ex = a[0] + t * dx - px;
        const ey = a[1] + t * dy - py;
        if (ex * ex + ey * ey <= r2) data[r * cols + c] = value;
      }
    }
  }
}

/** Fill one cell of every diagonal-only contact ([1 0; 0 1] or [0 1; 1 0]), until none is left. */
export function joinDiagonals(grid: Grid): number {
  const { cols, rows, data } = grid;
  let filled = 0;
  let changed = true;
  while (changed) {
    changed = false;
    for (let r = 0; r + 1 < rows; r++) {
      for (let c = 0; c + 1 < cols; c++) {
        const i = r * cols + c;
        const a = data[i], b = data[i + 1], d = data[i + cols], e = data[i + cols + 1];
        if (a === e && b === d && a !== b) {
          data[a ? i + 1 : i] = 1;
          filled++;
          changed = true;
        }
      }
    }
  }
  return filled;
}

/** Grid corners (c, r), 0 ≤ c ≤ cols, 0 ≤ r ≤ rows, as one index. */
const corner = (cols: number, c: number, r: number) => r * (cols + 1) + c;

/**
 * The boundary loops of the set cells, in grid corner coordinates. Each set cell contributes
 * the sides it shares with an unset (or outside) cell, directed clockwise on screen around
 * it; shared sides cancel. Exteriors come out clockwise (positive area with y down), holes
 * counter-clockwise. Needs `joinDiagonals` first, so each corner has one way out.
 */
function boundaryLoops(grid: Grid): Point[][] {
  const { cols, rows, data } = grid;
  const next = new Int32Array((cols + 1) * (rows + 1)).fill(-1);
  const at = (c: number, r: number) => (c < 0 || r < 0 || c >= cols || r >= rows ? 0 : data[r * cols + c]);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (!data[r * cols + c]) continue;
      if (!at(c, r - 1)) next[corner(cols, c, r)] = corner(cols, c + 1, r);
      if (!at(c + 1, r)) next[corner(cols, c + 1, r)] = corner(cols, c + 1, r + 1);
      if (!at(c, r + 1)) next[corner(cols, c + 1, r + 1)] = corner(cols, c, r + 1);
      if (!at(c - 1, r)) next[corner(cols, c, r + 1)] = corner(cols, c, r);
    }
  }
  const loops: Point[][] = [];
  for (let start = 0; start < next.length; start++) {
    if (next[start] < 0) continue;
    const loop: Point[] = [];
    let k = start;
    while (next[k] >= 0) {
      loop.push([k % (cols + 1), Math.floor(k / (cols + 1))]);
      const n = next[k];
      next[k] = -1;
      k = n;
    }
    loops.push(loop);
  }
  return loops;
}

/** Drop corners whose neighbours make a straight line through them. */
export function dropCollinear(ring: Ring): Ring {
  const out: Ring = [];
  const n = ring.length;
  for (let i = 0; i < n; i++) {
    const a = ring[(i + n - 1) % n];
    const b = ring[i];
    const c = ring[(i + 1) % n];
    if ((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]) !== 0) out.push(b);
  }
  return out;
}

function douglasPeucker(pts: readonly Point[], eps: number, out: Point[]): void {
  // Keeps pts[0], drops or keeps the inner points, never pushes the last one.
  const a = pts[0];
  const b = pts[pts.length - 1];
  let worst = -1;
  let worstD = eps;
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len = Math.hypot(dx, dy);
  for (let i = 1; i < pts.length - 1; i++) {
    const p = pts[i];
    const d = len === 0 ? Math.hypot(p[0] - a[0], p[1] - a[1]) : Math.abs(dy * (p[0] - a[0]) - dx * (p[1] - a[1])) / len;
    if (d > worstD) {
      worstD = d;
      worst = i;
    }
  }
  if (worst < 0) {
    out.push(a);
    return;
  }
  douglasPeucker(pts.slice(0, worst + 1), eps, out);
  douglasPeucker(pts.slice(worst), eps, out);
}

/** Douglas-Peucker on a closed ring, split at its first point and the point farthest from it. */
export function simplifyRing(ring: Ring, eps: number): Ring {
  if (ring.length <= 4 || eps <= 0) return ring;
  let far = 0;
  let farD = -1;
  for (let i = 1; i < ring.length; i++) {
    const d = (ring[i][0] - ring[0][0]) ** 2 + (ring[i][1] - ring[0][1]) ** 2;
    if (d > farD) {
      farD = d;
      far = i;
    }
  }
  const out: Point[] = [];
  douglasPeucker(ring.slice(0, far + 1), eps, out);
  douglasPeucker([...ring.slice(far), ring[0]], eps, out);
  return out.length >= 3 ? out : ring;
}

function segmentsCross(a: Point, b: Point, c: Point, d: Point): boolean {
  const o = (p: Point, q: Point, r: Point) => Math.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]));
  const o1 = o(a, b, c), o2 = o(a, b, d), o3 = o(c, d, a), o4 = o(c, d, b);
  if (o1 !== o2 && o3 !== o4 && o1 !== 0 && o2 !== 0 && o3 !== 0 && o4 !== 0) return true;
  // Touching or collinear overlap counts too: a valid trace has neither.
  const on = (p: Point, q: Point, r: Point) =>
    Math.min(p[0], q[0]) <= r[0] && r[0] <= Math.max(p[0], q[0]) && Math.min(p[1], q[1]) <= r[1] && r[1] <= Math.max(p[1], q[1]);
  return (o1 === 0 && on(a, b, c)) || (o2 === 0 && on(a, b, d)) || (o3 === 0 && on(c, d, a)) || (o4 === 0 && on(c, d, b));
}

/** True when two edges of the rings cross or touch anywhere but at a ring's own shared corner. */
export function ringsIntersect(rings: readonly Ring[]): boolean {
  type Edge = { a: Point; b: Point; ring: number; i: number; n: number; x0: number; x1: number };
  const edges: Edge[] = [];
  rings.forEach((ring, ri) => {
    for (let i = 0; i < ring.length; i++) {
      const a = ring[i], b = ring[(i + 1) % ring.length];
      edges.push({ a, b, ring: ri, i, n: ring.length, x0: Math.min(a[0], b[0]), x1: Math.max(a[0], b[0]) });
    }
  });
  edges.sort((e, f) => e.x0 - f.x0);
  for (let p = 0; p < edges.length; p++) {
    const e = edges[p];
    for (let q = p + 1; q < edges.length && edges[q].x0 <= e.x1; q++) {
      const f = edges[q];
      if (e.ring === f.ring) {
        const gap = Math.abs(e.i - f.i);
        if (gap === 1 || gap === e.n - 1) continue; // neighbours share a corner
      }
      if (Math.max(e.a[1], e.b[1]) < Math.min(f.a[1], f.b[1]) || Math.max(f.a[1], f.b[1]) < Math.min(e.a[1], e.b[1])) continue;
      if (segmentsCross(e.a, e.b, f.a, f.b)) return true;
    }
  }
  return false;
}

function signedArea(ring: Ring): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return a / 2;
}

/**
 * Trace the set cells into a MultiPolygon in image pixels. Parts and holes smaller than
 * `minCells` cells are dropped as speckle. The grid is changed (diagonal contacts joined).
 */
export function traceMask(grid: Grid, minCells = 4): Shape {
  joinDiagonals(grid);
  const { x0, y0, cell } = grid;
  const loops = boundaryLoops(grid)
    .map(dropCollinear)
    .filter((l) => l.length >= 3 && ringArea(l) >= minCells);
  // Clockwise on screen (y down) is an exterior: signedArea > 0 with this formula's sign.
  const outer = loops.filter((l) => signedArea(l) > 0);
  const holes = loops.filter((l) => signedArea(l) < 0);
  const polys: Ring[][] = outer.map((l) => [l]);
  const areas = outer.map(ringArea);
  for (const hole of holes) {
    // A hole belongs to the smallest exterior around it (islands in holes are exteriors too).
    // Corners are shared by one loop only, so a hole's corner is strictly inside or outside.
    const [hx, hy] = hole[0];
    let best = -1;
    outer.forEach((o, k) => {
      if (pointInRing(hx, hy, o) && (best < 0 || areas[k] < areas[best])) best = k;
    });
    if (best >= 0) polys[best].push(hole);
  }
  const toImage = (ring: Ring): Ring => ring.map(([c, r]) => [x0 + c * cell, y0 + r * cell] as Point);
  // Thinning within THIN_CELLS flattens one-cell stairs (their inner corners lie under one cell
  // from the line through the outer ones); a thinned ring that lost half its area, or any two
  // crossing edges, means the thinning went wrong somewhere: keep the exact loops then.
  const thin = polys.map((poly) => poly.map((ring) => simplifyRing(ring, THIN_CELLS)));
  const collapsed = thin.some((poly, p) => poly.some((ring, k) => ringArea(ring) < 0.5 * ringArea(polys[p][k])));
  const chosen = collapsed || ringsIntersect(thin.flat()) ? polys : thin;
  return chosen.map((poly): Polygon => poly.map(toImage));
}
