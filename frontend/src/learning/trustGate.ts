// The trust gate as the dashboard shows it (issue 28): per model version, the mode, the threshold,
// precision and recall, the seconds saved per image and the reviewed images behind them, and the
// gate's plain sentence; and the pin form's model. Pure: the view renders these as they are.

import type { GateFigures, GateMode, GatePin, GatePinInput, TrustGate } from "../types";

export const MODE_LABELS: Record<GateMode, string> = { prelabel: "Pre-labels", suggest: "Suggestions" };

export interface GateRow {
  versionId: number;
  version: string;
  active: boolean;
  mode: GateMode;
  modeLabel: string;
  threshold: string;
  precision: string;
  recall: string;
  secondsSaved: string;
  reviewed: string;
  reason: string;
}

const pct = (x: number | null) => (x === null ? "–" : `${Math.round(x * 100)} %`);

export function thresholdText(t: number | null): string {
  return t === null ? "none worth showing" : t.toFixed(2);
}

export function secondsText(s: number | null): string {
  return s === null ? "–" : `${s >= 0 ? "" : "−"}${Math.abs(s).toFixed(1)} s`;
}

export function gateRow(g: GateFigures, active: boolean, minReviewed: number): GateRow {
  return {
    versionId: g.model_version.id,
    version: g.model_version.name,
    active,
    mode: g.mode,
    modeLabel: MODE_LABELS[g.mode],
    threshold: thresholdText(g.threshold),
    precision: pct(g.precision),
    recall: pct(g.recall),
    secondsSaved: secondsText(g.seconds_saved_per_image),
    reviewed: g.learned ? String(g.reviewed_images) : `${g.reviewed_images} of ${minReviewed}`,
    reason: g.reason,
  };
}

/** The active version first, then the others newest first. */
export function gateRows(t: TrustGate): GateRow[] {
  const activeId = t.active?.model_version.id ?? null;
  const others = t.versions.filter((g) => g.model_version.id !== activeId).map((g) => gateRow(g, false, t.min_reviewed));
  return t.active ? [gateRow(t.active, true, t.min_reviewed), ...others] : others;
}

/** What applies now, when an admin's pin overrides the gate; null when nothing is pinned. */
export function pinnedNote(t: TrustGate): string | null {
  const a = t.active?.applied;
  if (!a?.pinned) return null;
  const who = t.pin.changed_by ? ` by ${t.pin.changed_by}` : "";
  return `Pinned${who}: ${MODE_LABELS[a.mode].toLowerCase()} at ${thresholdText(a.threshold)}.`;
}

/** The pin form's PATCH: both fields, empty meaning "the gate decides"; a bad number goes as typed for the server to name. */
export function pinChanges(form: { mode: string; threshold: string }): GatePinInput {
  const raw = form.threshold.trim();
  const n = Number(raw);
  return {
    pinned_mode: form.mode === "prelabel" || form.mode === "suggest" ? form.mode : null,
    pinned_threshold: raw === "" ? null : Number.isFinite(n) ? n : (raw as unknown as number),
  };
}

export function pinForm(pin: GatePin): { mode: string; threshold: string } {
  return { mode: pin.mode ?? "", threshold: pin.threshold === null ? "" : String(pin.threshold) };
}
