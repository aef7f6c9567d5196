// Pointer gestures of the annotate view, turned into store updates. The tool in the editor
// state decides what a press does:
// - select: click selects (Shift-click adds or removes), drag on empty canvas draws a rubber
//   band, drag a *selected* shape moves the selection (an unselected shape is only selected,
//   never moved), drag a handle moves a vertex, Alt-click or right-click a handle deletes it,
//   double-click an edge inserts a vertex. Locked and hidden shapes are not picked.
// - polygon: click adds a vertex, a click on the first vertex (or a double click) closes it.
// - rectangle: drag from corner to corner.
// - brush / eraser: drag paints into / rubs out of the selected shape (./tools/brush.ts).
// SAM (armed): click = positive, right/Shift-click = negative, drag = box.
// Space + drag and the middle button pan in every mode (./canvasView.ts).

import type { PointerTool } from "./canvasView";
import { hitShapeIndex, nearestEdge, nearestVertex, type BBox, type VertexRef } from "./geometry";
import { moveSelected, selectInBox, toggleSelected } from "./selection";
import {
  deleteVertex,
  dragVertex,
  insertVertex,
  isPickable,
  select,
  selectedInstance,
  selectedKeys,
  type EditorState,
  type Instance,
  type Store,
} from "./store";
import { samAddPoint, samSetBox } from "./samSession";
import { applyStroke } from "./tools/brush";
import { addRectangle, draftAdd, draftClose } from "./tools/draw";
import type { Point } from "./types";

export interface ToolUi {
  hover: string | null;
  /** The SAM box or the selection band being dragged. */
  rubberBand: BBox | null;
  showInstances: boolean;
  /** The pointer over the canvas (image pixels): the polygon's next edge, the brush ring. */
  cursor: Point | null;
  /** The rectangle being dragged. */
  rect: BBox | null;
  /** The brush or eraser stroke being drawn. */
  stroke: Point[] | null;
}

export function createToolUi(): ToolUi {
  return { hover: null, rubberBand: null, showInstances: true, cursor: null, rect: null, stroke: null };
}

const HANDLE_PX = 7;
const EDGE_PX = 6;
const DRAG_PX = 4;

type Gesture =
  | { kind: "vertex"; key: string; ref: VertexRef; id: string; moved: boolean }
  | { kind: "move"; key: string; last: Point; id: string; moved: boolean }
  | { kind: "sam"; start: Point; sx: number; sy: number; label: 0 | 1; box: boolean }
  | { kind: "band"; start: Point; sx: number; sy: number; add: boolean; active: boolean }
  | { kind: "rect"; start: Point; sx: number; sy: number }
  | { kind: "stroke"; erase: boolean }
  | { kind: "none" };

/** The topmost shape under p that the canvas may pick (shown, unlocked), or null. */
export function pickAt(s: EditorState, p: Point): Instance | null {
  const pickable = s.instances.filter((i) => isPickable(s, i));
  const idx = hitShapeIndex(pickable.map((i) => i.shape), p);
  return idx < 0 ? null : pickable[idx];
}

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
  const moved = (e: PointerEvent, g: { sx: number; sy: number }) => Math.hypot(e.clientX - g.sx, e.clientY - g.sy) > DRAG_PX;

  function downSelect(e: PointerEvent, p: Point): boolean {
    const s = store.state;
    const sel = selectedInstance(s);
    if (sel && ui.showInstances && isPickable(s, sel)) {
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
    const hit = pickAt(s, p);
    if (!hit) {
      // Near the selected outline: keep the selection so a double-click can insert a vertex.
      const nearEdge = sel && nearestEdge(sel.shape, p, deps.px(EDGE_PX));
      if (s.selected !== null && !nearEdge && !e.shiftKey) store.dispatch((st) => select(st, null));
      deps.onMiss?.(p);
      gesture = { kind: "band", start: p, sx: e.clientX, sy: e.clientY, add: e.shiftKey, active: false };
      return true;
    }
    gesture = { kind: "none" };
    if (e.shiftKey) {
      store.dispatch((st) => toggleSelected(st, hit.key));
    } else if (selectedKeys(s).includes(hit.key)) {
      if (s.vertex) store.dispatch((st) => ({ ...st, vertex: null, gesture: null }));
      gesture = { kind: "move", key: hit.key, last: p, id: `move-${++seq}`, moved: false };
    } else {
      store.dispatch((st) => select(st, hit.key)); // selected, not moved: a second drag moves it
    }
    return true;
  }

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
      if (s.tool === "select") return downSelect(e, p);
      if (e.button !== 0) return false;
      if (s.tool === "polygon") {
        store.dispatch((st) => draftAdd(st, p, deps.px(HANDLE_PX)));
        gesture = { kind: "none" };
      } else if (s.tool === "rectangle") {
        gesture = { kind: "rect", start: p, sx: e.clientX, sy: e.clientY };
      } else {
        ui.stroke = [p];
        gesture = { kind: "stroke", erase: s.tool === "eraser" };
      }
      deps.requestDraw();
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
        g.moved = true;
        store.dispatch((st) => moveSelected(st, dx, dy, g.id));
      } else if (g.kind === "sam") {
        if (!g.box && moved(e, g) && g.label === 1) g.box = true;
        if (g.box) {
          ui.rubberBand = [g.start[0], g.start[1], p[0], p[1]];
          deps.requestDraw();
        }
      } else if (g.kind === "band") {
        if (!g.active && moved(e, g)) g.active = true;
        if (g.active) {
          ui.rubberBand = [g.start[0], g.start[1], p[0], p[1]];
          deps.requestDraw();
        }
      } else if (g.kind === "rect") {
        ui.rect = [g.start[0], g.start[1], p[0], p[1]];
        deps.requestDraw();
      } else if (g.kind === "stroke" && ui.stroke) {
        ui.cursor = p;
        const last = ui.stroke[ui.stroke.length - 1];
        if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= Math.max(0.5, store.state.brush / 4)) ui.stroke.push(p);
        deps.requestDraw();
      }
    },

    up(e, p) {
      const g = gesture;
      gesture = null;
      if (!g) return;
      if (g.kind === "sam") {
        if (g.box) {
          ui.rubberBand = null;
          store.dispatch((st) => samSetBox(st, [g.start[0], g.start[1], p[0], p[1]]));
        } else {
          store.dispatch((st) => samAddPoint(st, g.start, g.label));
        }
        deps.requestDraw();
        deps.onSamPrompt();
      } else if (g.kind === "band") {
        if (g.active) {
          ui.rubberBand = null;
          store.dispatch((st) => selectInBox(st, [g.start[0], g.start[1], p[0], p[1]], g.add));
          deps.requestDraw();
        }
      } else if (g.kind === "move") {
        // A click (no drag) on one shape of a multi-selection selects just that one.
        if (!g.moved && selectedKeys(store.state).length > 1) store.dispatch((st) => select(st, g.key));
      } else if (g.kind === "rect") {
        ui.rect = null;
        if (moved(e, g)) store.dispatch((st) => addRectangle(st, g.start, p));
        deps.requestDraw();
      } else if (g.kind === "stroke") {
        const stroke = ui.stroke ?? [];
        ui.stroke = null;
        store.dispatch((st) => applyStroke(st, stroke, g.erase));
        deps.requestDraw();
      }
    },

    hover(_e, p) {
      const s = store.state;
      if (s.tool !== "select") {
        ui.cursor = p;
        deps.requestDraw();
      }
      if (s.sam.armed || !ui.showInstances) return;
      const key = pickAt(s, p)?.key ?? null;
      if (key !== ui.hover) {
        ui.hover = key;
        deps.requestDraw();
      }
    },

    leave() {
      if (ui.cursor === null && ui.hover === null) return;
      ui.cursor = null;
      ui.hover = null;
      deps.requestDraw();
    },

    dblclick(_e, p) {
      const s = store.state;
      if (s.sam.armed) return;
      if (s.tool === "polygon") {
        if (s.draft.length >= 3) store.dispatch(draftClose);
        return;
      }
      const sel = selectedInstance(s);
      if (s.tool !== "select" || !sel || !isPickable(s, sel)) return;
      if (nearestVertex(sel.shape, p, deps.px(HANDLE_PX))) return;
      const edge = nearestEdge(sel.shape, p, deps.px(EDGE_PX));
      if (edge) store.dispatch((st) => insertVertex(st, sel.key, edge, edge.point));
    },
  };
}
