// The review view: the submitted set, a toggle for the model pre-label it started from, and
// accept / reject with a comment. "Fix" (E) lets the reviewer make small edits (drag a shape or a
// vertex, delete a shape, undo); Accept then becomes "Fix and accept": one request that saves the
// fixed set as a revision and accepts. Nobody accepts their own submission: for the submitter,
// Accept is replaced by a note (the server refuses it too).

import { api } from "../api";
import { createAnnotateTool, createToolUi, type ToolUi } from "../annotateTool";
import { CanvasView } from "../canvasView";
import { clear, errorMessage, h, toast } from "../dom";
import { hitShapeIndex } from "../geometry";
import { bindShortcuts, helpOpen, toggleHelp, type Shortcut } from "../keyboard";
import type { Cleanup, ViewContext } from "./view";
import type { OverlayInstance, Scene } from "../render";
import { createEditor, cycleSelection, deleteSelection, isDirty, redo, select, Store, toAnnotationInputs, undo, type EditorState } from "../store";
import type { Category, ImageRecord, Prediction } from "../types";

async function nextSubmitted(projectId: number, skip: number | null): Promise<ImageRecord | null> {
  const page = await api.listImages(projectId, { status: "submitted" });
  return page.results.find((i) => i.id !== skip) ?? null;
}

export async function mountReviewNext({ root }: ViewContext, projectId: number): Promise<Cleanup> {
  const img = await nextSubmitted(projectId, null);
  if (!img) {
    root.append(
      h("div", { class: "empty", "data-testid": "review-empty" }, h("h2", {}, "Nothing to review"), h("p", {}, "No submitted images are waiting."),
        h("a", { class: "button", href: `#/projects/${projectId}` }, "Back to the dashboard")),
    );
    return () => {};
  }
  location.replace(`#/images/${img.id}/review`);
  return () => {};
}

export async function mountReview({ root }: ViewContext, imageId: number): Promise<Cleanup> {
  const image = await api.image(imageId);
  const [project, set, prediction, me, reviewState] = await Promise.all([
    api.project(image.project),
    api.annotations(imageId),
    api.prediction(imageId).catch((): Prediction | null => null),
    api.me(),
    api.reviewState(imageId),
  ]);
  const ownSubmission = reviewState.submitted_by === me.username;
  const categories = new Map<number, Category>(project.categories.map((c) => [c.id, c]));
  const store = new Store<EditorState>(
    createEditor({ imageId, width: image.width, height: image.height, version: set.version, annotations: set.annotations, activeCategory: 0 }),
  );
  let showPrediction = false;
  let showSubmitted = true;
  let busy = false;
  let fixing = false;
  const ui: ToolUi = createToolUi();
  const overlay: OverlayInstance[] = (prediction?.instances ?? []).map((i) => ({ category: i.category, shape: i.shape, score: i.score }));

  const scene = (): Scene => ({
    width: image.width,
    height: image.height,
    instances: store.state.instances,
    selected: store.state.selected,
    vertex: fixing ? store.state.vertex : null,
    hover: fixing ? ui.hover : null,
    categories,
    sam: null,
    overlay: showPrediction ? overlay : null,
    showInstances: showSubmitted,
    rubberBand: null,
  });
  const edit = createAnnotateTool({ store, ui, requestDraw: () => view.requestDraw(), px: (n) => view.px(n), onSamPrompt: () => {}, onMiss: () => {} });
  const view = new CanvasView(image.width, image.height, scene, {
    down: (e, p) => {
      if (fixing) return edit.down(e, p);
      const idx = hitShapeIndex(store.state.instances.map((i) => i.shape), p);
      store.dispatch((s) => select(s, idx < 0 ? null : s.instances[idx].key));
      return false; // dragging pans until the reviewer chooses to fix
    },
    move: (e, p) => {
      if (fixing) edit.move?.(e, p);
    },
    up: (e, p) => {
      if (fixing) edit.up?.(e, p);
    },
    hover: (e, p) => {
      if (fixing) edit.hover?.(e, p);
    },
    dblclick: (e, p) => {
      if (fixing) edit.dblclick?.(e, p);
    },
  });
  store.subscribe(() => {
    view.requestDraw();
    renderDecision();
  });

  const comment = h("textarea", { rows: 3, placeholder: "Comment (required to reject)", "data-testid": "review-comment", "aria-label": "Review comment" });
  const predToggle = h("input", { type: "checkbox", "data-testid": "toggle-prediction", disabled: !prediction });
  const stateEl = h("div", { class: "muted", "data-testid": "review-state" }, `Status: ${image.status} · version ${set.version}`);
  const revisionsEl = h("ol", { class: "revisions small" });

  const setPrediction = (on: boolean) => {
    showPrediction = on && !!prediction;
    predToggle.checked = showPrediction;
    view.requestDraw();
  };
  predToggle.addEventListener("change", () => setPrediction(predToggle.checked));

  const decide = async (decision: "accept" | "reject") => {
    if (busy) return;
    if (decision === "reject" && !comment.value.trim()) {
      comment.focus();
      toast("Say what to fix in the comment before rejecting.", "error");
      return;
    }
    busy = true;
    try {
      const fixed = decision === "accept" && isDirty(store.state);
      const res = fixed
        ? await api.fixAndAccept(imageId, store.state.version, toAnnotationInputs(store.state.instances), comment.value.trim())
        : await api.review(imageId, decision, comment.value.trim());
      toast(`${image.name}: ${res.status}`);
      stateEl.textContent = `Status: ${res.status}`;
      const next = await nextSubmitted(project.id, imageId);
      location.hash = next ? `#/images/${next.id}/review` : `#/projects/${project.id}/review`;
    } catch (e) {
      toast(`Review failed: ${errorMessage(e)}`, "error");
    } finally {
      busy = false;
    }
  };

  const acceptBtn = h("button", { type: "button", class: "primary", "data-testid": "accept", onclick: () => void decide("accept") }, "Accept (A)");
  const fixBtn = h("button", { type: "button", "data-testid": "fix", title: "Make small fixes before accepting (E)", onclick: () => toggleFix() }, "Fix (E)");
  const fixNote = h("p", { class: "muted small", "data-testid": "fix-note", hidden: true },
    "Fixing: drag shapes or vertices, Delete removes the selected shape, Ctrl+Z undoes. Accept saves your fixes as a revision, then accepts.");
  function renderDecision(): void {
    const dirty = isDirty(store.state);
    acceptBtn.textContent = dirty ? "Fix and accept (A)" : "Accept (A)";
    acceptBtn.dataset.fixed = String(dirty);
    fixBtn.classList.toggle("active", fixing);
    fixNote.hidden = !fixing;
  }
  function toggleFix(): void {
    if (ownSubmission) return;
    fixing = !fixing;
    renderDecision();
    view.requestDraw();
  }

  root.classList.add("review");
  root.append(
    h("div", { class: "toolbar" },
      h("a", { href: `#/projects/${project.id}` }, "← ", project.name),
      h("strong", { class: "image-name", "data-testid": "image-name" }, image.name),
      stateEl,
      h("span", { class: "spacer" }),
      h("label", { class: "toggle", title: "Show the model pre-label this image started from (T)" }, predToggle,
        prediction ? ` Pre-label (T)${prediction.model_version ? ` · ${prediction.model_version}` : ""}` : " No pre-label"),
      h("button", { type: "button", title: "Keyboard shortcuts (?)", onclick: () => toggleHelp("Review", table()) }, "?"),
    ),
    h("div", { class: "workspace" }, view.el,
      h("aside", { class: "side" },
        h("h3", {}, `Submitted set: ${set.annotations.length} instances`),
        h("ul", { class: "legend" }, project.categories.map((c) => {
          const n = set.annotations.filter((a) => a.category === c.id).length;
          return n ? h("li", {}, h("span", { class: "swatch", style: `background:${c.color}` }), `${c.name}: ${n}`) : null;
        })),
        prediction ? h("p", { class: "muted small" }, `Pre-label: ${prediction.instances.length} instances , drawn with pink dashes when shown (T)`) : null,
        comment,
        h("div", { class: "actions" },
          ownSubmission ? null : fixBtn,
          ownSubmission ? null : acceptBtn,
          h("button", { type: "button", class: "danger", "data-testid": "reject", onclick: () => void decide("reject") }, "Reject (R)")),
        ownSubmission ? h("p", { class: "muted small", "data-testid": "own-submission" },
          "You submitted this image, so another reviewer must accept it. You can still reject it (send it back).") : null,
        fixNote,
        h("h3", {}, "History"), revisionsEl)),
  );

  api.revisions(imageId).then((revs) => {
    clear(revisionsEl);
    for (const r of revs) revisionsEl.append(h("li", {}, `v${r.version} ${r.action} by ${r.author ?? (r.action === "pre_label" ? "the model" : "the system")}, ${new Date(r.created_at).toLocaleString()}`));
  }).catch(() => revisionsEl.append(h("li", { class: "muted" }, "History is unavailable.")));

  const table = (): Shortcut[] => [
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Review", table()) },
    ...(ownSubmission ? [] : [
      { keys: "a", label: "Accept (with your fixes, if any) and open the next submitted image", run: () => void decide("accept") },
      { keys: "e", label: "Fix: edit shapes before accepting", run: () => toggleFix() },
    ]),
    { keys: "delete / backspace", label: "While fixing: delete the selected shape", match: (e) => e.key === "Delete" || e.key === "Backspace",
      run: () => { if (fixing) store.dispatch(deleteSelection); } },
    { keys: "ctrl+z", label: "While fixing: undo", match: (e) => (e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z", run: () => store.dispatch(undo) },
    { keys: "ctrl+shift+z", label: "While fixing: redo", match: (e) => (e.ctrlKey || e.metaKey) && e.shiftKey && e.key.toLowerCase() === "z", run: () => store.dispatch(redo) },
    { keys: "r", label: "Reject (focuses the comment first when it is empty)", run: () => void decide("reject") },
    { keys: "c", label: "Write a comment", run: () => comment.focus() },
    { keys: "t", label: "Toggle the model pre-label", run: () => setPrediction(!showPrediction) },
    { keys: "h", label: "Hide / show the submitted set", run: () => { showSubmitted = !showSubmitted; view.requestDraw(); } },
    { keys: "tab / shift+tab", label: "Highlight the next / previous instance", match: (e) => e.key === "Tab" && !e.ctrlKey,
      run: (e) => store.dispatch((s) => cycleSelection(s, e.shiftKey ? -1 : 1)) },
    { keys: "f", label: "Fit the image", run: () => view.fit() },
    { keys: "= / +", label: "Zoom in", match: (e) => e.key === "=" || e.key === "+", run: () => view.zoom(1.25) },
    { keys: "-", label: "Zoom out", match: (e) => e.key === "-", run: () => view.zoom(0.8) },
    { keys: "arrows", label: "Pan", match: (e) => e.key.startsWith("Arrow"), run: (e) =>
      view.pan(e.key === "ArrowLeft" ? 40 : e.key === "ArrowRight" ? -40 : 0, e.key === "ArrowUp" ? 40 : e.key === "ArrowDown" ? -40 : 0) },
    { keys: "escape", label: "Close help, leave the comment box", run: () => {
      if (helpOpen()) toggleHelp("", []);
      else (document.activeElement as HTMLElement | null)?.blur();
    } },
    { keys: "g", label: "Back to the dashboard", run: () => (location.hash = `#/projects/${project.id}`) },
  ];
  const unbind = bindShortcuts(table);
  await view.loadImage(image.file_url).catch((e) => toast(`Image: ${errorMessage(e)}`, "error"));
  (window as unknown as { __annotator?: unknown }).__annotator = { store, view };

  return () => {
    unbind();
    view.dispose();
    delete (window as unknown as { __annotator?: unknown }).__annotator;
  };
}
