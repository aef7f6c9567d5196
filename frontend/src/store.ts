// Editor state for one image and the pure functions that change it. Every edit goes
// through `commit`, which keeps the undo/redo stacks; the canvas is drawn from this state.
// The SAM prompt session (`EditorState.sam`) has its own module, samSession.ts.

import {
  clampPoint,
  deleteVertex as deleteShapeVertex,
  insertVertex as insertShapeVertex,
  moveVertex as moveShapeVertex,
  translateShape,
  type VertexRef,
} from "./geometry";
import { idleSam, type SamState } from "./samSession";
import type { Annotation, AnnotationInput, Point, Shape, Source } from "./types";

export interface Instance {
  /** Client-side identity; stable across edits and undo. */
  key: string;
  category: number;
  shape: Shape;
  source: Source;
  score: number | null;
}

/** The canvas tool: pick and move shapes, or draw one of these without the model (SAM is `sam.armed`). */
export type DrawTool = "select" | "polygon" | "rectangle" | "brush" | "eraser";
/** Which shapes carry a category label on the canvas. */
export type LabelMode = "always" | "hover" | "selection";

export interface EditorState {
  imageId: number;
  width: number;
  height: number;
  /** Server version that `saved` corresponds to: sent as expected_version. */
  version: number;
  instances: readonly Instance[];
  /** The instance list as last saved; `instances !== saved` means unsaved edits. */
  saved: readonly Instance[];
  past: (readonly Instance[])[];
  future: (readonly Instance[])[];
  /** Gesture that produced the newest undo entry, so a drag makes one entry, not hundreds. */
  gesture: string | null;
  /** The primary selection: its handles are drawn, vertex edits and the brush act on it. */
  selected: string | null;
  /** Every selected key (primary included); counts only while `group.primary === selected`. */
  group: { primary: string; keys: readonly string[] } | null;
  vertex: VertexRef | null;
  activeCategory: number;
  sam: SamState;
  nextKey: number;
  // View state below: kept for this visit, never in the undo stack or a save.
  /** Locked instances: not picked on the canvas, not moved, edited or deleted. */
  locked: ReadonlySet<string>;
  /** Hidden categories: their shapes are not drawn and not picked. */
  hidden: ReadonlySet<number>;
  tool: DrawTool;
  /** The polygon being drawn, image pixels; empty when none. */
  draft: readonly Point[];
  /** Brush and eraser radius, image pixels. */
  brush: number;
  labels: LabelMode;
  /** Fill opacity of an unselected shape, 0–1. */
  opacity: number;
}

export const DEFAULT_BRUSH = 12;
export const DEFAULT_OPACITY = 0.28;

export const UNDO_LIMIT = 500;

function toInstances(annotations: readonly Annotation[], firstKey: number): Instance[] {
  return annotations.map((a, i) => ({
    key: `k${firstKey + i}`,
    category: a.category,
    shape: a.shape,
    source: a.source,
    score: a.score ?? null,
  }));
}

export function createEditor(opts: {
  imageId: number;
  width: number;
  height: number;
  version: number;
  annotations: readonly Annotation[];
  activeCategory: number;
}): EditorState {
  const instances = toInstances(opts.annotations, 1);
  return {
    imageId: opts.imageId,
    width: opts.width,
    height: opts.height,
    version: opts.version,
    instances,
    saved: instances,
    past: [],
    future: [],
    gesture: null,
    selected: null,
    group: null,
    vertex: null,
    activeCategory: opts.activeCategory,
    sam: idleSam,
    nextKey: instances.length + 1,
    locked: new Set(),
    hidden: new Set(),
    tool: "select",
    draft: [],
    brush: DEFAULT_BRUSH,
    labels: "always",
    opacity: DEFAULT_OPACITY,
  };
}

export function isDirty(s: EditorState): boolean {
  return s.instances !== s.saved;
}

export function canUndo(s: EditorState): boolean {
  return s.past.length > 0;
}

export function canRedo(s: EditorState): boolean {
  return s.future.length > 0;
}

export function findInstance(s: EditorState, key: string | null): Instance | undefined {
  return key === null ? undefined : s.instances.find((i) => i.key === key);
}

export function selectedInstance(s: EditorState): Instance | undefined {
  return findInstance(s, s.selected);
}

/** Every selected key that still names an instance, the primary last. */
export function selectedKeys(s: EditorState): string[] {
  if (s.selected === null) return [];
  if (s.group === null || s.group.primary !== s.selected) return findInstance(s, s.selected) ? [s.selected] : [];
  const present = new Set(s.instances.map((i) => i.key));
  return s.group.keys.filter((k) => present.has(k));
}

/** A shape the canvas may pick: its category is shown and it is not locked. */
export function isPickable(s: EditorState, inst: Instance): boolean {
  return !s.locked.has(inst.key) && !s.hidden.has(inst.category);
}

/** Replace the instance list, recording one undo step unless the same gesture continues. */
export function commit(s: EditorState, instances: readonly Instance[], gesture: string | null = null): EditorState {
  if (instances === s.instances) return s;
  const continuing = gesture !== null && gesture === s.gesture;
  const past = continuing ? s.past : [...s.past, s.instances].slice(-UNDO_LIMIT);
  return { ...s, instances, past, future: continuing ? s.future : [], gesture };
}

function updateInstance(
  s: EditorState,
  key: string,
  fn: (i: Instance) => Instance | null,
  gesture: string | null = null,
): EditorState {
  const idx = s.instances.findIndex((i) => i.key === key);
  if (idx < 0 || s.locked.has(key)) return s;
  const next = fn(s.instances[idx]);
  const instances = next === null ? s.instances.filter((_, i) => i !== idx) : s.instances.map((v, i) => (i === idx ? next : v));
  return commit(s, instances, gesture);
}

/** A pre-label whose geometry a person changed is a manual shape from then on. */
export function withShape(i: Instance, shape: Shape): Instance {
  return i.source === "model" ? { ...i, shape, source: "manual", score: null } : { ...i, shape };
}

// --- selection -------------------------------------------------------------------------

export function select(s: EditorState, key: string | null, vertex: VertexRef | null = null): EditorState {
  if (key !== null && !findInstance(s, key)) return s;
  return { ...s, selected: key, group: null, vertex: key === null ? null : vertex, gesture: null };
}

/** Select the next (+1) or previous (-1) instance, wrapping around. */
export function cycleSelection(s: EditorState, step: 1 | -1): EditorState {
  const n = s.instances.length;
  if (n === 0) return select(s, null);
  const idx = s.instances.findIndex((i) => i.key === s.selected);
  const next = idx < 0 ? (step === 1 ? 0 : n - 1) : (idx + step + n) % n;
  return select(s, s.instances[next].key);
}

/** Move the vertex selection along the selected instance's rings, wrapping across rings. */
export function cycleVertex(s: EditorState, step: 1 | -1): EditorState {
  const inst = selectedInstance(s);
  if (!inst) return s;
  const refs: VertexRef[] = [];
  inst.shape.forEach((p, pi) => p.forEach((r, ri) => r.forEach((_, vi) => refs.push({ poly: pi, ring: ri, index: vi }))));
  if (refs.length === 0) return s;
  const cur = s.vertex;
  const idx = cur ? refs.findIndex((r) => r.poly === cur.poly && r.ring === cur.ring && r.index === cur.index) : -1;
  const next = idx < 0 ? (step === 1 ? 0 : refs.length - 1) : (idx + step + refs.length) % refs.length;
  return { ...s, vertex: refs[next], gesture: null };
}

// --- edits ----------------------------------------------------------------------------------

export function moveInstance(s: EditorState, key: string, dx: number, dy: number, gesture: string | null = null): EditorState {
  if (dx === 0 && dy === 0) return s;
  return updateInstance(s, key, (i) => withShape(i, translateShape(i.shape, dx, dy)), gesture);
}

export function dragVertex(s: EditorState, key: string, ref: VertexRef, p: Point, gesture: string | null = null): EditorState {
  const q = clampPoint(p, s.width, s.height);
  const next = updateInstance(s, key, (i) => withShape(i, moveShapeVertex(i.shape, ref, q)), gesture);
  return next === s ? s : { ...next, selected: key, vertex: ref };
}

export function insertVertex(s: EditorState, key: string, after: VertexRef, p: Point): EditorState {
  const q = clampPoint(p, s.width, s.height);
  const next = updateInstance(s, key, (i) => withShape(i, insertShapeVertex(i.shape, after, q)));
  if (next === s) return s;
  return { ...next, selected: key, vertex: { ...after, index: after.index + 1 } };
}

/** Delete a vertex; the instance goes when its last polygon does. */
export function deleteVertex(s: EditorState, key: string, ref: VertexRef): EditorState {
  const next = updateInstance(s, key, (i) => {
    const shape = deleteShapeVertex(i.shape, ref);
    return shape.length === 0 ? null : withShape(i, shape);
  });
  if (next === s) return s;
  const stillThere = findInstance(next, key);
  return { ...next, selected: stillThere ? key : null, vertex: null };
}

export function deleteInstance(s: EditorState, key: string): EditorState {
  const next = updateInstance(s, key, () => null);
  if (next === s) return s;
  return { ...next, selected: next.selected === key ? null : next.selected, vertex: null };
}

/** Delete the selected vertex if one is selected, else the selected instance. */
export function deleteSelection(s: EditorState): EditorState {
  if (s.selected === null) return s;
  return s.vertex ? deleteVertex(s, s.selected, s.vertex) : deleteInstance(s, s.selected);
}

export function setCategory(s: EditorState, key: string, category: number): EditorState {
  const next = updateInstance(s, key, (i) => (i.category === category ? i : { ...i, category }));
  return { ...next, activeCategory: category };
}

export function setActiveCategory(s: EditorState, category: number): EditorState {
  return { ...s, activeCategory: category };
}

/** Add a new instance (e.g. an accepted SAM mask) and select it. */
export function addInstance(
  s: EditorState,
  inst: { category: number; shape: Shape; source: Source; score: number | null },
): EditorState {
  const key = `k${s.nextKey}`;
  const next = commit(s, [...s.instances, { key, ...inst }]);
  return { ...next, nextKey: s.nextKey + 1, selected: key, vertex: null };
}

/** A person's edit of an instance's geometry (brush, eraser); a pre-label becomes manual. */
export function editShape(s: EditorState, key: string, shape: Shape): EditorState {
  return updateInstance(s, key, (i) => withShape(i, shape));
}

export function replaceShape(s: EditorState, key: string, shape: Shape, source: Source, score: number | null): EditorState {
  return updateInstance(s, key, (i) => ({ ...i, shape, source, score }));
}

// --- undo / redo -------------------------------------------------------------------------

function keepSelectionValid(s: EditorState): EditorState {
  if (s.selected !== null && !findInstance(s, s.selected)) return { ...s, selected: null, vertex: null };
  return { ...s, vertex: null };
}

export function undo(s: EditorState): EditorState {
  if (s.past.length === 0) return s;
  const prev = s.past[s.past.length - 1];
  return keepSelectionValid({
    ...s,
    instances: prev,
    past: s.past.slice(0, -1),
    future: [...s.future, s.instances],
    gesture: null,
  });
}

export function redo(s: EditorState): EditorState {
  if (s.future.length === 0) return s;
  const next = s.future[s.future.length - 1];
  return keepSelectionValid({
    ...s,
    instances: next,
    past: [...s.past, s.instances],
    future: s.future.slice(0, -1),
    gesture: null,
  });
}

// --- server round trips ------------------------------------------------------------------

export function toAnnotationInputs(instances: readonly Instance[]): AnnotationInput[] {
  return instances.map((i) => ({ category: i.category, shape: i.shape, source: i.source, score: i.score }));
}

/** The server stored `sent` as `version`; edits made meanwhile stay dirty. */
export function markSaved(s: EditorState, version: number, sent: readonly Instance[]): EditorState {
  return { ...s, version, saved: sent };
}

/**
 * Take the server's set (reload after a conflict). The local set goes onto the undo stack,
 * so Ctrl+Z brings the annotator's own edits back: nothing is dropped.
 */
export function loadServerSet(s: EditorState, version: number, annotations: readonly Annotation[]): EditorState {
  const instances = toInstances(annotations, s.nextKey);
  const past = isDirty(s) || s.past.length > 0 ? [...s.past, s.instances].slice(-UNDO_LIMIT) : s.past;
  return {
    ...s,
    version,
    instances,
    saved: instances,
    past,
    future: [],
    gesture: null,
    selected: null,
    vertex: null,
    nextKey: s.nextKey + instances.length,
  };
}

/** Keep local edits and aim the next save at the server's newer version (overwrite). */
export function adoptVersion(s: EditorState, version: number): EditorState {
  // `saved` no longer describes the server, so mark everything dirty.
  return { ...s, version, saved: [] as Instance[] };
}

/** Put back a parked set (e.g. a draft from an earlier visit) as one undoable edit, with fresh keys. */
export function restoreInstances(s: EditorState, parked: readonly Omit<Instance, "key">[]): EditorState {
  const instances = parked.map((i, n) => ({ key: `k${s.nextKey + n}`, category: i.category, shape: i.shape, source: i.source, score: i.score }));
  return { ...commit(s, instances), nextKey: s.nextKey + instances.length, selected: null, vertex: null };
}

// --- the SAM session's result (the session itself is in samSession.ts) ------------------

/** Commit the SAM preview as an edit (a new instance, or the refined target) and stay armed for the next object. */
export function samAccept(s: EditorState): EditorState {
  const { preview, previewScore, target } = s.sam;
  if (!preview || preview.length === 0) return s;
  let next: EditorState;
  if (target !== null && findInstance(s, target)) {
    next = { ...replaceShape(s, target, preview, "sam", previewScore), selected: target, vertex: null };
  } else {
    next = addInstance(s, { category: s.activeCategory, shape: preview, source: "sam", score: previewScore });
  }
  return { ...next, sam: { ...idleSam, armed: true, engine: s.sam.engine } };
}

// --- a minimal observable container ------------------------------------------------------

export type Listener<S> = (state: S, prev: S) => void;

export class Store<S> {
  private listeners = new Set<Listener<S>>();

  constructor(private current: S) {}

  get state(): S {
    return this.current;
  }

  dispatch(update: (s: S) => S): void {
    const prev = this.current;
    const next = update(prev);
    if (next === prev) return;
    this.current = next;
    for (const l of this.listeners) l(next, prev);
  }

  subscribe(listener: Listener<S>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
