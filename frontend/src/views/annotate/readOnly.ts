// The annotate view of an image another annotator holds (their lease is live): the image and its
// saved set, read-only, with who holds it and until when. Nothing here writes.

import { CanvasView } from "../../canvasView";
import { h, errorMessage, toast } from "../../dom";
import { bindShortcuts, toggleHelp, type Shortcut } from "../../keyboard";
import type { Scene } from "../../render";
import { createEditor } from "../../store";
import type { AnnotationSet, Category, ImageRecord, Lease, Project } from "../../types";
import type { Cleanup } from "../view";

export async function mountReadOnly(root: HTMLElement, image: ImageRecord, project: Project, set: AnnotationSet, holder: Lease): Promise<Cleanup> {
  const categories = new Map<number, Category>(project.categories.map((c) => [c.id, c]));
  const state = createEditor({ imageId: image.id, width: image.width, height: image.height, version: set.version, annotations: set.annotations, activeCategory: 0 });
  const scene = (): Scene => ({
    width: image.width, height: image.height, instances: state.instances, selected: null, vertex: null, hover: null,
    categories, sam: null, overlay: null, showInstances: true, rubberBand: null,
  });
  const view = new CanvasView(image.width, image.height, scene, { down: () => false }); // dragging pans; nothing edits
  const until = new Date(holder.expires_at).toLocaleTimeString();
  root.classList.add("annotate", "read-only");
  root.append(
    h("div", { class: "toolbar" },
      h("a", { href: `#/projects/${project.id}` }, "← ", project.name),
      h("strong", { class: "image-name", "data-testid": "image-name" }, image.name),
      h("span", { class: "lease muted warn", "data-testid": "lease" }, `Read-only: ${holder.user} holds it until ${until}`)),
    h("div", { class: "draft-banner", role: "alert", "data-testid": "read-only-banner" },
      `Read-only: ${holder.user} is working on this image until ${until}. You can look at it (${set.annotations.length} shapes, version ${set.version}); `,
      "editing opens when they leave or their lease runs out. ",
      h("button", { type: "button", "data-testid": "read-only-retry", onclick: () => location.reload() }, "Try again")),
    h("div", { class: "workspace" }, view.el),
  );
  const table = (): Shortcut[] => [
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Read-only image", table()) },
    { keys: "f", label: "Fit the image", run: () => view.fit() },
    { keys: "= / +", label: "Zoom in", match: (e) => e.key === "=" || e.key === "+", run: () => view.zoom(1.25) },
    { keys: "-", label: "Zoom out", match: (e) => e.key === "-", run: () => view.zoom(0.8) },
    { keys: "g", label: "Back to the dashboard", run: () => (location.hash = `#/projects/${project.id}`) },
  ];
  const unbind = bindShortcuts(table);
  await view.loadImage(image.file_url).catch((e) => toast(`Image: ${errorMessage(e)}`, "error"));
  return () => {
    unbind();
    view.dispose();
  };
}
