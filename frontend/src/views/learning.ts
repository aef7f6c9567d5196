// The learning-loop part of the dashboard: the current training run (progress, Cancel), the
// model registry (Promote, Roll back), the acceptance plot across versions, re-scoring progress,
// and the "newer base available" banner with its Rebase button.

import { api, ApiError } from "../api";
import { append, clear, errorText, h } from "../dom";
import { baseBanner } from "../learning/baseUpdate";
import { confirmDialog } from "../learning/confirmDialog";
import { acceptancePlotSvg } from "../learning/plot";
import { registryModel, worseConfirmation } from "../learning/registry";
import { currentRescore, isActive, rescoreText, runView, trainingBlockReason } from "../learning/runs";
import type { AcceptanceRow, BaseUpdate, BatchJob, ModelRegistry, TrainingRunDetail } from "../types";

export interface LearningPanel {
  element: HTMLElement;
  refresh(): Promise<void>;
  startTraining(): Promise<void>;
}

export function learningPanel(projectId: number, isAdmin: boolean): LearningPanel {
  const errorEl = h("div", { class: "error", role: "alert", "data-testid": "learning-error" });
  const runEl = h("div", { class: "run", "data-testid": "training-run", "aria-live": "polite" });
  const rescoreEl = h("div", { class: "rescore", "data-testid": "rescore-status", "aria-live": "polite" });
  const registryEl = h("div", { class: "registry", "data-testid": "model-registry" });
  const bannerEl = h("div", { "data-testid": "base-update" });
  const plotEl = h("figure", { class: "acceptance", "data-testid": "acceptance" });
  const startButton = isAdmin
    ? h("button", { type: "button", class: "primary", "data-testid": "retrain-button", onclick: () => void startTraining() }, "Start training run (T)")
    : null;

  let runs: TrainingRunDetail[] = [];
  let registry: ModelRegistry | null = null;
  let acceptance: AcceptanceRow[] | null = null;
  let rescore: BatchJob | null = null;
  let baseUpdate: BaseUpdate | null = null;
  let busy = false;
  let acceptanceKey = "";

  const showError = (e: unknown, what: string) => {
    errorEl.textContent = `${what}: ${errorText(e)}`;
  };

  /** Run an admin action once at a time; refresh afterwards whatever happened. */
  async function act(what: string, fn: () => Promise<unknown>): Promise<void> {
    if (busy) return;
    busy = true;
    errorEl.textContent = "";
    try {
      await fn();
    } catch (e) {
      showError(e, what);
    } finally {
      busy = false;
      await refresh();
    }
  }

  async function startTraining(): Promise<void> {
    if (!isAdmin) return;
    await act("Could not start training", async () => {
      const run = await api.startTraining(projectId);
      runs = [run, ...runs.filter((r) => r.id !== run.id)];
      renderRun();
    });
  }

  /** Promote; a version worse on val than the active one needs a confirmation showing both figures. */
  async function promote(id: number): Promise<void> {
    try {
      await api.promoteVersion(id);
    } catch (e) {
      const worse = e instanceof ApiError ? worseConfirmation(e.code, e.extra) : null;
      if (!worse) throw e;
      const yes = await confirmDialog({ title: worse.title, lines: worse.lines, confirmLabel: "Promote anyway", testId: "promote-confirm" });
      if (yes) await api.promoteVersion(id, true);
    }
  }

  function renderRun(): void {
    clear(runEl);
    const run = runs[0];
    const blocked = trainingBlockReason(registry);
    const canStart = (!run || !isActive(run)) && !blocked;
    if (startButton) {
      startButton.disabled = !canStart;
      startButton.title = blocked ?? "";
    }
    const why = blocked && startButton ? h("p", { class: "small warning", "data-testid": "training-blocked" }, `Cannot start a run yet: ${blocked}`) : null;
    const since = registry ? h("p", { class: "muted small" }, `${registry.accepted_since_last_run} image(s) accepted since the last run; a run starts automatically at ${registry.retrain_threshold}.`) : null;
    if (!run) {
      append(runEl, [why, h("p", { class: "muted" }, "No training run yet."), since]);
      return;
    }
    const v = runView(run, isAdmin);
    append(runEl, [
      why,
      h(
        "div",
        { class: `job run-${v.status}`, "data-status": v.status, "data-run-id": v.id },
        h("div", { class: "job-label" }, h("span", { "data-testid": "run-title" }, v.title), h("span", { class: "muted", "data-testid": "run-detail" }, v.detail)),
        h("progress", { max: 100, value: v.percent, "aria-label": `Training run ${v.id} progress`, "data-testid": "run-progress" }),
        v.message ? h("div", { class: "small", "data-testid": "run-message" }, v.message) : null,
      ),
      v.canCancel
        ? h("button", { type: "button", class: "danger", "data-testid": "cancel-training", onclick: () => void act("Could not cancel", () => api.cancelTraining(v.id)) }, "Cancel run")
        : null,
      since,
    ]);
  }

  function renderBanner(): void {
    clear(bannerEl);
    const b = baseBanner(baseUpdate);
    if (!b) return;
    const runActive = isActive(runs[0]);
    append(bannerEl, [
      h(
        "div",
        { class: "banner", role: "region", "aria-label": "Newer base model" },
        h("strong", {}, b.title),
        h("ul", {}, b.figures.map((f) => h("li", {}, f))),
        isAdmin
          ? h("button", {
              type: "button", class: "primary", "data-testid": "rebase-button", disabled: runActive,
              title: runActive ? "Wait for the current training run" : "",
              onclick: () => void act("Could not rebase", async () => {
                const run = await api.rebase(projectId);
                runs = [run, ...runs.filter((r) => r.id !== run.id)];
              }),
            }, "Rebase on this base")
          : null,
        h("p", { class: "muted small" }, "Rebasing fine-tunes this project from the new base on its own data; the promotion gate decides whether the result is used."),
      ),
    ]);
  }

  function renderRegistry(): void {
    clear(registryEl);
    if (!registry) return;
    const m = registryModel(registry, isAdmin);
    append(registryEl, [
      h("p", {}, "In use: ", h("strong", { "data-testid": "active-model-name" }, m.activeName ?? "no model")),
      m.rows.length
        ? h(
            "table",
            { class: "image-table registry-table" },
            h("caption", { class: "muted small" }, "Mask AP on the project's fixed val split"),
            h("tr", {}, ["Name", "Status", "Mask AP (val)", "Parent", "Created (UTC)", ""].map((t) => h("th", { scope: "col" }, t))),
            m.rows.map((r) =>
              h(
                "tr",
                { "data-version-id": r.id, "data-status": r.status, class: r.active ? "active-version" : "" },
                h("td", {}, r.name, r.active ? h("span", { class: "badge" }, " in use") : null),
                h("td", { title: r.note }, h("span", { class: `model-status model-${r.status}` }, r.statusLabel), r.status === "failed" && r.note ? h("div", { class: "small muted" }, r.note) : null),
                h("td", { title: r.comparedWith ? `compared with ${r.comparedWith}` : "" }, r.maskAp),
                h("td", {}, r.parent),
                h("td", {}, r.created),
                h(
                  "td",
                  {},
                  r.canPromote
                    ? h("button", { type: "button", "data-testid": "promote-version", "aria-label": `Promote ${r.name}`, onclick: () => void act(`Could not promote ${r.name}`, () => promote(r.id)) }, "Promote")
                    : null,
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No project model versions yet; pre-labels come from the shipped base."),
      m.canRollback
        ? h("button", { type: "button", "data-testid": "rollback-model", onclick: () => void act("Could not roll back", () => api.rollbackModel(projectId)) }, `Roll back to ${m.rollbackTarget}`)
        : null,
    ]);
  }

  function renderAcceptance(): void {
    clear(plotEl);
    if (!acceptance) return;
    const svg = h("div", { class: "plot" });
    svg.innerHTML = acceptancePlotSvg(acceptance); // built from escaped text by a pure function
    plotEl.append(svg, h("figcaption", { class: "muted small" }, "Per model version, over accepted images it pre-labelled."));
  }

  function renderRescore(): void {
    clear(rescoreEl);
    if (!rescore) return;
    rescoreEl.append(
      h("div", { class: "job-label" }, h("span", {}, rescoreText(rescore))),
      h("progress", { max: 100, value: Math.round(rescore.progress), "aria-label": "Re-scoring progress" }),
    );
  }

  async function refresh(): Promise<void> {
    const [r, reg, jobs, upd] = await Promise.allSettled([
      api.trainingRuns(projectId), api.modelRegistry(projectId), api.rescoreJobs(projectId), api.baseUpdate(projectId),
    ]);
    if (r.status === "fulfilled") runs = r.value;
    baseUpdate = upd.status === "fulfilled" ? upd.value : null; // no banner when the server cannot tell
    if (reg.status === "fulfilled") registry = reg.value;
    if (jobs.status === "fulfilled") rescore = currentRescore(jobs.value);
    const failed = [r, reg, jobs].find((x) => x.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed && !errorEl.textContent) showError(failed.reason, "Could not load the learning loop");
    renderBanner();
    renderRun();
    renderRegistry();
    renderRescore();
    // The acceptance metric only moves when versions or reviews change; reload it with the registry,
    // after the rest of the panel is drawn.
    const key = registry ? `${registry.versions.map((v) => `${v.id}:${v.status}`).join(",")}|${registry.accepted_since_last_run}` : "";
    if (key !== acceptanceKey || acceptance === null) {
      try {
        acceptance = await api.acceptance(projectId);
        acceptanceKey = key;
      } catch (e) {
        showError(e, "Could not load the acceptance metric");
      }
    }
    renderAcceptance();
  }

  const element = h(
    "section",
    { class: "card learning", "aria-labelledby": "learning-title" },
    h("h2", { id: "learning-title" }, "Learning loop"),
    errorEl,
    bannerEl,
    h("div", { class: "grid2" },
      h("div", {}, h("h3", {}, "Training"), startButton, runEl, rescoreEl),
      h("div", {}, h("h3", {}, "Acceptance of pre-labels"), plotEl),
    ),
    h("h3", {}, "Model registry"),
    registryEl,
  );
  return { element, refresh, startTraining };
}
