// The annotate view: queue lease, canvas editing, SAM prompts, autosave with conflict
// handling, submit → next image. Pointer gestures live in ../annotateTool.ts.

import { ApiError, api } from "../api";
import { AutoSaver, type SaveStatus } from "../autosave";
import { createAnnotateTool, type ToolUi } from "../annotateTool";
import { CanvasView } from "../canvasView";
import { clear, errorMessage, h, toast } from "../dom";
import { bindShortcuts, helpOpen, toggleHelp, type Shortcut } from "../keyboard";
import type { Cleanup, ViewContext } from "./view";
import type { Scene } from "../render";
import {
  adoptVersion,
  canRedo,
  canUndo,
  createEditor,
  cycleSelection,
  cycleVertex,
  deleteSelection,
  insertVertex,
  isDirty,
  loadServerSet,
  moveInstance,
  redo,
  restoreInstances,
  samAccept,
  select,
  selectedInstance,
  setActiveCategory,
  setCategory,
  undo,
  Store,
  type EditorState,
} from "../store";
import { samAddPoint, samArm, samCancel, samHasPrompt, samRequest, samSetMessage, samSetPreview } from "../samSession";
import type { Category, ImageRecord } from "../types";
import { vertexCount } from "../geometry";
import { clearDraft, loadDraft, saveDraft } from "../drafts";

const LEASE_RENEW_MS = 60_000;
const EMBEDDING_POLL_MS = 700;

/** Images claimed through the queue, so opening them does not claim twice. */
const claimed = new Set<number>();

export async function mountAnnotateNext({ root }: ViewContext, projectId: number): Promise<Cleanup> {
  root.append(h("p", { class: "muted" }, "Fetching the next image…"));
  const img = await api.queueNext(projectId);
  if (!img) {
    clear(root);
    root.append(
      h("div", { class: "empty", "data-testid": "queue-empty" }, h("h2", {}, "The queue is empty"), h("p", {}, "Nothing is left to annotate in this project."),
        h("a", { class: "button", href: `#/projects/${projectId}` }, "Back to the dashboard")),
    );
    return () => {};
  }
  claimed.add(img.id);
  location.replace(`#/images/${img.id}/annotate`);
  return () => {};
}

export async function mountAnnotate({ root }: ViewContext, imageId: number): Promise<Cleanup> {
  const image: ImageRecord = await api.image(imageId);
  const [project, set] = await Promise.all([api.project(image.project), api.annotations(imageId)]);
  const categories = new Map<number, Category>(project.categories.map((c) => [c.id, c]));
  const catList = project.categories;

  // --- lease ---
  const leaseEl = h("span", { class: "lease muted", "data-testid": "lease" });
  const renew = async () => {
    try {
      const r = await api.renewLease(imageId);
      leaseEl.textContent = r.lease ? `Leased until ${new Date(r.lease.expires_at).toLocaleTimeString()}` : "";
      leaseEl.classList.remove("warn");
    } catch (e) {
      leaseEl.textContent = `Lease: ${errorMessage(e)}`;
      leaseEl.classList.add("warn");
    }
  };
  if (claimed.has(imageId)) {
    claimed.delete(imageId);
    leaseEl.textContent = image.lease ? `Leased until ${new Date(image.lease.expires_at).toLocaleTimeString()}` : "";
  } else {
    await renew();
  }
  const leaseTimer = setInterval(() => void renew(), LEASE_RENEW_MS);

  // --- state ---
  const store = new Store<EditorState>(
    createEditor({ imageId, width: image.width, height: image.height, version: set.version, annotations: set.annotations, activeCategory: catList[0]?.id ?? 0 }),
  );
  const ui: ToolUi = { hover: null, rubberBand: null, showInstances: true };

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
    };
  };

  // --- SAM requests: the newest prompt wins; 202 means the embedding is still cooking ---
  let samSeq = 0;
  let samPoll: ReturnType<typeof setTimeout> | null = null;
  const runSegment = async () => {
    const my = ++samSeq;
    if (samPoll) clearTimeout(samPoll);
    const s = store.state;
    if (!s.sam.armed || !samHasPrompt(s)) return;
    samStatus.textContent = "Segmenting…";
    try {
      const res = await api.segment(imageId, samRequest(s));
      if (my !== samSeq) return;
      if (res.status === "embedding") {
        store.dispatch((st) => samSetMessage(st, `Preparing the image embedding… ${Math.round(res.progress)}%`));
        samPoll = setTimeout(() => void runSegment(), EMBEDDING_POLL_MS);
        return;
      }
      store.dispatch((st) => samSetPreview(st, res.shape, res.score, res.engine));
    } catch (e) {
      if (my !== samSeq) return;
      store.dispatch((st) => samSetMessage(st, `Segmentation failed: ${errorMessage(e)}`));
    }
  };

  // --- DOM ---
  const saveEl = h("span", { class: "save-status", "data-testid": "save-status", role: "status" }, "Saved");
  const undoBtn = h("button", { type: "button", title: "Undo (Ctrl+Z)", "data-testid": "undo", onclick: () => store.dispatch(undo) }, "↶ Undo");
  const redoBtn = h("button", { type: "button", title: "Redo (Ctrl+Shift+Z)", "data-testid": "redo", onclick: () => store.dispatch(redo) }, "↷ Redo");
  const samBtn = h("button", { type: "button", title: "SAM mode (S)", "data-testid": "sam-toggle", onclick: () => toggleSam() }, "SAM (S)");
  const submitBtn = h("button", { type: "button", class: "primary", title: "Submit and go to the next image (Ctrl+Enter)", "data-testid": "submit", onclick: () => void submit() }, "Submit (Ctrl+Enter)");
  const nextBtn = h("button", { type: "button", title: "Skip to the next image (N)", "data-testid": "next", onclick: () => void nextImage() }, "Next (N)");
  const palette = h("div", { class: "palette", role: "toolbar", "aria-label": "Categories" },
    catList.map((c, i) => h("button", { type: "button", "data-category": c.id, title: `${c.name} (${i + 1})`, onclick: () => chooseCategory(c.id) },
      h("span", { class: "swatch", style: `background:${c.color}` }), `${i + 1} ${c.name}`)));
  const samStatus = h("div", { class: "sam-status", "data-testid": "sam-status" });
  const listEl = h("ol", { class: "instances", "data-testid": "instance-list" });
  const infoEl = h("div", { class: "muted small" });
  const dialogHost = h("div");
  const draftHost = h("div", { class: "draft-banner-host" });

  const tool = createAnnotateTool({ store, ui, requestDraw: () => view.requestDraw(), px: (n) => view.px(n), onSamPrompt: () => void runSegment() });
  const view = new CanvasView(image.width, image.height, scene, tool);

  root.classList.add("annotate");
  root.append(
    h("div", { class: "toolbar" },
      h("a", { href: `#/projects/${project.id}`, title: "Back to the dashboard" }, "← ", project.name),
      h("strong", { class: "image-name", "data-testid": "image-name" }, image.name),
      saveEl, leaseEl,
      h("span", { class: "spacer" }),
      undoBtn, redoBtn, samBtn, nextBtn, submitBtn,
      h("button", { type: "button", title: "Keyboard shortcuts (?)", onclick: () => toggleHelp("Annotate", table()) }, "?"),
    ),
    palette,
    draftHost,
    h("div", { class: "workspace" }, view.el,
      h("aside", { class: "side" }, samStatus, h("h3", {}, "Instances"), listEl, infoEl)),
    dialogHost,
  );

  // --- rendering of the chrome from state ---
  const renderChrome = (s: EditorState, prev: EditorState | null) => {
    undoBtn.disabled = !canUndo(s);
    redoBtn.disabled = !canRedo(s);
    samBtn.classList.toggle("active", s.sam.armed);
    root.classList.toggle("sam-armed", s.sam.armed);
    const sel = selectedInstance(s);
    for (const b of palette.querySelectorAll<HTMLButtonElement>("button")) {
      const id = Number(b.dataset.category);
      b.classList.toggle("active", id === (sel ? sel.category : s.activeCategory));
    }
    if (s.sam.armed) {
      const target = s.sam.target !== null ? " (refining the selected shape)" : "";
      samStatus.textContent = s.sam.message ??
        (s.sam.preview
          ? `Preview ready${s.sam.previewScore !== null ? `, score ${s.sam.previewScore.toFixed(2)}` : ""}${s.sam.engine ? ` · ${s.sam.engine}` : ""}. Enter accepts, Esc cancels.`
          : `SAM armed${target}: click the object (right/Shift-click excludes, drag draws a box).`);
    } else {
      samStatus.textContent = "";
    }
    if (!prev || prev.instances !== s.instances || prev.selected !== s.selected || prev.version !== s.version) {
      clear(listEl);
      s.instances.forEach((inst) => {
        const c = categories.get(inst.category);
        listEl.append(h("li", { class: inst.key === s.selected ? "selected" : "", "data-key": inst.key, "data-source": inst.source,
          onclick: () => store.dispatch((st) => select(st, inst.key)) },
          h("span", { class: "swatch", style: `background:${c?.color ?? "#f0f"}` }),
          c?.name ?? `#${inst.category}`, " ",
          h("span", { class: "muted" }, inst.source, inst.score !== null ? ` ${inst.score.toFixed(2)}` : "")));
      });
      const selected = listEl.querySelector("li.selected");
      selected?.scrollIntoView({ block: "nearest" });
      infoEl.textContent = `${s.instances.length} instances · ${s.instances.reduce((n, i) => n + vertexCount(i.shape), 0)} vertices · version ${s.version}`;
    }
  };
  store.subscribe((s, prev) => {
    renderChrome(s, prev);
    view.requestDraw();
  });
  renderChrome(store.state, null);

  // --- saving ---
  const showSave = (st: SaveStatus) => {
    saveEl.className = `save-status ${st.kind}`;
    saveEl.textContent = { saved: "All changes saved", dirty: "Unsaved changes", saving: "Saving…", conflict: "Conflict: not saved", error: "" }[st.kind] || "";
    if (st.kind === "error") saveEl.textContent = `Save failed (will retry): ${st.message}`;
    if (st.kind === "conflict") {
      parkDraft();
      showConflict(st.currentVersion);
    }
    if (st.kind === "saved" && !draftHost.firstChild) clearDraft(localStorage, imageId);
  };
  const parkDraft = () => saveDraft(localStorage, imageId, store.state.version, store.state.instances);

  // Edits left unsaved by an earlier visit (conflict, network, closed tab) are offered back.
  const draft = loadDraft(localStorage, imageId);
  if (draft) {
    const resolveDraft = (restore: boolean) => {
      clear(draftHost);
      clearDraft(localStorage, imageId);
      if (restore) store.dispatch((s) => restoreInstances(s, draft.instances));
    };
    draftHost.append(h("div", { class: "draft-banner", role: "alert", "data-testid": "draft-banner" },
      `Unsaved edits from ${new Date(draft.savedAt).toLocaleString()} (${draft.instances.length} instances, based on version ${draft.version}) were kept in this browser. `,
      h("button", { type: "button", "data-testid": "draft-restore", onclick: () => resolveDraft(true) }, "Restore them (saves over the current set; undo with Ctrl+Z)"), " ",
      h("button", { type: "button", "data-testid": "draft-discard", onclick: () => resolveDraft(false) }, "Discard")));
  }
  const saver = new AutoSaver(store, api, showSave);

  function showConflict(currentVersion: number): void {
    clear(dialogHost);
    const close = () => clear(dialogHost);
    const reload = async () => {
      try {
        const fresh = await api.annotations(imageId);
        store.dispatch((s) => loadServerSet(s, fresh.version, fresh.annotations));
        close();
        saver.resolved();
        toast("Loaded the saved version. Your edits are one Ctrl+Z away.");
      } catch (e) {
        toast(errorMessage(e), "error");
      }
    };
    const overwrite = async () => {
      let version = currentVersion;
      if (!Number.isFinite(version)) version = (await api.annotations(imageId)).version;
      store.dispatch((s) => adoptVersion(s, version));
      close();
      saver.resolved();
      await saver.flush();
    };
    dialogHost.append(
      h("div", { class: "modal-backdrop" },
        h("div", { class: "modal conflict", role: "alertdialog", "aria-labelledby": "conflict-title", "data-testid": "conflict-dialog" },
          h("h2", { id: "conflict-title" }, "Someone else saved this image"),
          h("p", {}, `The image was saved by someone else (now version ${Number.isFinite(currentVersion) ? currentVersion : "?"}) while you were editing. Your changes have not been saved yet and are still here.`),
          h("p", {}, h("b", {}, "Reload"), " shows their version (your edits stay in undo: Ctrl+Z brings them back). ",
            h("b", {}, "Overwrite"), " saves your version over theirs (theirs stays in the image's revision history)."),
          h("div", { class: "actions" },
            h("button", { type: "button", "data-testid": "conflict-reload", onclick: () => void reload() }, "Reload their version (R)"),
            h("button", { type: "button", class: "danger", "data-testid": "conflict-overwrite", onclick: () => void overwrite() }, "Overwrite with mine (O)")))));
  }
  const conflictOpen = () => dialogHost.firstChild !== null;

  // --- actions ---
  function toggleSam(): void {
    samSeq++;
    store.dispatch((s) => samArm(s, !s.sam.armed));
  }

  function chooseCategory(id: number): void {
    store.dispatch((s) => (s.selected !== null && !s.sam.armed ? setCategory(s, s.selected, id) : setActiveCategory(s, id)));
  }

  async function leaveTo(next: () => Promise<void>): Promise<void> {
    const ok = await saver.flush();
    if (!ok) {
      toast(isDirty(store.state) ? "Your changes are not saved yet: resolve the message first." : "Could not save.", "error");
      return;
    }
    await next();
  }

  async function goNext(): Promise<void> {
    const img = await api.queueNext(project.id);
    if (!img) {
      location.hash = `#/projects/${project.id}/annotate`;
      return;
    }
    claimed.add(img.id);
    if (img.id === imageId) {
      toast("This is the only image left in your queue.");
      return;
    }
    released = true;
    location.hash = `#/images/${img.id}/annotate`;
  }

  async function submit(): Promise<void> {
    if (store.state.sam.preview) store.dispatch(samAccept);
    await leaveTo(async () => {
      try {
        await api.submit(imageId, store.state.version);
        toast(`Submitted ${image.name}`);
        await goNext();
      } catch (e) {
        if (e instanceof ApiError && e.isConflict) showConflict(Number(e.extra.current_version ?? NaN));
        else toast(`Submit failed: ${errorMessage(e)}`, "error");
      }
    });
  }

  async function nextImage(): Promise<void> {
    await leaveTo(async () => {
      await api.releaseLease(imageId);
      await goNext();
    });
  }

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
      store.dispatch((st) => (tool.dragVertexTo(st, [x + dx * step, y + dy * step], gesture)));
    } else {
      store.dispatch((st) => moveInstance(st, s.selected!, dx * step, dy * step, `key-move-${s.selected}`));
    }
  };

  const table = (): Shortcut[] => {
    const s = store.state;
    if (conflictOpen()) {
      return [
        { keys: "r", label: "Reload their version", group: "Conflict", run: () => dialogHost.querySelector<HTMLButtonElement>("[data-testid=conflict-reload]")?.click() },
        { keys: "o", label: "Overwrite with mine", group: "Conflict", run: () => dialogHost.querySelector<HTMLButtonElement>("[data-testid=conflict-overwrite]")?.click() },
      ];
    }
    return [
      { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Annotate", table()) },
      { keys: "escape", label: "Close help · cancel SAM object · leave SAM · deselect", run: () => {
        if (helpOpen()) return toggleHelp("", []);
        const st = store.state;
        if (st.sam.armed && (samHasPrompt(st) || st.sam.preview)) { samSeq++; store.dispatch(samCancel); }
        else if (st.sam.armed) toggleSam();
        else store.dispatch((x) => select(x, null));
      } },
      { keys: "ctrl+z", label: "Undo", group: "Edit", run: () => store.dispatch(undo) },
      { keys: "ctrl+shift+z / ctrl+y", label: "Redo", group: "Edit", run: () => store.dispatch(redo) },
      { keys: "ctrl+s", label: "Save now", group: "Edit", run: () => void saver.flush() },
      { keys: "1-9", label: "Category of the selection (or of the next new shape)", group: "Edit",
        match: (e) => /^[1-9]$/.test(e.key) && !e.ctrlKey && !e.altKey, run: (e) => { const c = catList[Number(e.key) - 1]; if (c) chooseCategory(c.id); } },
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
      { keys: "s", label: "SAM mode on / off (with a selection: refine it)", group: "SAM", run: toggleSam },
      { keys: "p / shift+p", label: "SAM: positive / negative point at the mouse", group: "SAM", run: (e) => {
        if (!store.state.sam.armed || !view.pointer) return;
        store.dispatch((x) => samAddPoint(x, view.pointer!, e.shiftKey ? 0 : 1)); void runSegment();
      } },
      { keys: "enter", label: "SAM: accept the preview, stay armed", group: "SAM", run: () => store.dispatch(samAccept) },
      { keys: "ctrl+enter", label: "Submit and open the next image", group: "Workflow", run: () => void submit() },
      { keys: "n", label: "Next image (saves, releases this one)", group: "Workflow", run: () => void nextImage() },
      { keys: "h", label: "Hide / show the instances", group: "View", run: () => { ui.showInstances = !ui.showInstances; view.requestDraw(); } },
      { keys: "f", label: "Fit the image", group: "View", run: () => view.fit() },
      { keys: "= / +", label: "Zoom in", group: "View", match: (e) => (e.key === "=" || e.key === "+") && !e.ctrlKey, run: () => view.zoom(1.25) },
      { keys: "-", label: "Zoom out", group: "View", match: (e) => e.key === "-" && !e.ctrlKey, run: () => view.zoom(0.8) },
      { keys: "space + drag", label: "Pan (also: middle button, or drag on empty image)", group: "View", match: () => false, run: () => {} },
      { keys: "g", label: "Back to the dashboard", group: "Workflow", run: () => (location.hash = `#/projects/${project.id}`) },
      ...(s.sam.armed ? [] : []),
    ];
  };
  const unbind = bindShortcuts(table);

  // --- leaving ---
  let released = false;
  const onPageHide = () => {
    if (isDirty(store.state)) {
      parkDraft();
      void saver.flush(true);
    }
    if (!released) void api.releaseLease(imageId);
  };
  const onBeforeUnload = (e: BeforeUnloadEvent) => {
    if (isDirty(store.state)) {
      void saver.flush(true);
      e.preventDefault();
    }
  };
  window.addEventListener("pagehide", onPageHide);
  window.addEventListener("beforeunload", onBeforeUnload);

  await view.loadImage(image.file_url).catch((e) => toast(`Image: ${errorMessage(e)}`, "error"));
  view.canvas.focus();
  (window as unknown as { __annotator?: unknown }).__annotator = { store, view, saver };

  return async () => {
    unbind();
    clearInterval(leaseTimer);
    if (samPoll) clearTimeout(samPoll);
    window.removeEventListener("pagehide", onPageHide);
    window.removeEventListener("beforeunload", onBeforeUnload);
    if (isDirty(store.state) && !(await saver.flush())) {
      parkDraft();
      toast("Your unsaved edits were kept in this browser: reopen the image to restore them.", "error", 8000);
    }
    if (!released) await api.releaseLease(imageId).catch(() => {});
    saver.dispose();
    view.dispose();
    delete (window as unknown as { __annotator?: unknown }).__annotator;
  };
}
