// Project dashboard: counts, job progress, active model, upload, export, the learning loop, settings.

import { ApiError, api } from "../api";
import { clear, errorMessage, h } from "../dom";
import { bindShortcuts, toggleHelp, type Shortcut } from "../keyboard";
import type { Cleanup, ViewContext } from "./view";
import type { ExportJob, ImageRejection, ImageStatus, JobProgress, Project, ProjectStats, PromptEngineInfo } from "../types";
import { STATUS_LABELS } from "./labels";
import { learningPanel } from "./learning";
import { projectLinkKeys, projectLinks } from "./projectLinks";
import { settingsPanel } from "./settings";
import { trustGateCard, trustGatePinForm } from "./trustGate";

const POLL_MS = 2000;

function bar(label: string, fraction: number | null, detail: string, testid: string): HTMLElement {
  const pct = fraction === null ? 0 : Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  return h(
    "div",
    { class: "job", "data-testid": testid },
    h("div", { class: "job-label" }, h("span", {}, label), h("span", { class: "muted" }, detail)),
    h("progress", { max: 100, value: pct, "aria-label": label }),
  );
}

/** The reviewer's comment under a rejected (or reworked) image's status. */
function rejectionNote(r: ImageRejection | undefined): HTMLElement | null {
  if (!r) return null;
  return h("div", { class: "muted small rejection-note", "data-testid": "rejection-note", title: `Rejected by ${r.by ?? "a reviewer"}` }, `“${r.comment}” (${r.by ?? "reviewer"})`);
}

function jobFraction(j: JobProgress): number | null {
  return j.total > 0 ? j.done / j.total : null;
}

export async function mountDashboard({ root }: ViewContext, projectId: number): Promise<Cleanup> {
  const project: Project = await api.project(projectId);
  const isAdmin = project.role === "admin";
  const canReview = project.role === "admin" || project.role === "reviewer";
  // Annotators upload only where the project allows it (the API refuses them otherwise).
  const canUpload = canReview || project.settings.annotators_can_upload === true;

  const countsEl = h("div", { class: "counts big", "data-testid": "counts" });
  const jobsEl = h("div", { class: "jobs" });
  const modelEl = h("div", { class: "model", "data-testid": "active-model" });
  const exportEl = h("div", { class: "export", "data-testid": "export-status" });
  const learning = learningPanel(projectId, isAdmin);
  const gate = trustGateCard(projectId);
  const settings = isAdmin ? settingsPanel(project) : null;
  if (settings) settings.element.append(trustGatePinForm(projectId, () => void gate.refresh()));
  const uploadBar = h("progress", { max: 100, value: 0, hidden: true, "data-testid": "upload-progress", "aria-label": "Upload progress" });
  const uploadMsg = h("div", { class: "upload-msg", "data-testid": "upload-result", role: "status" });
  const fileInput = h("input", { type: "file", multiple: true, accept: "image/*,.zip", "data-testid": "upload-input", "aria-label": "Images or a .zip to upload" });
  const imagesEl = h("div", { class: "images" });

  let exportJob: ExportJob | null = null;
  let disposed = false;
  let engine: PromptEngineInfo | null = null;
  void api.promptEngine(projectId).then((e) => (engine = e)).catch(() => null); // shown from the next stats poll on

  const upload = async () => {
    const files = [...(fileInput.files ?? [])];
    if (!files.length) {
      fileInput.click();
      return;
    }
    uploadBar.hidden = false;
    uploadBar.value = 0;
    uploadMsg.textContent = `Uploading ${files.length} file(s)…`;
    try {
      const res = await api.upload(projectId, files, (f) => (uploadBar.value = Math.round(f * 100)));
      const parts = [`${res.created.length} uploaded`];
      if (res.duplicates.length) parts.push(`${res.duplicates.length} duplicate(s) skipped`);
      if (res.rejected.length) parts.push(`${res.rejected.length} rejected: ${res.rejected.map((r) => `${r.file} (${r.reason})`).join(", ")}`);
      uploadMsg.textContent = parts.join(" · ");
      fileInput.value = "";
      void refresh();
    } catch (e) {
      uploadMsg.textContent = `Upload failed: ${errorMessage(e)}`;
    }
  };
  fileInput.addEventListener("change", () => void upload());

  const startExport = async () => {
    exportEl.textContent = "Starting export…";
    try {
      exportJob = await api.startExport(projectId);
      renderExport();
    } catch (e) {
      exportEl.textContent = e instanceof ApiError && e.isNotFound ? "Export is not available on this server yet." : `Export failed: ${errorMessage(e)}`;
    }
  };

  function renderExport(): void {
    clear(exportEl);
    if (!exportJob) return;
    const done = exportJob.status === "done" || exportJob.status === "succeeded" || !!exportJob.download_url;
    exportEl.append(bar(`Export ${exportJob.id}`, exportJob.progress / 100, exportJob.status, "export-job"));
    if (done && exportJob.download_url) {
      exportEl.append(h("a", { href: exportJob.download_url, "data-testid": "export-download", download: "" }, "Download COCO export"));
    }
  }

  function renderStats(stats: ProjectStats): void {
    clear(countsEl);
    for (const s of Object.keys(STATUS_LABELS) as ImageStatus[]) {
      countsEl.append(h("div", { class: `count status-${s}`, "data-status": s }, h("b", {}, String(stats.counts?.[s] ?? 0)), h("span", {}, STATUS_LABELS[s])));
    }
    clear(jobsEl);
    // Training progress lives in the learning panel (with Cancel), not here.
    const { embedding, prelabel, export: exp } = stats.jobs ?? ({} as ProjectStats["jobs"]);
    if (embedding) jobsEl.append(bar("Embeddings", jobFraction(embedding), `${embedding.done} / ${embedding.total}`, "job-embedding"));
    if (prelabel) jobsEl.append(bar("Pre-labels", jobFraction(prelabel), `${prelabel.done} / ${prelabel.total}`, "job-prelabel"));
    if (exp && (!exportJob || exp.id >= exportJob.id)) {
      exportJob = exp;
      renderExport();
    }
    clear(modelEl);
    modelEl.append(h("h3", {}, "Active model"));
    if (stats.active_model) {
      const m = stats.active_model;
      modelEl.append(
        h("div", {}, h("strong", {}, m.name)),
        h("table", { class: "metrics" }, // Metrics also hold nested records (per_class, val, compared_with); the card lists the figures.
          Object.entries(m.metrics ?? {}).filter(([, v]) => v === null || typeof v === "number").map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v === null ? "–" : Number(v).toFixed(3))))),
      );
    } else {
      modelEl.append(h("p", { class: "muted" }, "No model yet."));
    }
    modelEl.append(h("p", { class: "muted", "data-testid": "prompt-engine" },
      engine ? `Click tool: ${engine.label} (${engine.reason})` : `Prompt engine: ${stats.prompt_engine ?? "unknown"}`));
  }

  async function renderImages(): Promise<void> {
    const [page, rejected] = await Promise.all([api.listImages(projectId), api.rejections(projectId).catch(() => [])]);
    const rejections = new Map(rejected.map((r) => [r.image, r]));
    clear(imagesEl);
    imagesEl.append(
      h("h3", {}, `Images (${page.count})`),
      h(
        "table",
        { class: "image-table" },
        h("tr", {}, h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Split"), h("th", {}, "Uncertainty"), h("th", {}, "")),
        page.results.map((img) =>
          h(
            "tr",
            { "data-image-id": img.id },
            h("td", {}, img.name),
            h("td", {}, STATUS_LABELS[img.status] ?? img.status, rejectionNote(rejections.get(img.id))),
            h("td", {}, img.split ?? ""),
            h("td", {}, img.uncertainty === null || img.uncertainty === undefined ? "" : img.uncertainty.toFixed(3)),
            h(
              "td",
              {},
              h("a", { href: `#/images/${img.id}/annotate` }, "Annotate"),
              canReview && img.status === "submitted" ? [" · ", h("a", { href: `#/images/${img.id}/review` }, "Review")] : null,
            ),
          ),
        ),
      ),
    );
  }

  // The panels load side by side, each drawn when its answer comes; a poll starts only when the
  // last one finished, so a slow panel never piles requests up.
  let refreshing: Promise<void> | null = null;
  async function refreshPanels(): Promise<void> {
    const stats = async () => {
      renderStats(await api.stats(projectId));
      if (exportJob && !exportJob.download_url && exportJob.status !== "failed") {
        exportJob = await api.exportJob(exportJob.id);
        renderExport();
      }
    };
    const results = await Promise.allSettled([stats(), learning.refresh(), gate.refresh(), renderImages()]);
    for (const r of results) if (r.status === "rejected" && !disposed) console.warn("dashboard refresh failed", r.reason);
  }
  function refresh(): Promise<void> {
    refreshing ??= refreshPanels().finally(() => (refreshing = null));
    return refreshing;
  }

  root.append(
    h("div", { class: "crumbs" }, h("a", { href: "#/projects" }, "Projects"), " / ", project.name),
    h("h1", {}, project.name, " ", h("span", { class: "badge" }, project.role)),
    h(
      "div",
      { class: "actions" },
      h("a", { class: "button primary", href: `#/projects/${projectId}/annotate`, "data-testid": "start-annotating" }, "Start annotating (A)"),
      canReview ? h("a", { class: "button", href: `#/projects/${projectId}/review`, "data-testid": "start-review" }, "Review submitted (R)") : null,
      canReview ? h("button", { type: "button", onclick: () => void startExport(), "data-testid": "export-button" }, "Export COCO (E)") : null,
      ...projectLinks(projectId, project.role),
    ),
    countsEl,
    h(
      "div",
      { class: "grid2" },
      h("section", { class: "card" }, h("h3", {}, "Jobs"), jobsEl, exportEl),
      h("section", { class: "card" }, modelEl),
    ),
    learning.element,
    gate.element,
    ...(settings ? [settings.element] : []),
    canUpload
      ? h("section", { class: "card upload" }, h("h3", {}, "Upload images (U)"), fileInput, uploadBar, uploadMsg)
      : h("section", { class: "card upload muted", "data-testid": "upload-not-allowed" }, h("h3", {}, "Upload images"),
        "Annotators cannot upload to this project; a project admin can allow it in the project's settings."),
    h("section", { class: "card" }, h("h3", {}, "Categories"), h("ul", { class: "categories" }, project.categories.map((c, i) =>
      h("li", {}, h("span", { class: "swatch", style: `background:${c.color}` }), `${i + 1}. ${c.name}`),
    ))),
    imagesEl,
  );

  // The page and its keys work at once; the panels fill in as their data comes.
  void refresh();
  const timer = setInterval(() => void refresh(), POLL_MS);
  const table = (): Shortcut[] => [
    { keys: "a", label: "Start annotating", run: () => (location.hash = `#/projects/${projectId}/annotate`) },
    ...(canReview ? [{ keys: "r", label: "Review submitted images", run: () => (location.hash = `#/projects/${projectId}/review`) }] : []),
    ...(canUpload ? [{ keys: "u", label: "Upload images", run: () => fileInput.click() }] : []),
    ...(canReview ? [{ keys: "e", label: "Export COCO", run: () => void startExport() }] : []),
    ...(isAdmin ? [{ keys: "t", label: "Start a training run", run: () => void learning.startTraining() }] : []),
    ...projectLinkKeys(projectId, project.role),
    { keys: "g", label: "Go to the project list", run: () => (location.hash = "#/projects") },
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Dashboard", table()) },
  ];
  const unbind = bindShortcuts(table);
  return () => {
    disposed = true;
    clearInterval(timer);
    unbind();
  };
}
