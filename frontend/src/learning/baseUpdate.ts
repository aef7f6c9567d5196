// The "a newer base is available" banner: its text and figures from the base-update answer. Pure.

import type { BaseUpdate } from "../types";
import { formatAp, formatUtc } from "./registry";

export interface BaseBanner {
  title: string;
  /** The new base's mask AP on this project's val split next to the current model's. */
  figures: string[];
}

export function baseBanner(u: BaseUpdate | null): BaseBanner | null {
  if (!u || !u.available || !u.base) return null;
  const figures = [
    `${u.base.name}: mask AP ${formatAp(u.base.mask_ap_on_your_val)} on your val split${u.base.val_images ? ` (${u.base.val_images} images)` : ""}`,
  ];
  if (u.current) figures.push(`${u.current.name} (now): mask AP ${formatAp(u.current.mask_ap_on_your_val)}`);
  const when = u.base.promoted_at ? `, promoted ${formatUtc(u.base.promoted_at)} UTC` : "";
  return { title: `A newer base model is available: ${u.base.name}${when}`, figures };
}
