// The project settings form's model: what the server holds, what the form says, what to PATCH.

import type { ProjectSettingsInput, QueueStrategy } from "../types";

export const QUEUE_STRATEGIES: { value: QueueStrategy; label: string }[] = [
  { value: "uncertainty+diversity", label: "Uncertainty + diversity" },
  { value: "uncertainty", label: "Uncertainty" },
  { value: "random", label: "Random" },
  { value: "fifo", label: "First in, first out" },
];

export interface LoopSettings {
  queue_strategy: QueueStrategy;
  retrain_threshold: number;
  contribute_to_universal: boolean;
  /** Annotators may upload images (reviewers and admins always may). */
  annotators_can_upload: boolean;
  /** Who last changed the opt-in and when, if the API tells. */
  contribution_changed_by: string | null;
  contribution_changed_at: string | null;
}

export function loopSettingsFrom(settings: Record<string, unknown>): LoopSettings {
  const str = (v: unknown) => (typeof v === "string" && v ? v : null);
  return {
    queue_strategy: (str(settings.queue_strategy) ?? "uncertainty+diversity") as QueueStrategy,
    retrain_threshold: Number(settings.retrain_threshold ?? 50),
    contribute_to_universal: settings.contribute_to_universal === true,
    annotators_can_upload: settings.annotators_can_upload === true,
    contribution_changed_by: str(settings.contribution_changed_by),
    contribution_changed_at: str(settings.contribution_changed_at),
  };
}

/** Only the fields the form changed; the server validates the values (and names the bad field). */
export function settingsChanges(saved: LoopSettings, form: { queue_strategy: string; retrain_threshold: string; contribute_to_universal: boolean; annotators_can_upload?: boolean }): ProjectSettingsInput {
  const out: ProjectSettingsInput = {};
  if (form.queue_strategy !== saved.queue_strategy) out.queue_strategy = form.queue_strategy as QueueStrategy;
  const n = form.retrain_threshold.trim() === "" ? NaN : Number(form.retrain_threshold);
  if (n !== saved.retrain_threshold) out.retrain_threshold = n;
  if (form.contribute_to_universal !== saved.contribute_to_universal) out.contribute_to_universal = form.contribute_to_universal;
  if (form.annotators_can_upload !== undefined && form.annotators_can_upload !== saved.annotators_can_upload) out.annotators_can_upload = form.annotators_can_upload;
  return out;
}

export function contributionNote(s: LoopSettings, formatTime: (iso: string) => string): string {
  if (!s.contribution_changed_by && !s.contribution_changed_at) return "";
  const who = s.contribution_changed_by ? ` by ${s.contribution_changed_by}` : "";
  const when = s.contribution_changed_at ? ` on ${formatTime(s.contribution_changed_at)}` : "";
  return `Last changed${who}${when}.`;
}
