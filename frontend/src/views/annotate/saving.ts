// Saving in the annotate view: the save status, autosave, the Reload / Overwrite dialog on a
// version conflict, and edits parked in this browser (offered back on the next visit) when
// they could not be saved.

import { api } from "../../api";
import { AutoSaver, type SaveStatus } from "../../autosave";
import { clear, errorMessage, h, toast } from "../../dom";
import { clearDraft, loadDraft, saveDraft } from "../../drafts";
import type { Shortcut } from "../../keyboard";
import { adoptVersion, isDirty, loadServerSet, restoreInstances, type EditorState, type Store } from "../../store";

const STATUS_TEXT: Record<SaveStatus["kind"], string> = {
  saved: "All changes saved",
  dirty: "Unsaved changes",
  saving: "Saving…",
  conflict: "Conflict: not saved",
  error: "",
};

export class AnnotateSaving {
  /** The toolbar's save status. */
  readonly statusEl = h("span", { class: "save-status", "data-testid": "save-status", role: "status" }, "Saved");
  /** Holds the banner offering back a parked draft. */
  readonly draftHost = h("div", { class: "draft-banner-host" });
  /** Holds the conflict dialog. */
  readonly dialogHost = h("div");
  readonly saver: AutoSaver;
  /** Called instead of the conflict dialog when only the model's pre-labels landed (the view offers them). */
  onPreLabels: (() => void) | null = null;

  constructor(
    private store: Store<EditorState>,
    private imageId: number,
  ) {
    this.offerDraft();
    this.saver = new AutoSaver(store, api, (st) => this.showStatus(st));
  }

  private showStatus(st: SaveStatus): void {
    this.statusEl.className = `save-status ${st.kind}`;
    this.statusEl.textContent = STATUS_TEXT[st.kind];
    if (st.kind === "error") this.statusEl.textContent = `Save failed (will retry): ${st.message}`;
    if (st.kind === "conflict" && st.preLabelOnly && this.onPreLabels) {
      this.statusEl.textContent = "Pre-labels arrived: choose what to do with them";
      this.onPreLabels();
    } else if (st.kind === "conflict") {
      this.parkDraft();
      this.showConflict(st.currentVersion);
    }
    if (st.kind === "saved" && !this.draftHost.firstChild) clearDraft(localStorage, this.imageId);
  }

  /** Keep the unsaved set in this browser, to be offered back on the next visit. */
  parkDraft(): void {
    saveDraft(localStorage, this.imageId, this.store.state.version, this.store.state.instances);
  }

  /** Edits left unsaved by an earlier visit (conflict, network, closed tab) are offered back. */
  private offerDraft(): void {
    const draft = loadDraft(localStorage, this.imageId);
    if (!draft) return;
    const resolveDraft = (restore: boolean) => {
      clear(this.draftHost);
      clearDraft(localStorage, this.imageId);
      if (restore) this.store.dispatch((s) => restoreInstances(s, draft.instances));
    };
    this.draftHost.append(h("div", { class: "draft-banner", role: "alert", "data-testid": "draft-banner" },
      `Unsaved edits from ${new Date(draft.savedAt).toLocaleString()} (${draft.instances.length} instances, based on version ${draft.version}) were kept in this browser. `,
      h("button", { type: "button", "data-testid": "draft-restore", onclick: () => resolveDraft(true) }, "Restore them (saves over the current set; undo with Ctrl+Z)"), " ",
      h("button", { type: "button", "data-testid": "draft-discard", onclick: () => resolveDraft(false) }, "Discard")));
  }

  /** Ask the annotator to reload the server's version or overwrite it with theirs. */
  showConflict(currentVersion: number): void {
    const { store, saver, dialogHost, imageId } = this;
    clear(dialogHost);
    const close = () => clear(dialogHost);
    const reload = async () => {
      try {
        const fresh = await api.annotations(imageId);
        store.dispatch((s) => loadServerSet(s, fresh.version, fresh.annotations));
        close();
        saver.resolved();
        toast("Loaded the saved version. Your edits are one Ctrl+Z away.");
      } catch (e) {
        toast(errorMessage(e), "error");
      }
    };
    const overwrite = async () => {
      let version = currentVersion;
      if (!Number.isFinite(version)) version = (await api.annotations(imageId)).version;
      store.dispatch((s) => adoptVersion(s, version));
      close();
      saver.resolved();
      await saver.flush();
    };
    dialogHost.append(
      h("div", { class: "modal-backdrop" },
        h("div", { class: "modal conflict", role: "alertdialog", "aria-labelledby": "conflict-title", "data-testid": "conflict-dialog" },
          h("h2", { id: "conflict-title" }, "Someone else saved this image"),
          h("p", {}, `The image was saved by someone else (now version ${Number.isFinite(currentVersion) ? currentVersion : "?"}) while you were editing. Your changes have not been saved yet and are still here.`),
          h("p", {}, h("b", {}, "Reload"), " shows their version (your edits stay in undo: Ctrl+Z brings them back). ",
            h("b", {}, "Overwrite"), " saves your version over theirs (theirs stays in the image's revision history)."),
          h("div", { class: "actions" },
            h("button", { type: "button", "data-testid": "conflict-reload", onclick: () => void reload() }, "Reload their version (R)"),
            h("button", { type: "button", class: "danger", "data-testid": "conflict-overwrite", onclick: () => void overwrite() }, "Overwrite with mine (O)")))));
  }

  /** While the conflict dialog is open, its keys are the only ones; else none. */
  conflictShortcuts(): Shortcut[] {
    if (this.dialogHost.firstChild === null) return [];
    const press = (testid: string) => this.dialogHost.querySelector<HTMLButtonElement>(`[data-testid=${testid}]`)?.click();
    return [
      { keys: "r", label: "Reload their version", group: "Conflict", run: () => press("conflict-reload") },
      { keys: "o", label: "Overwrite with mine", group: "Conflict", run: () => press("conflict-overwrite") },
    ];
  }

  /** Save now if there is anything to save; true when the server holds the local set. */
  flush(): Promise<boolean> {
    return this.saver.flush();
  }

  /** Save before going to another image; says why not when it cannot. */
  async flushBeforeLeaving(): Promise<boolean> {
    const ok = await this.saver.flush();
    if (!ok) toast(isDirty(this.store.state) ? "Your changes are not saved yet: resolve the message first." : "Could not save.", "error");
    return ok;
  }

  /** The page is going away: park unsaved edits and send them keepalive. */
  onPageHide(): void {
    if (isDirty(this.store.state)) {
      this.parkDraft();
      void this.saver.flush(true);
    }
  }

  /** Closing the tab with unsaved edits: send them, and let the browser ask. */
  onBeforeUnload(e: BeforeUnloadEvent): void {
    if (isDirty(this.store.state)) {
      void this.saver.flush(true);
      e.preventDefault();
    }
  }

  /** Leaving the view: a last save; edits that cannot be saved stay parked in this browser. */
  async leave(): Promise<void> {
    if (isDirty(this.store.state) && !(await this.saver.flush())) {
      this.parkDraft();
      toast("Your unsaved edits were kept in this browser: reopen the image to restore them.", "error", 8000);
    }
  }

  dispose(): void {
    this.saver.dispose();
  }
}
