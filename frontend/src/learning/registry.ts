// The model registry as the dashboard's table shows it: one row per project version, newest
// first, with what an admin may do to it. Pure: the view renders these rows as they are.

import type { ModelRegistry, ModelStatus, ModelVersion } from "../types";

export const MODEL_STATUS_LABELS: Record<ModelStatus, string> = {
  promoted: "promoted",
  ready: "not promoted",
  failed: "failed",
  training: "training",
  archived: "archived",
};

export interface RegistryRow {
  id: number;
  name: string;
  status: ModelStatus;
  statusLabel: string;
  /** The project's model in use right now. */
  active: boolean;
  /** Mask AP on the val split, three decimals; "–" when there is none. */
  maskAp: string;
  /** Mask AP of the model it was compared with on the same split, when the run recorded it. */
  comparedWith: string | null;
  parent: string;
  /** "YYYY-MM-DD HH:MM" in UTC. */
  created: string;
  /** Why a failed version failed (or a promotion note). */
  note: string;
  canPromote: boolean;
}

export interface RegistryModel {
  rows: RegistryRow[];
  /** Name of the model in use (the shipped base when the project has none of its own). */
  activeName: string | null;
  canRollback: boolean;
  /** What a rollback would go back to, for the button's label. */
  rollbackTarget: string | null;
}

const PROMOTABLE: ModelStatus[] = ["ready", "archived"];

export function formatUtc(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 16).replace("T", " ");
}

export function formatAp(value: unknown): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(3) : "–";
}

function comparedAp(v: ModelVersion): string | null {
  const c = v.metrics?.compared_with as { name?: string; mask_ap?: number } | undefined;
  return c && typeof c.mask_ap === "number" ? `${formatAp(c.mask_ap)} (${c.name ?? "previous"})` : null;
}

export function registryModel(reg: ModelRegistry, isAdmin: boolean): RegistryModel {
  const names = new Map<number, string>();
  for (const v of reg.versions) names.set(v.id, v.name);
  if (reg.base) names.set(reg.base.id, reg.base.name);
  const activeId = reg.active?.id ?? null;
  const rows = reg.versions.map((v): RegistryRow => {
    const active = v.id === activeId;
    const note = v.status === "failed" ? String(v.metrics?.error ?? "") : String(v.data_summary?.promotion ?? "");
    return {
      id: v.id,
      name: v.name,
      status: v.status,
      statusLabel: MODEL_STATUS_LABELS[v.status] ?? v.status,
      active,
      maskAp: formatAp(v.metrics?.mask_ap),
      comparedWith: comparedAp(v),
      parent: v.parent === null ? "—" : names.get(v.parent) ?? `#${v.parent}`,
      created: formatUtc(v.created_at),
      note,
      canPromote: isAdmin && !active && PROMOTABLE.includes(v.status),
    };
  });
  const active = reg.active;
  const ownActive = active !== null && active.project !== null;
  let rollbackTarget: string | null = null;
  if (ownActive) {
    const parent = reg.versions.find((v) => v.id === active.parent);
    rollbackTarget = parent ? parent.name : reg.base?.name ?? "the shipped base";
  }
  return { rows, activeName: active?.name ?? null, canRollback: isAdmin && ownActive, rollbackTarget };
}

/** One model's mask AP on the val split, as the promote refusal (409 `worse_than_active`) names it. */
export interface ValFigure {
  id: number;
  name: string;
  mask_ap: number;
  val_images: number | null;
}

export interface WorseConfirmation {
  title: string;
  /** The candidate's figure, then the active model's. */
  lines: [string, string];
}

function valFigure(v: unknown): ValFigure | null {
  const f = v as Partial<ValFigure> | null;
  return f && typeof f.name === "string" && typeof f.mask_ap === "number" ? (f as ValFigure) : null;
}

/** What the confirm dialog says when a promotion was refused as worse; null for any other refusal. */
export function worseConfirmation(code: string, extra: Record<string, unknown>): WorseConfirmation | null {
  if (code !== "worse_than_active") return null;
  const candidate = valFigure(extra.candidate);
  const active = valFigure(extra.active);
  if (!candidate || !active) return null;
  const line = (f: ValFigure, role: string) =>
    `${f.name} (${role}): mask AP ${formatAp(f.mask_ap)}${f.val_images === null || f.val_images === undefined ? "" : ` on ${f.val_images} val images`}`;
  return {
    title: `${candidate.name} is worse than ${active.name} on the val split. Promote it anyway?`,
    lines: [line(candidate, "to promote"), line(active, "in use")],
  };
}
