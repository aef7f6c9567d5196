// Notices above the annotate canvas: the reviewer's rejection comment, and the offer to treat a
// new shape that lands on an existing one (IoU >= 0.9) as a refinement of it.

import { clear, h } from "../../dom";
import { refineWith, refinementOffer, type RefinementOffer } from "../../refinement";
import type { EditorState, Store } from "../../store";
import type { Category, Rejection } from "../../types";

/** The rejection the annotator must act on, as a banner (nothing when there is none). */
export function rejectionBanner(rejection: Rejection | null | undefined): HTMLElement | null {
  if (!rejection) return null;
  return h("div", { class: "draft-banner rejection", role: "alert", "data-testid": "rejection-banner" },
    h("strong", {}, `Rejected by ${rejection.by ?? "a reviewer"}`), ` (${new Date(rejection.at).toLocaleString()}): `,
    h("span", { "data-testid": "rejection-comment" }, rejection.comment),
    h("span", { class: "muted" }, " Fix it and submit, or submit it as it is if you disagree: the reviewer sees it again."));
}

/** Flags a new shape that overlaps an existing one at IoU >= 0.9 and asks: refine that one, or keep both. */
export class RefineOffer {
  readonly el = h("div", { class: "refine-offer-host" });
  private offer: RefinementOffer | null = null;
  private unsubscribe: () => void;

  constructor(
    private store: Store<EditorState>,
    private categories: Map<number, Category>,
  ) {
    this.unsubscribe = store.subscribe((s, prev) => {
      if (s.instances === prev.instances) return;
      const offer = refinementOffer(prev.instances, s.instances);
      if (offer) this.show(offer, s);
      else if (this.offer && !this.stillValid(s)) this.dismiss(); // undone, deleted, or refined
    });
  }

  private stillValid(s: EditorState): boolean {
    const keys = new Set(s.instances.map((i) => i.key));
    return !!this.offer && keys.has(this.offer.newKey) && keys.has(this.offer.targetKey);
  }

  private show(offer: RefinementOffer, s: EditorState): void {
    this.offer = offer;
    const index = s.instances.findIndex((i) => i.key === offer.targetKey);
    const target = s.instances[index];
    const name = this.categories.get(target.category)?.name ?? "shape";
    clear(this.el);
    this.el.append(h("div", { class: "draft-banner refine-offer", role: "alert", "data-testid": "refine-offer" },
      `The new shape covers ${name} #${index + 1} almost exactly (IoU ${offer.iou.toFixed(2)}). `,
      h("button", { type: "button", "data-testid": "refine-accept", onclick: () => this.refine() }, `Refine #${index + 1} (replace its outline)`), " ",
      h("button", { type: "button", "data-testid": "refine-keep", onclick: () => this.dismiss() }, "Keep both")));
  }

  private refine(): void {
    const offer = this.offer;
    this.dismiss();
    if (offer) this.store.dispatch((s) => refineWith(s, offer));
  }

  dismiss(): void {
    this.offer = null;
    clear(this.el);
  }

  dispose(): void {
    this.unsubscribe();
  }
}
