// Pointer gestures of the annotate view, turned into store updates.
// Editing: click selects, drag moves, drag a handle moves a vertex, Alt-click or right-click
// a handle deletes it, double-click an edge inserts a vertex. SAM mode: click = positive,
// right/Shift-click = negative, drag = box.

import type { PointerTool } from "./canvasView";
import { hitShapeIndex, nearestEdge, nearestVertex, type BBox, type VertexRef } from "./geometry";
import {
  deleteVertex,
  dragVertex,
  insertVertex,
  moveInstance,
  select,
  selectedInstance,
  type EditorState,
  type Store,
} from "./store";
import { samAddPoint, samSetBox } from "./samSession";
import type { Point } from "./types";

export interface ToolUi {
  hover: string | null;
  rubberBand: BBox | null;
  showInstances: boolean;
}

const HANDLE_PX = 7;
const EDGE_PX = 6;
const DRAG_PX = 4;

type Gesture =
  | { kind: "vertex"; key: string; ref: VertexRef; id: string; moved: boolean }
  | { kind: "move"; key: string; last: Point; id: string }
  | { kind: "sam"; start: Point; sx: number; sy: number; label: 0 | 1; box: boolean };

export function createAnnotateTool(deps: {
  store: Store<EditorState>;
  ui: ToolUi;
  requestDraw: () => void;
  /** CSS pixels to image pixels at the current zoom. */
  px: (n: number) => number;
  onSamPrompt: () => void;
  /** A left click that hit no instance (the annotate view highlights a suggestion there). */
  onMiss?: (p: Point) => void;
}): PointerTool & { dragVertexTo(s: EditorState, p: Point, gesture: string): EditorState } {
  const { store, ui } = deps;
  let gesture: Gesture | null = null;
  let seq = 0;

  return {
    dragVertexTo(s, p, id) {
      return s.selected !== null && s.vertex ? dragVertex(s, s.selected, s.vertex, p, id) : s;
    },

    down(e, p) {
      const s = store.state;
      if (s.sam.armed) {
        if (e.button !== 0 && e.button !== 2) return false;
        gesture = { kind: "sam", start: p, sx: e.clientX, sy: e.clientY, label: e.button === 2 || e.shiftKey ? 0 : 1, box: false };
        return true;
      }
      const sel = selectedInstance(s);
      if (sel && ui.showInstances) {
        const ref = nearestVertex(sel.shape, p, deps.px(HANDLE_PX));
        if (ref) {
          if (e.altKey || e.button === 2) {
            store.dispatch((st) => deleteVertex(st, sel.key, ref));
            return true;
          }
          store.dispatch((st) => select(st, sel.key, ref));
          gesture = { kind: "vertex", key: sel.key, ref, id: `vertex-${++seq}`, moved: false };
          return true;
        }
      }
      if (e.button !== 0 || !ui.showInstances) return false;
      const idx = hitShapeIndex(s.instances.map((i) => i.shape), p);
      if (idx < 0) {
        // Near the selected outline: keep the selection so a double-click can insert a vertex.
        const nearEdge = sel && nearestEdge(sel.shape, p, deps.px(EDGE_PX));
        if (s.selected !== null && !nearEdge) store.dispatch((st) => select(st, null));
        deps.onMiss?.(p);
        return false;
      }
      const key = s.instances[idx].key;
      if (key !== s.selected) store.dispatch((st) => select(st, key));
      else if (s.vertex) store.dispatch((st) => select(st, key));
      gesture = { kind: "move", key, last: p, id: `move-${++seq}` };
      return true;
    },

    move(e, p) {
      const g = gesture;
      if (!g) return;
      if (g.kind === "vertex") {
        g.moved = true;
        store.dispatch((st) => dragVertex(st, g.key, g.ref, p, g.id));
      } else if (g.kind === "move") {
        const dx = p[0] - g.last[0];
        const dy = p[1] - g.last[1];
        g.last = p;
        store.dispatch((st) => moveInstance(st, g.key, dx, dy, g.id));
      } else if (g.kind === "sam") {
        if (!g.box && Math.hypot(e.clientX - g.sx, e.clientY - g.sy) > DRAG_PX && g.label === 1) g.box = true;
        if (g.box) {
          ui.rubberBand = [g.start[0], g.start[1], p[0], p[1]];
          deps.requestDraw();
        }
      }
    },

    up(_e, p) {
      const g = gesture;
      gesture = null;
      if (!g || g.kind !== "sam") return;
      if (g.box) {
        ui.rubberBand = null;
        store.dispatch((st) => samSetBox(st, [g.start[0], g.start[1], p[0], p[1]]));
      } else {
        store.dispatch((st) => samAddPoint(st, g.start, g.label));
      }
      deps.requestDraw();
      deps.onSamPrompt();
    },

    hover(_e, p) {
      const s = store.state;
      if (s.sam.armed || !ui.showInstances) return;
      const idx = hitShapeIndex(s.instances.map((i) => i.shape), p);
      const key = idx < 0 ? null : s.instances[idx].key;
      if (key !== ui.hover) {
        ui.hover = key;
        deps.requestDraw();
      }
    },

    dblclick(_e, p) {
      const s = store.state;
      const sel = selectedInstance(s);
      if (!sel || s.sam.armed) return;
      if (nearestVertex(sel.shape, p, deps.px(HANDLE_PX))) return;
      const edge = nearestEdge(sel.shape, p, deps.px(EDGE_PX));
      if (edge) store.dispatch((st) => insertVertex(st, sel.key, edge, edge.point));
    },
  };
}
