// Debounced autosave with optimistic locking. The saver never drops local edits: on a
// 409 it stops and reports the conflict; the view asks the annotator to reload or overwrite.

import { ApiError } from "./api";
import { isDirty, markSaved, toAnnotationInputs, type EditorState, type Instance, type Store } from "./store";
import type { AnnotationInput, AnnotationSet } from "./types";

export type SaveStatus =
  | { kind: "saved" }
  | { kind: "dirty" }
  | { kind: "saving" }
  | { kind: "conflict"; currentVersion: number; message: string; preLabelOnly: boolean }
  | { kind: "error"; message: string };

export interface SaveBackend {
  saveAnnotations(imageId: number, expectedVersion: number, annotations: AnnotationInput[], keepalive?: boolean): Promise<AnnotationSet>;
}

export class AutoSaver {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<boolean> | null = null;
  private status: SaveStatus = { kind: "saved" };
  private unsubscribe: () => void;

  constructor(
    private store: Store<EditorState>,
    private backend: SaveBackend,
    private onStatus: (s: SaveStatus) => void,
    private delayMs = 1200,
  ) {
    this.unsubscribe = store.subscribe((s, prev) => {
      if (s.instances !== prev.instances && isDirty(s) && this.status.kind !== "conflict") {
        this.setStatus({ kind: "dirty" });
        this.schedule();
      }
    });
  }

  get current(): SaveStatus {
    return this.status;
  }

  private setStatus(s: SaveStatus): void {
    this.status = s;
    this.onStatus(s);
  }

  schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.delayMs);
  }

  /** Save now if there is anything to save. Resolves true when the server holds the local set. */
  async flush(keepalive = false): Promise<boolean> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.inFlight) await this.inFlight;
    if (this.status.kind === "conflict") return false;
    const s = this.store.state;
    if (!isDirty(s)) {
      this.setStatus({ kind: "saved" });
      return true;
    }
    this.inFlight = this.send(s.imageId, s.version, s.instances, keepalive);
    try {
      return await this.inFlight;
    } finally {
      this.inFlight = null;
    }
  }

  private async send(imageId: number, version: number, sent: readonly Instance[], keepalive: boolean): Promise<boolean> {
    this.setStatus({ kind: "saving" });
    try {
      const res = await this.backend.saveAnnotations(imageId, version, toAnnotationInputs(sent), keepalive);
      this.store.dispatch((s) => markSaved(s, res.version, sent));
      if (isDirty(this.store.state)) {
        this.setStatus({ kind: "dirty" });
        this.schedule();
        return false;
      }
      this.setStatus({ kind: "saved" });
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.isConflict) {
        const currentVersion = Number(e.extra.current_version ?? NaN);
        // Only the model's pre-labels landed since the version we hold: the view offers them.
        const preLabelOnly = e.extra.pre_label_only === true;
        this.setStatus({ kind: "conflict", currentVersion, message: e.message, preLabelOnly });
      } else {
        const message = e instanceof Error ? e.message : String(e);
        this.setStatus({ kind: "error", message });
        // Transient failures retry; the edits stay in the store either way.
        if (!(e instanceof ApiError) || e.status >= 500 || e.status === 0) this.schedule();
      }
      return false;
    }
  }

  /** After the annotator resolved a conflict (reload or overwrite), autosave resumes. */
  resolved(): void {
    this.setStatus(isDirty(this.store.state) ? { kind: "dirty" } : { kind: "saved" });
    if (isDirty(this.store.state)) this.schedule();
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.unsubscribe();
  }
}
