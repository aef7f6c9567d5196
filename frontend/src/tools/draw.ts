// Drawing without the model: the tool modes, the polygon being drawn (click vertices, close on
// the first one or with Enter, Backspace takes the last one back, Escape drops it) and the
// rectangle. A finished shape is added as a "manual" instance of the active category, one
// undoable edit. Coordinates are image pixels, clamped to the image.

import { clampPoint, ringArea } from "../geometry";
import { samArm } from "../samSession";
import { addInstance, type DrawTool, type EditorState } from "../store";
import type { Point, Shape } from "../types";

/** Points closer than this (image pixels) to the previous one are the same click. */
const SAME_POINT = 0.5;

/** Switch tools: the polygon in progress goes, SAM is disarmed, the selection stays (the brush edits it). */
export function setTool(s: EditorState, tool: DrawTool): EditorState {
  const base = s.sam.armed ? samArm(s, false) : s;
  if (base === s && s.tool === tool && s.draft.length === 0) return s;
  return { ...base, tool, draft: [], vertex: tool === "select" ? base.vertex : null };
}

/**
 * A click with the polygon tool: a new vertex, or the polygon closed when the click is within
 * `closeDistance` image pixels of its first vertex (and it has three already).
 */
export function draftAdd(s: EditorState, p: Point, closeDistance: number): EditorState {
  const q = clampPoint(p, s.width, s.height);
  const d = s.draft;
  if (d.length >= 3 && Math.hypot(q[0] - d[0][0], q[1] - d[0][1]) <= closeDistance) return draftClose(s);
  const last = d[d.length - 1];
  if (last && Math.hypot(q[0] - last[0], q[1] - last[1]) < SAME_POINT) return s;
  return { ...s, draft: [...d, q] };
}

/** Backspace while drawing: take the last vertex back. */
export function draftUndo(s: EditorState): EditorState {
  return s.draft.length === 0 ? s : { ...s, draft: s.draft.slice(0, -1) };
}

export function draftCancel(s: EditorState): EditorState {
  return s.draft.length === 0 ? s : { ...s, draft: [] };
}

/** Close the polygon (Enter, or a click on its first vertex); under three vertices or no area, it is dropped. */
export function draftClose(s: EditorState): EditorState {
  const ring = s.draft.map((p) => [p[0], p[1]] as Point);
  const cleared = { ...s, draft: [] };
  if (ring.length < 3 || ringArea(ring) < 1) return cleared;
  return addInstance(cleared, { category: s.activeCategory, shape: [[ring]], source: "manual", score: null });
}

/** The rectangle between two corners (any order), clamped to the image; null when under a pixel wide or high. */
export function rectangleShape(a: Point, b: Point, width: number, height: number): Shape | null {
  const p = clampPoint(a, width, height);
  const q = clampPoint(b, width, height);
  const x0 = Math.min(p[0], q[0]), x1 = Math.max(p[0], q[0]);
  const y0 = Math.min(p[1], q[1]), y1 = Math.max(p[1], q[1]);
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return [[[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]];
}

/** Add the rectangle dragged from `a` to `b` as a new instance of the active category. */
export function addRectangle(s: EditorState, a: Point, b: Point): EditorState {
  const shape = rectangleShape(a, b, s.width, s.height);
  if (!shape) return s;
  return addInstance(s, { category: s.activeCategory, shape, source: "manual", score: null });
}
