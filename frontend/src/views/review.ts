// The review view: the submitted set (read-only), a toggle for the model pre-label it
// started from, and accept / reject with a comment.

import { api } from "../api";
import { CanvasView } from "../canvasView";
import { clear, errorMessage, h, toast } from "../dom";
import { hitShapeIndex } from "../geometry";
import { bindShortcuts, helpOpen, toggleHelp, type Shortcut } from "../keyboard";
import type { Cleanup, ViewContext } from "./view";
import type { OverlayInstance, Scene } from "../render";
import { createEditor, cycleSelection, select, Store, type EditorState } from "../store";
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
  const [project, set, prediction] = await Promise.all([
    api.project(image.project),
    api.annotations(imageId),
    api.prediction(imageId).catch((): Prediction | null => null),
  ]);
  const categories = new Map<number, Category>(project.categories.map((c) => [c.id, c]));
  const store = new Store<EditorState>(
    createEditor({ imageId, width: image.width, height: image.height, version: set.version, annotations: set.annotations, activeCategory: 0 }),
  );
  let showPrediction = false;
  let showSubmitted = true;
  let busy = false;
  const overlay: OverlayInstance[] = (prediction?.instances ?? []).map((i) => ({ category: i.category, shape: i.shape, score: i.score }));

  const scene = (): Scene => ({
    width: image.width,
    height: image.height,
    instances: store.state.instances,
    selected: store.state.selected,
    vertex: null,
    hover: null,
    categories,
    sam: null,
    overlay: showPrediction ? overlay : null,
    showInstances: showSubmitted,
    rubberBand: null,
  });
  const view = new CanvasView(image.width, image.height, scene, {
    down: (_e, p) => {
      const idx = hitShapeIndex(store.state.instances.map((i) => i.shape), p);
      store.dispatch((s) => select(s, idx < 0 ? null : s.instances[idx].key));
      return false; // dragging pans: the review view does not edit
    },
  });
  store.subscribe(() => view.requestDraw());

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
      const res = await api.review(imageId, decision, comment.value.trim());
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
          h("button", { type: "button", class: "primary", "data-testid": "accept", onclick: () => void decide("accept") }, "Accept (A)"),
          h("button", { type: "button", class: "danger", "data-testid": "reject", onclick: () => void decide("reject") }, "Reject (R)")),
        h("h3", {}, "History"), revisionsEl)),
  );

  api.revisions(imageId).then((revs) => {
    clear(revisionsEl);
    for (const r of revs) revisionsEl.append(h("li", {}, `v${r.version} ${r.action} by ${r.author ?? (r.action === "pre_label" ? "the model" : "the system")}, ${new Date(r.created_at).toLocaleString()}`));
  }).catch(() => revisionsEl.append(h("li", { class: "muted" }, "History is unavailable.")));

  const table = (): Shortcut[] => [
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Review", table()) },
    { keys: "a", label: "Accept and open the next submitted image", run: () => void decide("accept") },
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
