// The taxonomy mapping editor's state: the saved mapping, the admin's draft, and the dry-run
// preview of the draft. Saving is allowed only once the preview of exactly this draft is shown.
// Pure; the view calls the API and feeds the answers back through these functions.

import type { TaxonomyPreview } from "../types";

/** Category id → universal class; "" = project-only. */
export type Mapping = Record<number, string>;

export type MappingPhase = "clean" | "editing" | "previewing" | "previewed" | "saving" | "error";

export interface MappingState {
  categories: { id: number; name: string }[];
  universalNames: string[];
  saved: Mapping;
  draft: Mapping;
  phase: MappingPhase;
  /** The dry-run answer and the draft it was made for. */
  preview: TaxonomyPreview | null;
  previewKey: string | null;
  error: string | null;
}

export const PROJECT_ONLY = "";

export function mappingKey(m: Mapping): string {
  return JSON.stringify(Object.keys(m).map(Number).sort((a, b) => a - b).map((id) => [id, m[id]]));
}

/** A clean editor from the server's saved mapping (GET, or the answer of a save). */
export function mappingFromServer(p: TaxonomyPreview): MappingState {
  const saved: Mapping = {};
  for (const c of p.categories) saved[c.category] = c.universal_name ?? PROJECT_ONLY;
  return {
    categories: p.categories.map((c) => ({ id: c.category, name: c.name })),
    universalNames: [...p.universal_names],
    saved,
    draft: { ...saved },
    phase: "clean",
    preview: null,
    previewKey: null,
    error: null,
  };
}

export function changes(s: MappingState): Mapping {
  const out: Mapping = {};
  for (const c of s.categories) if (s.draft[c.id] !== s.saved[c.id]) out[c.id] = s.draft[c.id];
  return out;
}

export function isDirty(s: MappingState): boolean {
  return Object.keys(changes(s)).length > 0;
}

export function setTarget(s: MappingState, categoryId: number, target: string): MappingState {
  if (!(categoryId in s.draft) || (target !== PROJECT_ONLY && !s.universalNames.includes(target))) return s;
  const next = { ...s, draft: { ...s.draft, [categoryId]: target }, error: null };
  return { ...next, phase: isDirty(next) ? "editing" : "clean" };
}

export function discard(s: MappingState): MappingState {
  return { ...s, draft: { ...s.saved }, phase: "clean", preview: null, previewKey: null, error: null };
}

export function previewRequested(s: MappingState): MappingState {
  return { ...s, phase: "previewing", previewKey: mappingKey(s.draft), preview: null, error: null };
}

/** A dry-run answer; ignored if the draft changed while it was on its way. */
export function previewReceived(s: MappingState, key: string, preview: TaxonomyPreview): MappingState {
  if (key !== mappingKey(s.draft) || s.phase !== "previewing") return s;
  return { ...s, phase: "previewed", preview, previewKey: key };
}

export function requestFailed(s: MappingState, message: string): MappingState {
  return { ...s, phase: "error", error: message };
}

/** The preview on screen is of the current draft (not of an earlier one). */
export function previewIsCurrent(s: MappingState): boolean {
  return s.preview !== null && s.previewKey === mappingKey(s.draft);
}

export function canPreview(s: MappingState): boolean {
  return isDirty(s) && s.phase !== "previewing" && s.phase !== "saving";
}

export function canSave(s: MappingState): boolean {
  return isDirty(s) && s.phase === "previewed" && previewIsCurrent(s);
}

export function saveRequested(s: MappingState): MappingState {
  return canSave(s) ? { ...s, phase: "saving", error: null } : s;
}

/** The mapping the server saved becomes the new clean state. */
export function saved(s: MappingState, answer: TaxonomyPreview): MappingState {
  return { ...mappingFromServer(answer), universalNames: answer.universal_names.length ? answer.universal_names : s.universalNames };
}

export interface PreviewLine {
  universal: string;
  categories: string[];
  train: number;
  val: number;
}

/** What the preview says, ready to list: one line per universal class fed, project-only, totals. */
export function previewLines(p: TaxonomyPreview): { fed: PreviewLine[]; projectOnly: string[]; summary: string } {
  const fed = Object.entries(p.universal)
    .filter(([, v]) => v.categories.length > 0)
    .map(([universal, v]) => ({ universal, categories: v.categories, train: v.train, val: v.val }));
  const projectOnly = p.project_only.map((c) => `${c.name} (${c.accepted_annotations} accepted annotation${c.accepted_annotations === 1 ? "" : "s"})`);
  const summary = p.contributes
    ? `${p.annotations_contributed} accepted train annotation(s) would feed the universal model; ${p.annotations_left_out} stay project-only.`
    : `This project does not contribute (opt-in is off); ${p.annotations_left_out} accepted annotation(s) are project-only.`;
  return { fed, projectOnly, summary };
}
