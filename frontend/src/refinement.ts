// A new shape that lands on an existing one (IoU >= REFINE_IOU) is not silently a duplicate: the
// annotate view flags it and offers it as a refinement of that shape (its geometry replaces the old
// one's) or lets the annotator keep both. Pure functions over the editor state; coordinates in
// image pixels.

import { pointInShape, shapeBBox } from "./geometry";
import { commit, type EditorState, type Instance } from "./store";
import type { Shape } from "./types";

export const REFINE_IOU = 0.9;

/** Mask IoU of two shapes, sampled on a `grid` x `grid` lattice over their joint bounding box. */
export function shapeIoU(a: Shape, b: Shape, grid = 96): number {
  const [ax0, ay0, ax1, ay1] = shapeBBox(a);
  const [bx0, by0, bx1, by1] = shapeBBox(b);
  if (!(ax0 < bx1 && bx0 < ax1 && ay0 < by1 && by0 < ay1)) return 0;
  const x0 = Math.min(ax0, bx0), y0 = Math.min(ay0, by0);
  const dx = (Math.max(ax1, bx1) - x0) / grid, dy = (Math.max(ay1, by1) - y0) / grid;
  let inter = 0, union = 0;
  for (let j = 0; j < grid; j++) {
    const y = y0 + (j + 0.5) * dy;
    for (let i = 0; i < grid; i++) {
      const x = x0 + (i + 0.5) * dx;
      const inA = pointInShape(x, y, a), inB = pointInShape(x, y, b);
      if (inA || inB) union++;
      if (inA && inB) inter++;
    }
  }
  return union ? inter / union : 0;
}

export interface RefinementOffer {
  /** The shape just added. */
  newKey: string;
  /** The existing shape it overlaps most. */
  targetKey: string;
  iou: number;
}

/**
 * The refinement to offer after `prev` became `next`: a shape added by this edit that overlaps a
 * shape already there at IoU >= REFINE_IOU (the best such pair), else null.
 */
export function refinementOffer(prev: readonly Instance[], next: readonly Instance[]): RefinementOffer | null {
  if (next.length <= prev.length) return null;
  const before = new Set(prev.map((i) => i.key));
  const added = next.filter((i) => !before.has(i.key));
  const existing = next.filter((i) => before.has(i.key));
  let best: RefinementOffer | null = null;
  for (const n of added) {
    for (const e of existing) {
      const iou = shapeIoU(n.shape, e.shape);
      if (iou >= REFINE_IOU && (!best || iou > best.iou)) best = { newKey: n.key, targetKey: e.key, iou };
    }
  }
  return best;
}

/** Take the offer: the target gets the new shape's geometry (and source, score); the new shape goes. One undo step. */
export function refineWith(s: EditorState, offer: RefinementOffer): EditorState {
  const added = s.instances.find((i) => i.key === offer.newKey);
  if (!added || !s.instances.some((i) => i.key === offer.targetKey)) return s;
  const instances = s.instances
    .filter((i) => i.key !== offer.newKey)
    .map((i) => (i.key === offer.targetKey ? { ...i, shape: added.shape, source: added.source, score: added.score } : i));
  return { ...commit(s, instances), selected: offer.targetKey, vertex: null };
}
