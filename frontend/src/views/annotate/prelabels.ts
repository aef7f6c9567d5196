// Pre-labels that arrive while the image is open. The view says "pre-labels pending" and polls;
// when they land they are merged (the annotator has not touched the image) or offered (they have),
// and a save that meets them is never "someone else saved this image": the server's 409 says the
// only change was the model's pre-labels (`pre_label_only`), and this part takes over.

import { api } from "../../api";
import { clear, errorMessage, h, toast } from "../../dom";
import { adoptVersion, commit, isDirty, loadServerSet, type EditorState, type Instance, type Store } from "../../store";
import type { Annotation } from "../../types";

const POLL_MS = 2000;

export class PrelabelWatch {
  readonly el = h("div", { class: "prelabel-host" });
  private timer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;
  private handling = false;
  private wasPending = false;

  /** `resolved` is called once the editor holds the server's version again (autosave resumes). */
  constructor(
    private store: Store<EditorState>,
    private imageId: number,
    private resolved: () => void,
  ) {}

  /** Ask the server once; while pre-labels are pending, say so and keep asking. */
  async start(): Promise<void> {
    try {
      const st = await api.prelabelState(this.imageId);
      if (this.disposed) return;
      if (st.state === "pending") {
        this.wasPending = true;
        this.showPending();
        this.timer = setTimeout(() => void this.start(), POLL_MS);
        return;
      }
      clear(this.el);
      if (st.state !== "ready") return;
      if (st.version > this.store.state.version) await this.landed();
      else if (this.wasPending) await this.offerPrediction(); // the annotator saved first: the server kept their set
    } catch (e) {
      if (!this.disposed) this.timer = setTimeout(() => void this.start(), POLL_MS * 2);
      console.warn("pre-label state", errorMessage(e));
    }
  }

  private showPending(): void {
    if (this.el.querySelector("[data-testid=prelabels-pending]")) return;
    clear(this.el);
    this.el.append(h("div", { class: "draft-banner", role: "status", "data-testid": "prelabels-pending" },
      "Pre-labels pending: the model has not labelled this image yet. You can start; its shapes will be offered when they land."));
  }

  /** The server's set moved on by pre-labels only: merge them, or offer them when the annotator has edited. */
  async landed(): Promise<void> {
    if (this.handling) return;
    this.handling = true;
    try {
      const fresh = await api.annotations(this.imageId);
      const s = this.store.state;
      clear(this.el);
      if (!isDirty(s) && s.past.length === 0) {
        this.store.dispatch((st) => loadServerSet(st, fresh.version, fresh.annotations));
        this.resolved();
        toast(`Pre-labels arrived: ${fresh.annotations.length} shape(s).`);
        return;
      }
      this.offer(fresh.version, fresh.annotations);
    } finally {
      this.handling = false;
    }
  }

  /** Pre-labels refused by the server (the image was touched first): offer the shapes the gate would show. */
  private async offerPrediction(): Promise<void> {
    const data = await api.suggestions(this.imageId);
    const threshold = data.threshold;
    const shapes = threshold === null ? [] : data.instances.filter((i) => i.score >= threshold);
    if (shapes.length && !this.disposed) {
      this.offer(null, shapes.map((i) => ({ category: i.category, shape: i.shape, source: "model" as const, score: i.score })));
    }
  }

  private offer(version: number | null, annotations: Pick<Annotation, "category" | "shape" | "source" | "score">[]): void {
    const add = (take: boolean) => {
      clear(this.el);
      this.store.dispatch((st) => {
        // the next save goes over the pre-label version (its set stays in the revision history)
        const base = version === null || version === st.version ? st : adoptVersion(st, version);
        if (!take) return base;
        const added: Instance[] = annotations.map((a, n) => ({ key: `k${st.nextKey + n}`, category: a.category, shape: a.shape, source: a.source, score: a.score ?? null }));
        return { ...commit(base, [...base.instances, ...added]), nextKey: st.nextKey + added.length };
      });
      this.resolved();
    };
    this.el.append(h("div", { class: "draft-banner", role: "alert", "data-testid": "prelabels-offer" },
      `Pre-labels arrived: the model found ${annotations.length} shape(s).${isDirty(this.store.state) || this.store.state.past.length ? " Your edits are kept." : ""} `,
      h("button", { type: "button", "data-testid": "prelabels-add", onclick: () => add(true) }, "Add them to my shapes"), " ",
      h("button", { type: "button", "data-testid": "prelabels-ignore", onclick: () => add(false) }, "Ignore them")));
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }
}
