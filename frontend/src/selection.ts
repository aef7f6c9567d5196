// Working on many shapes at once: the multi-selection (Shift-click, a rubber band), bulk delete
// and re-class, "delete all model shapes", per-shape locks and per-category hiding. Pure
// functions of the editor state; every change to the set is one `commit`, so one Ctrl+Z
// undoes a bulk action and autosave stores it like any edit. Locked shapes are skipped by
// every bulk action; hidden ones are not picked.

import { shapeBBox, translateShape, type BBox } from "./geometry";
import {
  commit,
  deleteVertex,
  isPickable,
  selectedKeys,
  withShape,
  type EditorState,
} from "./store";

/** Make `keys` the selection (the last one primary); none clears it. */
export function selectKeys(s: EditorState, keys: readonly string[]): EditorState {
  const present = new Set(s.instances.map((i) => i.key));
  const unique = [...new Set(keys)].filter((k) => present.has(k));
  if (unique.length === 0) return { ...s, selected: null, group: null, vertex: null, gesture: null };
  const primary = unique[unique.length - 1];
  return { ...s, selected: primary, group: unique.length > 1 ? { primary, keys: unique } : null, vertex: null, gesture: null };
}

/** Shift-click: add a shape to the selection, or take it out. */
export function toggleSelected(s: EditorState, key: string): EditorState {
  const keys = selectedKeys(s);
  return selectKeys(s, keys.includes(key) ? keys.filter((k) => k !== key) : [...keys, key]);
}

/** Select every shape that is shown and unlocked. */
export function selectAll(s: EditorState): EditorState {
  return selectKeys(s, s.instances.filter((i) => isPickable(s, i)).map((i) => i.key));
}

/** Keys of the pickable shapes whose bounding box lies inside `box` (corners in any order). */
export function keysInBox(s: EditorState, box: BBox): string[] {
  const x0 = Math.min(box[0], box[2]), x1 = Math.max(box[0], box[2]);
  const y0 = Math.min(box[1], box[3]), y1 = Math.max(box[1], box[3]);
  return s.instances
    .filter((i) => {
      if (!isPickable(s, i)) return false;
      const [a, b, c, d] = shapeBBox(i.shape);
      return a >= x0 && b >= y0 && c <= x1 && d <= y1;
    })
    .map((i) => i.key);
}

/** A rubber band: select what it encloses; with `add` (Shift) keep the current selection too. */
export function selectInBox(s: EditorState, box: BBox, add = false): EditorState {
  const inside = keysInBox(s, box);
  return selectKeys(s, add ? [...selectedKeys(s), ...inside] : inside);
}

/** Move every selected, unlocked shape by (dx, dy) image pixels; a drag is one undo step. */
export function moveSelected(s: EditorState, dx: number, dy: number, gesture: string | null = null): EditorState {
  if (dx === 0 && dy === 0) return s;
  const keys = new Set(selectedKeys(s).filter((k) => !s.locked.has(k)));
  if (keys.size === 0) return s;
  return commit(s, s.instances.map((i) => (keys.has(i.key) ? withShape(i, translateShape(i.shape, dx, dy)) : i)), gesture);
}

/** Remove shapes by key in one undoable step, locked ones excepted; the selection drops them. */
function removeKeys(s: EditorState, keys: ReadonlySet<string>): EditorState {
  const kept = s.instances.filter((i) => !keys.has(i.key) || s.locked.has(i.key));
  if (kept.length === s.instances.length) return s;
  const next = commit(s, kept);
  return selectKeys(next, selectedKeys(s).filter((k) => !keys.has(k) || s.locked.has(k)));
}

/** Delete: the selected vertex when one shape is selected with a vertex, else every selected unlocked shape. */
export function deleteSelected(s: EditorState): EditorState {
  const keys = selectedKeys(s);
  if (keys.length === 0) return s;
  if (keys.length === 1 && s.vertex) return deleteVertex(s, keys[0], s.vertex);
  return removeKeys(s, new Set(keys));
}

/** Re-class every selected, unlocked shape; the category is also the next new shape's. */
export function setSelectedCategory(s: EditorState, category: number): EditorState {
  const keys = new Set(selectedKeys(s).filter((k) => !s.locked.has(k)));
  const instances = s.instances.map((i) => (keys.has(i.key) && i.category !== category ? { ...i, category } : i));
  const changed = instances.some((i, n) => i !== s.instances[n]);
  return { ...(changed ? commit(s, instances) : s), activeCategory: category };
}

/** Pre-labels nobody edited yet: a person's edit turns a "model" shape into "manual". */
export function modelShapeKeys(s: EditorState): string[] {
  return s.instances.filter((i) => i.source === "model" && isPickable(s, i)).map((i) => i.key);
}

/** Delete every unedited pre-label that is shown and unlocked, as one undoable step. */
export function deleteModelShapes(s: EditorState): EditorState {
  return removeKeys(s, new Set(modelShapeKeys(s)));
}

/** Lock the given shapes, or unlock them when all of them are locked already. */
export function toggleLocked(s: EditorState, keys: readonly string[]): EditorState {
  if (keys.length === 0) return s;
  const locked = new Set(s.locked);
  const lock = keys.some((k) => !locked.has(k));
  for (const k of keys) {
    if (lock) locked.add(k);
    else locked.delete(k);
  }
  return { ...s, locked, vertex: lock ? null : s.vertex };
}

/** Hide or show one category's shapes; hiding takes them out of the selection. */
export function setCategoryHidden(s: EditorState, category: number, hidden: boolean): EditorState {
  if (s.hidden.has(category) === hidden) return s;
  const next = new Set(s.hidden);
  if (hidden) next.add(category);
  else next.delete(category);
  const out = { ...s, hidden: next };
  if (!hidden) return out;
  const cat = new Map(s.instances.map((i) => [i.key, i.category]));
  return selectKeys(out, selectedKeys(s).filter((k) => cat.get(k) !== category));
}
