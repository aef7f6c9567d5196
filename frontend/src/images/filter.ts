// The image list's filter, order and page as one value, kept in the URL's hash query
// (#/projects/3/images?status=new&q=dock&page=2), so a reload, the back button and the annotate
// view's previous / next all see the same list.

import type { ImageStatus } from "../types";

export type Flag = "" | "true" | "false";
export type ImageOrder = "upload" | "-upload" | "name" | "-name" | "uncertainty" | "changed";

export interface ImageFilter {
  status: ImageStatus | "";
  split: "" | "train" | "val" | "unassigned";
  /** A username holding the image's lease, "none" for free images, "" for anyone. */
  assignee: string;
  has_pre_labels: Flag;
  rejected: Flag;
  q: string;
  order: ImageOrder;
}

export const EMPTY_FILTER: ImageFilter = { status: "", split: "", assignee: "", has_pre_labels: "", rejected: "", q: "", order: "upload" };

export const ORDER_LABELS: Record<ImageOrder, string> = {
  upload: "Upload order",
  "-upload": "Newest first",
  name: "Name A–Z",
  "-name": "Name Z–A",
  uncertainty: "Most uncertain first",
  changed: "Recently changed",
};

const KEYS = Object.keys(EMPTY_FILTER) as (keyof ImageFilter)[];

/** The filter from a query string (unknown keys ignored; the server checks values). */
export function filterFromQuery(query: string): ImageFilter {
  const params = new URLSearchParams(query.replace(/^\?/, ""));
  const out: Record<string, string> = { ...EMPTY_FILTER };
  for (const k of KEYS) {
    const v = params.get(k);
    if (v !== null) out[k] = v;
  }
  return out as unknown as ImageFilter;
}

/** The query string of a filter: only what differs from the default, in a stable order; "" when nothing does. */
export function filterToQuery(filter: ImageFilter, page = 1): string {
  const params = new URLSearchParams();
  for (const k of KEYS) {
    const v = filter[k].trim();
    if (v && v !== EMPTY_FILTER[k]) params.set(k, v);
  }
  if (page > 1) params.set("page", String(page));
  return params.toString();
}

export function pageFromQuery(query: string): number {
  const n = Number(new URLSearchParams(query.replace(/^\?/, "")).get("page"));
  return Number.isInteger(n) && n > 1 ? n : 1;
}

/** The query part of a hash ("#/images/4/annotate?status=new" → "status=new"). */
export function hashQuery(hash: string): string {
  const i = hash.indexOf("?");
  return i < 0 ? "" : hash.slice(i + 1);
}

/** "12 of 40" style text for the annotate view's position in the list. */
export function positionText(position: number | null, count: number): string {
  if (count === 0) return "empty list";
  return position === null ? `not in the list (${count})` : `${position} / ${count}`;
}
