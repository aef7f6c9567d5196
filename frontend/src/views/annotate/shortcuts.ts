// The annotate view's keyboard: one table drives both the key handling and the `?` overlay.

import type { ToolUi } from "../../annotateTool";
import type { CanvasView } from "../../canvasView";
import { helpOpen, toggleHelp, type Shortcut } from "../../keyboard";
import { samAddPoint, samCancel, samHasPrompt } from "../../samSession";
import {
  cycleSelection,
  cycleVertex,
  deleteSelection,
  insertVertex,
  moveInstance,
  redo,
  samAccept,
  select,
  selectedInstance,
  undo,
  type EditorState,
  type Store,
} from "../../store";
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
      store.dispatch((st) => moveInstance(st, s.selected!, dx * step, dy * step, `key-move-${s.selected}`));
    }
  };

  const table = (): Shortcut[] => {
    const conflict = saving.conflictShortcuts();
    if (conflict.length > 0) return conflict;
    return [
      { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Annotate", table()) },
      { keys: "escape", label: "Close help · cancel SAM object · leave SAM · deselect", run: () => {
        if (helpOpen()) return toggleHelp("", []);
        const st = store.state;
        if (st.sam.armed && (samHasPrompt(st) || st.sam.preview)) { sam.drop(); store.dispatch(samCancel); }
        else if (st.sam.armed) k.toggleSam();
        else store.dispatch((x) => select(x, null));
      } },
      { keys: "ctrl+z", label: "Undo", group: "Edit", run: () => store.dispatch(undo) },
      { keys: "ctrl+shift+z / ctrl+y", label: "Redo", group: "Edit", run: () => store.dispatch(redo) },
      { keys: "ctrl+s", label: "Save now", group: "Edit", run: () => void saving.flush() },
      { keys: "1-9", label: "Category of the selection (or of the next new shape)", group: "Edit",
        match: (e) => /^[1-9]$/.test(e.key) && !e.ctrlKey && !e.altKey, run: (e) => { const c = k.categories[Number(e.key) - 1]; if (c) k.chooseCategory(c.id); } },
      { keys: "delete / backspace", label: "Delete the selected vertex, else the selected instance", group: "Edit", run: () => store.dispatch(deleteSelection) },
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
      { keys: "] / [", label: "Select the next / previous vertex", group: "Select",
        match: (e) => e.key === "]" || e.key === "[", run: (e) => store.dispatch((x) => cycleVertex(x, e.key === "]" ? 1 : -1)) },
      { keys: "s", label: "SAM mode on / off (with a selection: refine it)", group: "SAM", run: () => k.toggleSam() },
      { keys: "p / shift+p", label: "SAM: positive / negative point at the mouse", group: "SAM", run: (e) => {
        if (!store.state.sam.armed || !view.pointer) return;
        store.dispatch((x) => samAddPoint(x, view.pointer!, e.shiftKey ? 0 : 1)); void sam.run();
      } },
      { keys: "enter", label: "SAM: accept the preview, stay armed", group: "SAM", run: () => store.dispatch(samAccept) },
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
      { keys: "space + drag", label: "Pan (also: middle button, or drag on empty image)", group: "View", match: () => false, run: () => {} },
      { keys: "g", label: "Back to the dashboard", group: "Workflow", run: () => (location.hash = `#/projects/${k.projectId}`) },
    ];
  };
  return table;
}
