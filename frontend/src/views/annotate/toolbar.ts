// The annotate view's toolbar (back link, image name, save and lease status, undo/redo, Next,
// Submit, help) and below it the tools (select, polygon, rectangle, brush, eraser, SAM, the
// brush size, the zoom level) and the category palette, all redrawn from the editor state.

import { h } from "../../dom";
import { canRedo, canUndo, selectedInstance, type DrawTool, type EditorState } from "../../store";
import type { Category, ImageRecord, Project, PromptEngineInfo } from "../../types";
import { zoomText } from "../../viewport";

export interface ToolbarActions {
  undo(): void;
  redo(): void;
  toggleSam(): void;
  setTool(tool: DrawTool): void;
  /** `[` / `]`: the brush and eraser radius. */
  resizeBrush(step: 1 | -1): void;
  fit(): void;
  next(): void;
  submit(): void;
  help(): void;
  chooseCategory(id: number): void;
}

export interface Toolbar {
  toolbar: HTMLElement;
  palette: HTMLElement;
  render(s: EditorState): void;
  /** The zoom read-out: `scale` is CSS pixels per image pixel (1 = 100 %). */
  setZoom(scale: number): void;
}

/** The tools, their keys and what the button says. */
export const TOOLS: { tool: DrawTool; key: string; label: string; title: string }[] = [
  { tool: "select", key: "V", label: "Select", title: "Select and move (V). Shift-click adds, drag on empty canvas selects inside a band; hold Space to pan" },
  { tool: "polygon", key: "L", label: "Polygon", title: "Polygon (L): click the vertices, click the first one or press Enter to close, Backspace takes one back, Esc cancels" },
  { tool: "rectangle", key: "R", label: "Rectangle", title: "Rectangle (R): drag from corner to corner" },
  { tool: "brush", key: "B", label: "Brush", title: "Brush (B): paint into the selected shape (with none selected: a new shape); [ and ] change the size" },
  { tool: "eraser", key: "E", label: "Eraser", title: "Eraser (E): rub out of the selected shape; [ and ] change the size" },
];

export function annotateToolbar(opts: {
  project: Project;
  image: ImageRecord;
  /** Status elements owned by the saving and the lease. */
  saveStatus: HTMLElement;
  lease: HTMLElement;
  /** The click engine that runs, and why (null: the server did not say). */
  engine?: PromptEngineInfo | null;
  actions: ToolbarActions;
}): Toolbar {
  const { project, image, actions } = opts;
  const undoBtn = h("button", { type: "button", title: "Undo (Ctrl+Z)", "data-testid": "undo", onclick: () => actions.undo() }, "↶ Undo");
  const redoBtn = h("button", { type: "button", title: "Redo (Ctrl+Shift+Z)", "data-testid": "redo", onclick: () => actions.redo() }, "↷ Redo");
  const engine = opts.engine;
  const samBtn = h("button", { type: "button", title: engine ? `Click tool (S): ${engine.label}, ${engine.reason}` : "SAM click tool (S); with a selection: refine it", "data-testid": "sam-toggle",
    "data-engine": engine?.engine, onclick: () => actions.toggleSam() }, engine ? `${engine.label} (S)` : "SAM (S)");
  const submitBtn = h("button", { type: "button", class: "primary", title: "Submit and go to the next image (Ctrl+Enter)", "data-testid": "submit", onclick: () => actions.submit() }, "Submit (Ctrl+Enter)");
  const nextBtn = h("button", { type: "button", title: "Skip to the next image (N)", "data-testid": "next", onclick: () => actions.next() }, "Next (N)");
  const toolBtns = TOOLS.map((t) =>
    h("button", { type: "button", title: t.title, "data-testid": `tool-${t.tool}`, "data-tool": t.tool, "aria-pressed": "false", onclick: () => actions.setTool(t.tool) }, `${t.label} (${t.key})`));
  const brushValue = h("span", { class: "brush-value", "data-testid": "brush-size" });
  const brush = h("span", { class: "brush-size", title: "Brush and eraser radius in image pixels ([ and ])" },
    h("button", { type: "button", "aria-label": "Smaller brush ([)", onclick: () => actions.resizeBrush(-1) }, "−"), brushValue,
    h("button", { type: "button", "aria-label": "Bigger brush (])", onclick: () => actions.resizeBrush(1) }, "+"));
  const zoom = h("button", { type: "button", class: "zoom-level", "data-testid": "zoom-level", title: "Zoom: 100 % shows one image pixel per screen pixel. Click or F fits the image; + and − zoom", onclick: () => actions.fit() }, "100 %");
  const categoryBtns = project.categories.map((c: Category, i) => h("button", { type: "button", "data-category": c.id, title: `${c.name} (${i + 1})`, onclick: () => actions.chooseCategory(c.id) },
    h("span", { class: "swatch", style: `background:${c.color}` }), `${i + 1} ${c.name}`));
  const palette = h("div", { class: "palette" },
    h("span", { class: "tools", role: "toolbar", "aria-label": "Tools" }, toolBtns, samBtn, brush),
    h("span", { class: "sep" }),
    h("span", { class: "categories-bar", role: "toolbar", "aria-label": "Categories" }, categoryBtns),
    h("span", { class: "spacer" }),
    zoom);

  const toolbar = h("div", { class: "toolbar" },
    h("a", { href: `#/projects/${project.id}`, title: "Back to the dashboard" }, "← ", project.name),
    h("strong", { class: "image-name", "data-testid": "image-name" }, image.name),
    opts.saveStatus, opts.lease,
    h("span", { class: "spacer" }),
    undoBtn, redoBtn,
    engine ? h("span", { class: "muted small engine-reason", "data-testid": "engine-reason" }, engine.reason) : null,
    nextBtn, submitBtn,
    h("button", { type: "button", title: "Keyboard shortcuts (?)", onclick: () => actions.help() }, "?"),
  );

  const render = (s: EditorState) => {
    undoBtn.disabled = !canUndo(s);
    redoBtn.disabled = !canRedo(s);
    samBtn.classList.toggle("active", s.sam.armed);
    for (const b of toolBtns) {
      const on = !s.sam.armed && b.dataset.tool === s.tool;
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", String(on));
    }
    brush.hidden = s.tool !== "brush" && s.tool !== "eraser";
    brushValue.textContent = `${s.brush} px`;
    // The palette marks the selection's category, or the one the next new shape gets.
    const sel = selectedInstance(s);
    for (const b of categoryBtns) {
      const id = Number(b.dataset.category);
      b.classList.toggle("active", id === (sel ? sel.category : s.activeCategory));
    }
  };
  let zoomShown = "";
  const setZoom = (scale: number) => {
    const text = zoomText(scale);
    if (text !== zoomShown) zoom.textContent = zoomShown = text;
  };
  return { toolbar, palette, render, setZoom };
}
