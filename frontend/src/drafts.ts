// Unsaved edits survive leaving the page: when a save could not happen (conflict, network,
// the tab closing), the local set is parked in localStorage and offered back on the next visit.

import type { Instance } from "./store";

export interface Draft {
  imageId: number;
  /** The server version the edits were based on. */
  version: number;
  instances: Instance[];
  savedAt: string;
}

const key = (imageId: number) => `annotator:draft:${imageId}`;

export function saveDraft(storage: Storage, imageId: number, version: number, instances: readonly Instance[], now = new Date()): void {
  const draft: Draft = { imageId, version, instances: [...instances], savedAt: now.toISOString() };
  try {
    storage.setItem(key(imageId), JSON.stringify(draft));
  } catch {
    // Quota exceeded or storage disabled: nothing more to do here; the dialog already warned.
  }
}

export function loadDraft(storage: Storage, imageId: number): Draft | null {
  try {
    const raw = storage.getItem(key(imageId));
    if (!raw) return null;
    const d = JSON.parse(raw) as Draft;
    return d && d.imageId === imageId && Array.isArray(d.instances) ? d : null;
  } catch {
    return null;
  }
}

export function clearDraft(storage: Storage, imageId: number): void {
  try {
    storage.removeItem(key(imageId));
  } catch {
    // ignore
  }
}
