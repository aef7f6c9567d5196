// COCO export with its options (reviewers and admins): polygons or RLE, with the images in a zip
// or the JSON alone, which statuses and which split; then the project's recent exports, each with
// the options it was made with, its progress and its download.

import { api } from "../api";
import { clear, errorText, h } from "../dom";
import { bindShortcuts, toggleHelp, type Shortcut } from "../keyboard";
import type { ExportJob, ExportOptions, ImageStatus } from "../types";
import { STATUS_LABELS } from "./labels";
import type { Cleanup, ViewContext } from "./view";

const POLL_MS = 1500;

function describe(job: ExportJob): string {
  const o = job.options ?? {};
  const statuses = Array.isArray(o.statuses) ? (o.statuses as string[]).join(", ") : "";
  return [o.segmentation === "rle" ? "RLE" : "polygons", o.include_images ? "with images" : "JSON only", statuses, o.split ? `split ${o.split}` : ""].filter(Boolean).join(" · ");
}

export async function mountExport({ root }: ViewContext, projectId: number): Promise<Cleanup> {
  const project = await api.project(projectId);
  root.append(h("div", { class: "crumbs" }, h("a", { href: "#/projects" }, "Projects"), " / ", h("a", { href: `#/projects/${projectId}` }, project.name), " / Export"));
  if (project.role === "annotator") {
    root.append(h("h1", {}, "Export"), h("p", { class: "muted" }, "Exports are for the project's reviewers and admins."));
    return () => {};
  }

  const rle = h("input", { type: "radio", name: "segmentation", value: "rle", "data-testid": "export-rle" });
  const polygons = h("input", { type: "radio", name: "segmentation", value: "polygons", checked: true, "data-testid": "export-polygons" });
  const images = h("input", { type: "checkbox", checked: true, "data-testid": "export-images" });
  const statusBoxes = (Object.keys(STATUS_LABELS) as ImageStatus[]).map((s) =>
    h("input", { type: "checkbox", value: s, checked: s === "accepted", "data-testid": `export-status-${s}` }),
  );
  const split = h("select", { "aria-label": "Split", "data-testid": "export-split" },
    h("option", { value: "" }, "all splits"), h("option", { value: "train" }, "train"), h("option", { value: "val" }, "val"), h("option", { value: "unassigned" }, "unassigned"));
  const message = h("p", { role: "status", class: "small", "data-testid": "export-message" });
  const jobsEl = h("ul", { class: "exports", "data-testid": "export-list" });
  let jobs: ExportJob[] = [];

  const options = (): ExportOptions => ({
    segmentation: rle.checked ? "rle" : "polygons",
    include_images: images.checked,
    status: statusBoxes.filter((b) => b.checked).map((b) => b.value as ImageStatus),
    split: (split.value || null) as ExportOptions["split"],
  });

  async function start(e?: Event): Promise<void> {
    e?.preventDefault();
    const o = options();
    if (!o.status.length) {
      message.className = "small error";
      message.textContent = "Pick at least one status to export.";
      return;
    }
    message.className = "small";
    message.textContent = "Starting…";
    try {
      const job = await api.startExportWith(projectId, o);
      message.textContent = `Export ${job.id} started.`;
      await refresh();
    } catch (err) {
      message.className = "small error";
      message.textContent = `Not started: ${errorText(err)}`;
    }
  }

  function render(): void {
    clear(jobsEl);
    if (!jobs.length) jobsEl.append(h("li", { class: "muted" }, "No export yet."));
    for (const j of jobs) {
      jobsEl.append(h("li", { "data-export-id": j.id, "data-status": j.status },
        h("strong", {}, `Export ${j.id}`), ` · ${describe(j)} · `,
        j.download_url ? h("a", { href: j.download_url, download: "", "data-testid": "export-download" }, "Download") : h("span", {}, `${j.status} ${j.progress}%`),
        j.status === "failed" ? h("span", { class: "error" }, ` ${j.message ?? ""}`) : null));
    }
  }

  async function refresh(): Promise<void> {
    try {
      jobs = await api.exports(projectId);
      render();
    } catch (err) {
      message.textContent = errorText(err);
    }
  }

  root.append(
    h("h1", {}, "Export COCO"),
    h("form", { class: "card export-options", "data-testid": "export-form", onsubmit: (e: Event) => void start(e) },
      h("fieldset", {}, h("legend", {}, "Masks as"), h("label", {}, polygons, " polygons"), " ", h("label", {}, rle, " RLE (run-length encoding)")),
      h("fieldset", {}, h("legend", {}, "Images"), h("label", {}, images, " include the image files (a .zip; without: the JSON alone)")),
      h("fieldset", {}, h("legend", {}, "Statuses"), statusBoxes.map((b) => h("label", { class: "check" }, b, ` ${STATUS_LABELS[b.value as ImageStatus]}`))),
      h("fieldset", {}, h("legend", {}, "Split"), split),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", "data-testid": "export-start" }, "Start export (E)"), message)),
    h("section", { class: "card" }, h("h2", {}, "Recent exports"), jobsEl),
  );
  await refresh();
  const timer = setInterval(() => {
    if (jobs.some((j) => j.status === "pending" || j.status === "running")) void refresh();
  }, POLL_MS);

  const table = (): Shortcut[] => [
    { keys: "e", label: "Start the export", run: () => void start() },
    { keys: "g", label: "Back to the dashboard", run: () => (location.hash = `#/projects/${projectId}`) },
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Export", table()) },
  ];
  const unbind = bindShortcuts(table);
  return () => {
    clearInterval(timer);
    unbind();
  };
}
