// SAM requests of the annotate view: the newest prompt wins, and a 202 (the server is
// still computing the image embedding) is polled until the mask comes.

import { api } from "../../api";
import { errorMessage } from "../../dom";
import { samHasPrompt, samRequest, samSetMessage, samSetPreview } from "../../samSession";
import type { EditorState, Store } from "../../store";

const EMBEDDING_POLL_MS = 700;

export class SamRequests {
  private seq = 0;
  private poll: ReturnType<typeof setTimeout> | null = null;

  /** `status` shows "Segmenting…" while a request is out. */
  constructor(
    private store: Store<EditorState>,
    private imageId: number,
    private status: HTMLElement,
  ) {}

  /** Segment the current prompts; the answer lands in the store as a preview or a message. */
  async run(): Promise<void> {
    const my = ++this.seq;
    if (this.poll) clearTimeout(this.poll);
    const s = this.store.state;
    if (!s.sam.armed || !samHasPrompt(s)) return;
    this.status.textContent = "Segmenting…";
    try {
      const res = await api.segment(this.imageId, samRequest(s));
      if (my !== this.seq) return;
      if (res.status === "embedding") {
        this.store.dispatch((st) => samSetMessage(st, `Preparing the image embedding… ${Math.round(res.progress)}%`));
        this.poll = setTimeout(() => void this.run(), EMBEDDING_POLL_MS);
        return;
      }
      this.store.dispatch((st) => samSetPreview(st, res.shape, res.score, res.engine));
    } catch (e) {
      if (my !== this.seq) return;
      this.store.dispatch((st) => samSetMessage(st, `Segmentation failed: ${errorMessage(e)}`));
    }
  }

  /** Ignore the answer to any request still out (its prompts were dropped). */
  drop(): void {
    this.seq++;
  }

  dispose(): void {
    if (this.poll) clearTimeout(this.poll);
  }
}
