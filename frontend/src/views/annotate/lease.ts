// The annotate view's hold on its image: a lease claimed through the queue (or taken on
// opening), renewed every minute, and given back when the annotator leaves.

import { ApiError, api } from "../../api";
import { errorMessage, h } from "../../dom";
import type { Lease, QueuedImage } from "../../types";

const LEASE_RENEW_MS = 60_000;

/** Images claimed through the queue, so opening them does not claim twice. */
const claimed = new Set<number>();

/** Claim the project's next image from the queue; null when the queue is empty. */
export async function claimNext(projectId: number): Promise<QueuedImage | null> {
  const img = await api.queueNext(projectId);
  if (img) claimed.add(img.id);
  return img;
}

function leaseText(lease: Lease | null): string {
  return lease ? `Leased until ${new Date(lease.expires_at).toLocaleTimeString()}` : "";
}

export class ImageLease {
  /** The toolbar's lease status. */
  readonly el = h("span", { class: "lease muted", "data-testid": "lease" });
  private timer: ReturnType<typeof setInterval> | null = null;
  private handedOn = false;
  /** Someone else holds the image: who, and until when (the view opens read-only). */
  heldBy: Lease | null = null;

  private constructor(private imageId: number) {}

  /** Hold the image: a lease just claimed through the queue is shown as it is, else it is taken now. */
  static async hold(imageId: number, current: Lease | null): Promise<ImageLease> {
    const lease = new ImageLease(imageId);
    if (claimed.has(imageId)) {
      claimed.delete(imageId);
      lease.el.textContent = leaseText(current);
    } else {
      await lease.renew();
    }
    if (lease.heldBy) {
      lease.handedOn = true; // nothing of ours to release
      return lease;
    }
    lease.timer = setInterval(() => void lease.renew(), LEASE_RENEW_MS);
    return lease;
  }

  private async renew(): Promise<void> {
    try {
      const r = await api.renewLease(this.imageId);
      this.el.textContent = leaseText(r.lease);
      this.el.classList.remove("warn");
    } catch (e) {
      const holder = e instanceof ApiError && e.code === "leased" ? (e.extra.lease as Lease | undefined) : undefined;
      if (holder && this.timer === null) {
        this.heldBy = holder; // on opening: another annotator holds it
        this.el.textContent = `Read-only: ${holder.user} holds it until ${new Date(holder.expires_at).toLocaleTimeString()}`;
      } else {
        this.el.textContent = `Lease: ${errorMessage(e)}`;
      }
      this.el.classList.add("warn");
    }
  }

  /** Give the lease back now (Next); errors reach the caller. */
  release(): Promise<void> {
    return api.releaseLease(this.imageId);
  }

  /**
   * The queue moved the annotator on to another image: the lease was released (Next) or no
   * longer matters (submitted), so leaving does not release it again.
   */
  handOn(): void {
    this.handedOn = true;
  }

  /** The page is going away: release without waiting (the request is sent keepalive). */
  releaseOnPageHide(): void {
    if (!this.handedOn) void this.release();
  }

  stopRenewing(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Leaving the view: release unless the queue already moved on; failures are ignored. */
  async releaseOnLeave(): Promise<void> {
    if (!this.handedOn) await this.release().catch(() => {});
  }
}
