// The brush and the eraser: a stroke (a polyline with a radius, image pixels) adds area to the
// selected shape or takes it away. The shape is rasterized, painted and re-traced (./mask.ts),
// so the result is a valid MultiPolygon again: a brush stroke away from the shape adds a part,
// an eraser stroke across it may split it in two or cut a hole. With nothing selected the
// brush paints a new shape of the active category; an eraser that takes everything away
// deletes the shape. Each stroke is one undoable edit.

import { clampPoint, shapeBBox } from "../geometry";
import { addInstance, deleteInstance, editShape, isPickable, selectedInstance, type EditorState } from "../store";
import type { Point, Shape } from "../types";
import { gridFor, paintStroke, rasterizeShape, traceMask } from "./mask";

export const MIN_BRUSH = 1;
export const MAX_BRUSH = 400;

/** `[` and `]`: the radius shrinks or grows by a quarter, within MIN_BRUSH..MAX_BRUSH. */
export function resizeBrush(s: EditorState, step: 1 | -1): EditorState {
  const next = step > 0 ? Math.ceil(s.brush * 1.25) : Math.floor(s.brush / 1.25);
  return { ...s, brush: Math.max(MIN_BRUSH, Math.min(MAX_BRUSH, next)) };
}

/** `shape` with the stroke painted in (`erase` false) or rubbed out (true); [] when nothing is left. */
export function brushShape(shape: Shape | null, stroke: readonly Point[], radius: number, erase: boolean, width: number, height: number): Shape {
  if (stroke.length === 0) return shape ?? [];
  let sx0 = Infinity, sy0 = Infinity, sx1 = -Infinity, sy1 = -Infinity;
  for (const [x, y] of stroke) {
    sx0 = Math.min(sx0, x - radius);
    sy0 = Math.min(sy0, y - radius);
    sx1 = Math.max(sx1, x + radius);
    sy1 = Math.max(sy1, y + radius);
  }
  let box: [number, number, number, number] = [sx0, sy0, sx1, sy1];
  if (shape && shape.length > 0) {
    const [a, b, c, d] = shapeBBox(shape);
    // Erasing never grows the shape, so its own box is enough; painting may reach beyond it.
    box = erase ? [a, b, c, d] : [Math.min(a, sx0), Math.min(b, sy0), Math.max(c, sx1), Math.max(d, sy1)];
  } else if (erase) {
    return [];
  }
  const grid = gridFor(box, width, height);
  if (!grid) return shape ?? [];
  if (shape) rasterizeShape(grid, shape);
  const before = grid.data.slice();
  paintStroke(grid, stroke, radius, erase ? 0 : 1);
  // A stroke that changes no cell leaves the shape's own vertices alone.
  if (shape && grid.data.every((v, i) => v === before[i])) return shape;
  return traceMask(grid).map((poly) => poly.map((ring) => ring.map((p) => clampPoint(p, width, height))));
}

/** Apply a finished stroke to the selected shape (or paint a new one); a locked or hidden shape is left alone. */
export function applyStroke(s: EditorState, stroke: readonly Point[], erase: boolean): EditorState {
  const target = selectedInstance(s);
  if (target && !isPickable(s, target)) return s;
  if (!target) {
    if (erase) return s;
    const shape = brushShape(null, stroke, s.brush, false, s.width, s.height);
    return shape.length === 0 ? s : addInstance(s, { category: s.activeCategory, shape, source: "manual", score: null });
  }
  const shape = brushShape(target.shape, stroke, s.brush, erase, s.width, s.height);
  if (shape === target.shape) return s;
  return shape.length === 0 ? deleteInstance(s, target.key) : editShape(s, target.key, shape);
}
