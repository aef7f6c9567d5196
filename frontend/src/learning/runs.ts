// Training-run and re-scoring progress as the dashboard words it. Pure.

import type { BatchJob, JobStatus, ModelRegistry, TrainingRunDetail } from "../types";

export const ACTIVE: JobStatus[] = ["pending", "running"];

export function isActive(job: { status: string } | null | undefined): boolean {
  return !!job && (ACTIVE as string[]).includes(job.status);
}

/** "<1 min", "~4 min", "~1 h 05 min"; "" when unknown. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return "<1 min left";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `~${minutes} min left`;
  return `~${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min left`;
}

export interface RunView {
  id: number;
  status: JobStatus;
  active: boolean;
  /** Percent, 0–100. */
  percent: number;
  title: string;
  /** "epoch 3/10 · loss 0.412 · ~2 min left" (only the parts the run has reported). */
  detail: string;
  message: string;
  canCancel: boolean;
}

export function runView(run: TrainingRunDetail, isAdmin: boolean): RunView {
  const active = isActive(run);
  const parts: string[] = [];
  if (run.epochs) parts.push(`epoch ${run.epoch ?? 0}/${run.epochs}`);
  if (typeof run.loss === "number" && Number.isFinite(run.loss)) parts.push(`loss ${run.loss.toFixed(4)}`);
  if (active && run.status === "running") {
    const eta = formatEta(run.eta_seconds);
    if (eta) parts.push(eta);
  }
  const cancelling = active && run.cancel_requested;
  const word = cancelling ? "cancelling" : run.status;
  const message = run.message || (run.status === "succeeded" ? run.report?.reason ?? "" : "");
  return {
    id: run.id,
    status: run.status,
    active,
    percent: Math.max(0, Math.min(100, Math.round(run.progress ?? 0))),
    title: `Training run #${run.id} · ${word}${run.requested_by ? ` · by ${run.requested_by}` : ""}`,
    detail: parts.join(" · "),
    message,
    canCancel: isAdmin && active && !run.cancel_requested,
  };
}

/** The re-scoring job worth showing: a running one, else the newest. */
export function currentRescore(jobs: BatchJob[]): BatchJob | null {
  return jobs.find(isActive) ?? jobs[0] ?? null;
}

export function rescoreText(job: BatchJob): string {
  const counts = job.total ? `${job.done} / ${job.total} images` : "no pending images";
  return `Re-scoring after promotion · ${job.status} · ${counts}${job.message ? ` · ${job.message}` : ""}`;
}

/** Why a training run cannot start now (too few accepted images, with the numbers), or null. */
export function trainingBlockReason(registry: ModelRegistry | null): string | null {
  const data = registry?.training_data;
  if (!data || data.ready) return null;
  return data.reason ?? `Needs ${data.min_train} accepted train and ${data.min_val} val images; has ${data.train} and ${data.val}.`;
}
