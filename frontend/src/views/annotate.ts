// The annotate view: wires the editor store, the canvas and its pointer tool (../annotateTool.ts)
// to the parts in ./annotate/: lease, SAM requests, toolbar, side panel, saving, shortcuts.
// Submit and Next save first, then open the next image from the queue.

import { ApiError, api } from "../api";
import { createAnnotateTool, createToolUi } from "../annotateTool";
import { CanvasView } from "../canvasView";
import { clear, errorMessage, h, toast } from "../dom";
import { bindShortcuts, toggleHelp } from "../keyboard";
import type { Scene } from "../render";
import { samArm } from "../samSession";
import { setSelectedCategory, toggleLocked, toggleSelected } from "../selection";
import { createEditor, redo, samAccept, select, selectedKeys, setActiveCategory, undo, Store, type DrawTool, type EditorState } from "../store";
import { resizeBrush } from "../tools/brush";
import { setTool } from "../tools/draw";
import type { Category, ImageRecord } from "../types";
import { claimNext, ImageLease } from "./annotate/lease";
import { RefineOffer, rejectionBanner } from "./annotate/notices";
import { PrelabelWatch } from "./annotate/prelabels";
import { mountReadOnly } from "./annotate/readOnly";
import { SamRequests } from "./annotate/samRequests";
import { AnnotateSaving } from "./annotate/saving";
import { ModelShapes } from "./annotate/modelShapes";
import { imageNavigation, withNavigation } from "./annotate/navigation";
import { loadDisplay, ShapesPanel } from "./annotate/shapesPanel";
import { annotateShortcuts } from "./annotate/shortcuts";
import { SidePanel } from "./annotate/sidePanel";
import { annotateToolbar } from "./annotate/toolbar";
import type { Cleanup, ViewContext } from "./view";

export async function mountAnnotateNext({ root }: ViewContext, projectId: number): Promise<Cleanup> {
  root.append(h("p", { class: "muted" }, "Fetching the next image…"));
  const img = await claimNext(projectId);
  if (!img) {
    clear(root);
    root.append(
      h("div", { class: "empty", "data-testid": "queue-empty" }, h("h2", {}, "The queue is empty"), h("p", {}, "Nothing is left to annotate in this project."),
        h("a", { class: "button", href: `#/projects/${projectId}` }, "Back to the dashboard")),
    );
    return () => {};
  }
  location.replace(`#/images/${img.id}/annotate`);
  return () => {};
}

export async function mountAnnotate({ root }: ViewContext, imageId: number): Promise<Cleanup> {
  const image: ImageRecord = await api.image(imageId);
  const [project, set, suggested, engine, review] = await Promise.all([
    api.project(image.project),
    api.annotations(imageId),
    api.suggestions(imageId).catch(() => null), // an older server: no model shapes panel
    api.promptEngine(image.project).catch(() => null),
    api.reviewState(imageId).catch(() => null),
  ]);
  const categories = new Map<number, Category>(project.categories.map((c) => [c.id, c]));
  const catList = project.categories;
  const lease = await ImageLease.hold(imageId, image.lease);
  if (lease.heldBy) return mountReadOnly(root, image, project, set, lease.heldBy); // another annotator holds it

  // --- state ---
  const store = new Store<EditorState>(
    { ...createEditor({ imageId, width: image.width, height: image.height, version: set.version, annotations: set.annotations, activeCategory: catList[0]?.id ?? 0 }), ...loadDisplay(localStorage) },
  );
  const ui = createToolUi();

  const scene = (): Scene => {
    const s = store.state;
    return {
      width: image.width,
      height: image.height,
      instances: s.instances,
      selected: s.selected,
      vertex: s.vertex,
      hover: ui.hover,
      categories,
      sam: s.sam,
      overlay: null,
      showInstances: ui.showInstances,
      rubberBand: ui.rubberBand,
      ghosts: modelShapes.ghosts(s),
      selection: s.group ? new Set(selectedKeys(s)) : undefined,
      locked: s.locked,
      hiddenCategories: s.hidden,
      opacity: s.opacity,
      labels: s.labels,
      drawing: s.tool === "select" || s.sam.armed ? null
        : { tool: s.tool, draft: s.draft, cursor: ui.cursor, rect: ui.rect, stroke: ui.stroke, brush: s.brush, color: categories.get(s.activeCategory)?.color ?? "#ff00ff" },
    };
  };

  // --- parts ---
  const side = new SidePanel(categories,
    (key, e) => store.dispatch((st) => (e.shiftKey ? toggleSelected(st, key) : select(st, key))),
    (key) => store.dispatch((st) => toggleLocked(st, [key])));
  const shapes = new ShapesPanel(store, catList);
  side.samStatus.after(shapes.el);
  const modelShapes = new ModelShapes(store, imageId, categories, suggested, () => view.requestDraw());
  side.samStatus.after(modelShapes.el);
  const sam = new SamRequests(store, imageId, side.samStatus);
  const tool = createAnnotateTool({ store, ui, requestDraw: () => view.requestDraw(), px: (n) => view.px(n), onSamPrompt: () => void sam.run(), onMiss: (p) => modelShapes.highlightAt(p) });
  const view = new CanvasView(image.width, image.height, scene, tool);
  const saving = new AnnotateSaving(store, imageId);
  const prelabels = new PrelabelWatch(store, imageId, () => saving.saver.resolved());
  saving.onPreLabels = () => void prelabels.landed();
  const refine = new RefineOffer(store, categories);

  // --- actions ---
  function toggleSam(): void {
    sam.drop();
    store.dispatch((s) => samArm(setTool(s, "select"), !s.sam.armed));
  }

  function chooseTool(tool: DrawTool): void {
    sam.drop();
    store.dispatch((s) => setTool(s, tool));
    view.canvas.focus({ preventScroll: true });
  }

  function chooseCategory(id: number): void {
    store.dispatch((s) => (s.selected !== null && !s.sam.armed ? setSelectedCategory(s, id) : setActiveCategory(s, id)));
  }

  async function goNext(): Promise<void> {
    const img = await claimNext(project.id);
    if (!img) {
      location.hash = `#/projects/${project.id}/annotate`;
      return;
    }
    if (img.id === imageId) {
      toast("This is the only image left in your queue.");
      return;
    }
    lease.handOn();
    location.hash = `#/images/${img.id}/annotate`;
  }

  async function submit(): Promise<void> {
    if (store.state.sam.preview) store.dispatch(samAccept);
    if (!(await saving.flushBeforeLeaving())) return;
    try {
      await api.submit(imageId, store.state.version);
      toast(`Submitted ${image.name}`);
      await goNext();
    } catch (e) {
      if (e instanceof ApiError && e.isConflict) saving.showConflict(Number(e.extra.current_version ?? NaN));
      else toast(`Submit failed: ${errorMessage(e)}`, "error");
    }
  }

  async function nextImage(): Promise<void> {
    if (!(await saving.flushBeforeLeaving())) return;
    await lease.release();
    await goNext();
  }

  const table = annotateShortcuts({ store, view, ui, tool, categories: catList, projectId: project.id, saving, sam, modelShapes, toggleSam, setTool: chooseTool, shapes, chooseCategory, submit, nextImage });
  const nav = imageNavigation({ imageId, projectId: project.id, flushBeforeLeaving: () => saving.flushBeforeLeaving() });
  const keys = withNavigation(table, nav, () => saving.conflictShortcuts().length > 0); // + previous / next
  const toolbar = annotateToolbar({
    project,
    image,
    saveStatus: saving.statusEl,
    lease: lease.el,
    engine,
    actions: {
      undo: () => store.dispatch(undo),
      redo: () => store.dispatch(redo),
      toggleSam,
      setTool: chooseTool,
      resizeBrush: (step) => store.dispatch((s) => resizeBrush(s, step)),
      fit: () => view.fit(),
      next: () => void nextImage(),
      submit: () => void submit(),
      help: () => toggleHelp("Annotate", keys()),
      chooseCategory,
    },
  });

  toolbar.toolbar.querySelector(".image-name")?.after(nav.el);
  root.classList.add("annotate");
  root.append(toolbar.toolbar, toolbar.palette, rejectionBanner(review?.rejection) ?? "", prelabels.el, refine.el, saving.draftHost,
    h("div", { class: "workspace" }, view.el, side.el), saving.dialogHost);
  void prelabels.start();

  // --- the chrome is redrawn from state ---
  const renderChrome = (s: EditorState, prev: EditorState | null) => {
    toolbar.render(s);
    root.classList.toggle("sam-armed", s.sam.armed);
    root.dataset.tool = s.sam.armed ? "sam" : s.tool;
    side.render(s, prev);
    shapes.render(s, prev);
    if (!prev || prev.instances !== s.instances || prev.hidden !== s.hidden) modelShapes.render(s);
  };
  store.subscribe((s, prev) => {
    renderChrome(s, prev);
    view.requestDraw();
  });
  renderChrome(store.state, null);
  view.onViewport = (v) => toolbar.setZoom(v.scale);
  toolbar.setZoom(view.viewport.scale);
  const unbind = bindShortcuts(keys);

  // --- leaving ---
  const onPageHide = () => {
    saving.onPageHide();
    lease.releaseOnPageHide();
  };
  const onBeforeUnload = (e: BeforeUnloadEvent) => saving.onBeforeUnload(e);
  window.addEventListener("pagehide", onPageHide);
  window.addEventListener("beforeunload", onBeforeUnload);

  await view.loadImage(image.file_url).catch((e) => toast(`Image: ${errorMessage(e)}`, "error"));
  view.canvas.focus();
  (window as unknown as { __annotator?: unknown }).__annotator = { store, view, saver: saving.saver, modelShapes };

  return async () => {
    unbind();
    lease.stopRenewing();
    sam.dispose();
    prelabels.dispose();
    refine.dispose();
    window.removeEventListener("pagehide", onPageHide);
    window.removeEventListener("beforeunload", onBeforeUnload);
    await saving.leave();
    await lease.releaseOnLeave();
    saving.dispose();
    view.dispose();
    delete (window as unknown as { __annotator?: unknown }).__annotator;
  };
}
