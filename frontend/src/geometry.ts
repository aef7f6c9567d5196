// Hit tests and small shape edits. All coordinates are image pixels (x right, y down);
// rings are closed implicitly. Nothing here touches the DOM.

import type { Point, Ring, Shape } from "./types";

export type BBox = [number, number, number, number]; // x0, y0, x1, y1

/** Even-odd ray test against one ring. */
export function pointInRing(x: number, y: number, ring: Ring): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** True when (x, y) is inside some polygon's exterior and outside all of its holes. */
export function pointInShape(x: number, y: number, shape: Shape): boolean {
  for (const polygon of shape) {
    if (polygon.length === 0 || !pointInRing(x, y, polygon[0])) continue;
    let inHole = false;
    for (let h = 1; h < polygon.length; h++) {
      if (pointInRing(x, y, polygon[h])) {
        inHole = true;
        break;
      }
    }
    if (!inHole) return true;
  }
  return false;
}

export function shapeBBox(shape: Shape): BBox {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const polygon of shape) {
    // Holes lie inside the exterior, so the exterior bounds the polygon.
    for (const [x, y] of polygon[0] ?? []) {
      if (x < x0) x0 = x;
      if (y < y0) y0 = y;
      if (x > x1) x1 = x;
      if (y > y1) y1 = y;
    }
  }
  return [x0, y0, x1, y1];
}

/** Unsigned area of a ring in square pixels (shoelace). */
export function ringArea(ring: Ring): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    a += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
  }
  return Math.abs(a) / 2;
}

/** Area of a shape: exteriors minus holes, in square pixels. */
export function shapeArea(shape: Shape): number {
  let total = 0;
  for (const polygon of shape) {
    polygon.forEach((ring, i) => {
      total += i === 0 ? ringArea(ring) : -ringArea(ring);
    });
  }
  return total;
}

export function vertexCount(shape: Shape): number {
  let n = 0;
  for (const polygon of shape) for (const ring of polygon) n += ring.length;
  return n;
}

/** Squared distance from p to segment ab, and the parameter t of the closest point. */
export function segmentDistance2(p: Point, a: Point, b: Point): { d2: number; t: number } {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  let t = len2 === 0 ? 0 : ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2;
  t = Math.max(0, Math.min(1, t));
  const cx = a[0] + t * dx - p[0];
  const cy = a[1] + t * dy - p[1];
  return { d2: cx * cx + cy * cy, t };
}

/** Address of one vertex: polygon index, ring index, vertex index. */
export interface VertexRef {
  poly: number;
  ring: number;
  index: number;
}

/** Nearest vertex of shape to p within maxDist (pixels), or null. */
export function nearestVertex(shape: Shape, p: Point, maxDist: number): VertexRef | null {
  let best: VertexRef | null = null;
  let bestD2 = maxDist * maxDist;
  shape.forEach((polygon, pi) =>
    polygon.forEach((ring, ri) =>
      ring.forEach(([x, y], vi) => {
        const d2 = (x - p[0]) ** 2 + (y - p[1]) ** 2;
        if (d2 <= bestD2) {
          bestD2 = d2;
          best = { poly: pi, ring: ri, index: vi };
        }
      }),
    ),
  );
  return best;
}

/** Edge of a shape nearest to p within maxDist: the new vertex goes after `index`. */
export interface EdgeHit extends VertexRef {
  point: Point;
  distance: number;
}

export function nearestEdge(shape: Shape, p: Point, maxDist: number): EdgeHit | null {
  let best: EdgeHit | null = null;
  let bestD2 = maxDist * maxDist;
  shape.forEach((polygon, pi) =>
    polygon.forEach((ring, ri) => {
      for (let i = 0; i < ring.length; i++) {
        const a = ring[i];
        const b = ring[(i + 1) % ring.length];
        const { d2, t } = segmentDistance2(p, a, b);
        if (d2 <= bestD2) {
          bestD2 = d2;
          best = {
            poly: pi,
            ring: ri,
            index: i,
            point: [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])],
            distance: Math.sqrt(d2),
          };
        }
      }
    }),
  );
  return best;
}

export function translateShape(shape: Shape, dx: number, dy: number): Shape {
  return shape.map((polygon) => polygon.map((ring) => ring.map(([x, y]) => [x + dx, y + dy] as Point)));
}

function replaceRing(shape: Shape, poly: number, ring: number, next: Ring): Shape {
  return shape.map((polygon, pi) =>
    pi !== poly ? polygon : polygon.map((r, ri) => (ri === ring ? next : r)),
  );
}

export function moveVertex(shape: Shape, ref: VertexRef, p: Point): Shape {
  const ring = shape[ref.poly][ref.ring];
  return replaceRing(shape, ref.poly, ref.ring, ring.map((q, i) => (i === ref.index ? p : q)));
}

/** Insert p into a ring after vertex `ref.index` (i.e. on the edge index → index+1). */
export function insertVertex(shape: Shape, ref: VertexRef, p: Point): Shape {
  const ring = shape[ref.poly][ref.ring];
  const next = [...ring.slice(0, ref.index + 1), p, ...ring.slice(ref.index + 1)];
  return replaceRing(shape, ref.poly, ref.ring, next);
}

/**
 * Remove one vertex. A ring that drops below 3 points disappears: a hole is removed,
 * an exterior takes its polygon with it. Returns an empty shape when nothing is left.
 */
export function deleteVertex(shape: Shape, ref: VertexRef): Shape {
  const ring = shape[ref.poly][ref.ring];
  const next = ring.filter((_, i) => i !== ref.index);
  if (next.length >= 3) return replaceRing(shape, ref.poly, ref.ring, next);
  if (ref.ring > 0) {
    return shape.map((polygon, pi) => (pi === ref.poly ? polygon.filter((_, ri) => ri !== ref.ring) : polygon));
  }
  return shape.filter((_, pi) => pi !== ref.poly);
}

export function clampPoint(p: Point, width: number, height: number): Point {
  return [Math.max(0, Math.min(width, p[0])), Math.max(0, Math.min(height, p[1]))];
}

/** Index of the topmost (last) shape containing p, or -1. */
export function hitShapeIndex(shapes: readonly Shape[], p: Point): number {
  for (let i = shapes.length - 1; i >= 0; i--) {
    const [x0, y0, x1, y1] = shapeBBox(shapes[i]);
    if (p[0] < x0 || p[0] > x1 || p[1] < y0 || p[1] > y1) continue;
    if (pointInShape(p[0], p[1], shapes[i])) return i;
  }
  return -1;
}
