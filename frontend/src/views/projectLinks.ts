// The dashboard's ways to the project's other pages: the image list, export options, set-up.

import { h } from "../dom";
import type { Shortcut } from "../keyboard";
import type { Role } from "../types";

interface Link {
  key: string;
  label: string;
  testid: string;
  hash: string;
}

function links(projectId: number, role: Role): Link[] {
  const out: Link[] = [{ key: "i", label: "Images", testid: "open-images", hash: `#/projects/${projectId}/images` }];
  if (role !== "annotator") out.push({ key: "x", label: "Export options", testid: "open-export", hash: `#/projects/${projectId}/export` });
  if (role === "admin") out.push({ key: "s", label: "Categories & members", testid: "open-settings", hash: `#/projects/${projectId}/settings` });
  return out;
}

export function projectLinks(projectId: number, role: Role): HTMLElement[] {
  return links(projectId, role).map((l) => h("a", { class: "button", href: l.hash, "data-testid": l.testid }, `${l.label} (${l.key.toUpperCase()})`));
}

export function projectLinkKeys(projectId: number, role: Role): Shortcut[] {
  return links(projectId, role).map((l) => ({ keys: l.key, label: `Open ${l.label.toLowerCase()}`, run: () => (location.hash = l.hash) }));
}
