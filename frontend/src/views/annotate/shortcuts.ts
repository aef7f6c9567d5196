// The annotate view's keyboard: one table drives both the key handling and the `?` overlay.

import type { ToolUi } from "../../annotateTool";
import type { CanvasView } from "../../canvasView";
import { helpOpen, toggleHelp, type Shortcut } from "../../keyboard";
import { samAddPoint, samCancel, samHasPrompt } from "../../samSession";
import { moveSelected, selectAll } from "../../selection";
import {
  cycleSelection,
  cycleVertex,
  insertVertex,
  redo,
  samAccept,
  select,
  selectedInstance,
  selectedKeys,
  undo,
  type DrawTool,
  type EditorState,
  type LabelMode,
  type Store,
} from "../../store";
import { resizeBrush } from "../../tools/brush";
import { draftCancel, draftClose, draftUndo } from "../../tools/draw";
import type { Category, Point } from "../../types";
import type { AnnotateSaving } from "./saving";
import type { SamRequests } from "./samRequests";

export interface AnnotateKeys {
  store: Store<EditorState>;
  view: CanvasView;
  ui: ToolUi;
  tool: { dragVertexTo(s: EditorState, p: Point, gesture: string): EditorState };
  categories: readonly Category[];
  projectId: number;
  saving: AnnotateSaving;
  sam: SamRequests;
  /** The trust gate's suggestions: accept, accept all shown, reject, move between them. */
  modelShapes: { accept(): void; acceptAll(): void; reject(): void; cycle(step: 1 | -1): void };
  toggleSam(): void;
  setTool(tool: DrawTool): void;
  /** Bulk actions of the shapes panel (they tell about locked shapes they skip). */
  shapes: { deleteSelection(): void; toggleLock(): void; setDisplay(d: { labels?: LabelMode }): void };
  chooseCategory(id: number): void;
  submit(): Promise<void>;
  nextImage(): Promise<void>;
}

/** The annotate view's shortcut table, read afresh on every key (it depends on the state). */
export function annotateShortcuts(k: AnnotateKeys): () => Shortcut[] {
  const { store, view, ui, saving, sam } = k;

  // Arrows move the selected vertex, else the selected instance, else pan.
  const nudge = (dx: number, dy: number) => (e: KeyboardEvent) => {
    const step = e.shiftKey ? 10 : 1;
    const s = store.state;
    if (s.selected === null) {
      view.pan(-dx * 40, -dy * 40);
      return;
    }
    if (s.vertex) {
      const inst = selectedInstance(s)!;
      const [x, y] = inst.shape[s.vertex.poly][s.vertex.ring][s.vertex.index];
      const gesture = `key-vertex-${s.selected}-${s.vertex.poly}-${s.vertex.ring}-${s.vertex.index}`;
      store.dispatch((st) => k.tool.dragVertexTo(st, [x + dx * step, y + dy * step], gesture));
    } else {
      store.dispatch((st) => moveSelected(st, dx * step, dy * step, `key-move-${selectedKeys(s).join(",")}`));
    }
  };
  const drawing = () => store.state.draft.length > 0;
  const brushing = () => !store.state.sam.armed && (store.state.tool === "brush" || store.state.tool === "eraser");
  const nextLabels: Record<LabelMode, LabelMode> = { always: "hover", hover: "selection", selection: "always" };
  const tool = (keys: string, t: DrawTool, label: string): Shortcut => ({ keys, label, group: "Tools", run: () => k.setTool(t) });

  const table = (): Shortcut[] => {
    const conflict = saving.conflictShortcuts();
    if (conflict.length > 0) return conflict;
    return [
      { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Annotate", table()) },
      { keys: "escape", label: "Close help · drop the polygon being drawn · cancel SAM object · leave SAM · deselect", run: () => {
        if (helpOpen()) return toggleHelp("", []);
        const st = store.state;
        if (st.draft.length > 0) store.dispatch(draftCancel);
        else if (st.sam.armed && (samHasPrompt(st) || st.sam.preview)) { sam.drop(); store.dispatch(samCancel); }
        else if (st.sam.armed) k.toggleSam();
        else store.dispatch((x) => select(x, null));
      } },
      { keys: "ctrl+z", label: "Undo", group: "Edit", run: () => store.dispatch(undo) },
      { keys: "ctrl+shift+z / ctrl+y", label: "Redo", group: "Edit", run: () => store.dispatch(redo) },
      { keys: "ctrl+s", label: "Save now", group: "Edit", run: () => void saving.flush() },
      { keys: "1-9", label: "Category of the selection (or of the next new shape)", group: "Edit",
        match: (e) => /^[1-9]$/.test(e.key) && !e.ctrlKey && !e.altKey, run: (e) => { const c = k.categories[Number(e.key) - 1]; if (c) k.chooseCategory(c.id); } },
      { keys: "delete / backspace", label: "Delete the selected vertex, else every selected unlocked shape (Backspace while drawing a polygon: its last vertex)", group: "Edit",
        run: (e) => (e.key === "Backspace" && drawing() ? store.dispatch(draftUndo) : k.shapes.deleteSelection()) },
      { keys: "k", label: "Lock / unlock the selected shapes (locked: not picked, moved, edited or deleted)", group: "Edit", run: () => k.shapes.toggleLock() },
      { keys: "i", label: "Insert a vertex after the selected one (edge midpoint)", group: "Edit", run: () => {
        const st = store.state; const inst = selectedInstance(st);
        if (!inst || !st.vertex) return;
        const ring = inst.shape[st.vertex.poly][st.vertex.ring];
        const a = ring[st.vertex.index]; const b = ring[(st.vertex.index + 1) % ring.length];
        store.dispatch((x) => insertVertex(x, inst.key, st.vertex!, [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]));
      } },
      { keys: "arrows", label: "Move the selection by 1 px (Shift: 10 px); pan when nothing is selected", group: "Edit",
        match: (e) => e.key.startsWith("Arrow") && !e.ctrlKey,
        run: (e) => nudge(e.key === "ArrowLeft" ? -1 : e.key === "ArrowRight" ? 1 : 0, e.key === "ArrowUp" ? -1 : e.key === "ArrowDown" ? 1 : 0)(e) },
      { keys: "tab / shift+tab", label: "Select the next / previous instance", group: "Select",
        match: (e) => e.key === "Tab" && !e.ctrlKey, run: (e) => store.dispatch((x) => cycleSelection(x, e.shiftKey ? -1 : 1)) },
      { keys: "ctrl+a", label: "Select every shown, unlocked shape", group: "Select", run: () => store.dispatch(selectAll) },
      { keys: "shift+click", label: "Add a shape to the selection, or take it out", group: "Select", match: () => false, run: () => {} },
      { keys: "drag on empty canvas", label: "Select the shapes inside the band (Shift: add them)", group: "Select", match: () => false, run: () => {} },
      { keys: "drag a selected shape", label: "Move the selection (an unselected shape is selected first, never moved)", group: "Select", match: () => false, run: () => {} },
      { keys: "] / [", label: "Select the next / previous vertex (brush, eraser: bigger / smaller)", group: "Select",
        match: (e) => (e.key === "]" || e.key === "[") && !e.ctrlKey,
        run: (e) => store.dispatch((x) => (brushing() ? resizeBrush(x, e.key === "]" ? 1 : -1) : cycleVertex(x, e.key === "]" ? 1 : -1))) },
      tool("v", "select", "Select and move"),
      tool("l", "polygon", "Polygon: click vertices; click the first one, double-click or Enter closes"),
      tool("r", "rectangle", "Rectangle: drag from corner to corner"),
      tool("b", "brush", "Brush: paint into the selected shape (nothing selected: a new shape)"),
      tool("e", "eraser", "Eraser: rub out of the selected shape"),
      { keys: "s", label: "SAM mode on / off (with a selection: refine it)", group: "SAM", run: () => k.toggleSam() },
      { keys: "p / shift+p", label: "SAM: positive / negative point at the mouse", group: "SAM", run: (e) => {
        if (!store.state.sam.armed || !view.pointer) return;
        store.dispatch((x) => samAddPoint(x, view.pointer!, e.shiftKey ? 0 : 1)); void sam.run();
      } },
      { keys: "enter", label: "Close the polygon being drawn; SAM: accept the preview, stay armed", group: "SAM",
        run: () => store.dispatch((x) => (x.draft.length > 0 ? draftClose(x) : samAccept(x))) },
      { keys: "a", label: "Accept the highlighted suggestion", group: "Suggestions", run: () => k.modelShapes.accept() },
      { keys: "shift+a", label: "Accept every suggestion shown", group: "Suggestions", run: () => k.modelShapes.acceptAll() },
      { keys: "x", label: "Reject the highlighted suggestion", group: "Suggestions", run: () => k.modelShapes.reject() },
      { keys: ". / ,", label: "Highlight the next / previous suggestion", group: "Suggestions",
        match: (e) => (e.key === "." || e.key === ",") && !e.ctrlKey, run: (e) => k.modelShapes.cycle(e.key === "." ? 1 : -1) },
      { keys: "ctrl+enter", label: "Submit and open the next image", group: "Workflow", run: () => void k.submit() },
      { keys: "n", label: "Next image (saves, releases this one)", group: "Workflow", run: () => void k.nextImage() },
      { keys: "h", label: "Hide / show the instances", group: "View", run: () => { ui.showInstances = !ui.showInstances; view.requestDraw(); } },
      { keys: "f", label: "Fit the image", group: "View", run: () => view.fit() },
      { keys: "= / +", label: "Zoom in", group: "View", match: (e) => (e.key === "=" || e.key === "+") && !e.ctrlKey, run: () => view.zoom(1.25) },
      { keys: "-", label: "Zoom out", group: "View", match: (e) => e.key === "-" && !e.ctrlKey, run: () => view.zoom(0.8) },
      { keys: "space + drag", label: "Pan in any tool (also: the middle button)", group: "View", match: () => false, run: () => {} },
      { keys: "t", label: "Labels: always → on hover and selection → selection only", group: "View",
        run: () => k.shapes.setDisplay({ labels: nextLabels[store.state.labels] }) },
      { keys: "g", label: "Back to the dashboard", group: "Workflow", run: () => (location.hash = `#/projects/${k.projectId}`) },
    ];
  };
  return table;
}
