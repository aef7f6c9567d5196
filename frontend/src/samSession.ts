// The SAM prompt session of the annotate view: points and a box the annotator places, the
// preview mask the server returns, and what goes out to POST /images/{id}/segment. It lives
// inside the editor state (`EditorState.sam`); accepting a preview is an edit, so
// `samAccept` is in store.ts. Coordinates are image pixels (x right, y down).

import { clampPoint, type BBox, type VertexRef } from "./geometry";
import type { Point, Shape } from "./types";

export interface SamState {
  armed: boolean;
  points: Point[];
  labels: (0 | 1)[];
  box: BBox | null;
  preview: Shape | null;
  previewScore: number | null;
  engine: string | null;
  /** Key of the instance being refined (its shape goes out as mask_shape), else a new object. */
  target: string | null;
  /** Shown while the server is still embedding the image, or after an error. */
  message: string | null;
}

/** No prompts, no preview, not armed. */
export const idleSam: SamState = {
  armed: false,
  points: [],
  labels: [],
  box: null,
  preview: null,
  previewScore: null,
  engine: null,
  target: null,
  message: null,
};

/** The part of the editor state the SAM session reads and writes. */
export interface SamHost {
  width: number;
  height: number;
  instances: readonly { key: string; shape: Shape }[];
  selected: string | null;
  vertex: VertexRef | null;
  sam: SamState;
}

/** Arm or disarm SAM; arming with a selection refines that instance. */
export function samArm<S extends SamHost>(s: S, armed: boolean): S {
  return {
    ...s,
    sam: { ...idleSam, armed, target: armed ? s.selected : null },
    vertex: null,
  };
}

export function samAddPoint<S extends SamHost>(s: S, p: Point, label: 0 | 1): S {
  if (!s.sam.armed) return s;
  const q = clampPoint(p, s.width, s.height);
  return { ...s, sam: { ...s.sam, points: [...s.sam.points, q], labels: [...s.sam.labels, label] } };
}

export function samSetBox<S extends SamHost>(s: S, box: BBox): S {
  if (!s.sam.armed) return s;
  const [a, b] = [clampPoint([box[0], box[1]], s.width, s.height), clampPoint([box[2], box[3]], s.width, s.height)];
  const norm: BBox = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  return { ...s, sam: { ...s.sam, box: norm } };
}

export function samHasPrompt(s: SamHost): boolean {
  return s.sam.points.length > 0 || s.sam.box !== null;
}

export function samSetPreview<S extends SamHost>(s: S, shape: Shape | null, score: number | null, engine: string | null): S {
  return { ...s, sam: { ...s.sam, preview: shape, previewScore: score, engine: engine ?? s.sam.engine, message: null } };
}

export function samSetMessage<S extends SamHost>(s: S, message: string | null): S {
  return { ...s, sam: { ...s.sam, message } };
}

/** Drop the current object's prompts; the tool stays armed. */
export function samCancel<S extends SamHost>(s: S): S {
  return { ...s, sam: { ...idleSam, armed: s.sam.armed, engine: s.sam.engine } };
}

/** What to send to POST /images/{id}/segment for the current prompts. */
export function samRequest(s: SamHost): {
  points: Point[];
  labels: (0 | 1)[];
  box: BBox | null;
  mask_shape: Shape | null;
} {
  const target = s.sam.target === null ? undefined : s.instances.find((i) => i.key === s.sam.target);
  return { points: s.sam.points, labels: s.sam.labels, box: s.sam.box, mask_shape: target ? target.shape : null };
}
