// Shortcuts: one table per view drives both the key handling and the `?` overlay.

import { h } from "./dom";

export interface Shortcut {
  /** e.g. "ctrl+shift+z", "?", "delete", "1-9", "enter". Shown in the overlay. */
  keys: string;
  label: string;
  group?: string;
  /** Overrides the default matcher built from `keys`. */
  match?: (e: KeyboardEvent) => boolean;
  run: (e: KeyboardEvent) => void;
}

const aliases: Record<string, string> = { del: "delete", esc: "escape", space: " " };

/** Match a spec like "ctrl+shift+z" against an event; ctrl also accepts ⌘ on macOS. */
export function matchKey(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey" | "altKey">, spec: string): boolean {
  const parts = spec.toLowerCase().split("+");
  let key = parts.pop() ?? "";
  if (key === "" && spec.endsWith("+")) key = "+";
  key = aliases[key] ?? key;
  const want = new Set(parts);
  const ctrl = e.ctrlKey || e.metaKey;
  if (want.has("ctrl") !== ctrl) return false;
  if (want.has("alt") !== e.altKey) return false;
  const k = e.key.toLowerCase();
  // Shifted symbols ("?", "+") carry shift implicitly; letters need it spelled out.
  if (/^[a-z]$/.test(key) || key.length > 1) {
    if (want.has("shift") !== e.shiftKey) return false;
  }
  return k === key;
}

export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  return t.isContentEditable || t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT";
}

/** Install a keydown handler for a table; returns the uninstall function. */
export function bindShortcuts(table: () => Shortcut[]): () => void {
  const onKey = (e: KeyboardEvent) => {
    if (isTyping(e) && e.key !== "Escape") return;
    for (const s of table()) {
      const hit = s.match ? s.match(e) : s.keys.split(" / ").some((k) => matchKey(e, k));
      if (hit) {
        e.preventDefault();
        s.run(e);
        return;
      }
    }
  };
  window.addEventListener("keydown", onKey);
  return () => window.removeEventListener("keydown", onKey);
}

export function toggleHelp(title: string, table: Shortcut[]): void {
  const existing = document.getElementById("shortcut-help");
  if (existing) {
    existing.remove();
    return;
  }
  const groups = new Map<string, Shortcut[]>();
  for (const s of table) {
    const g = s.group ?? "General";
    groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  const close = () => overlay.remove();
  const overlay = h(
    "div",
    { id: "shortcut-help", class: "modal-backdrop", role: "dialog", "aria-label": "Keyboard shortcuts", onclick: (e: Event) => e.target === overlay && close() },
    h(
      "div",
      { class: "modal help" },
      h("h2", {}, `${title}: keyboard shortcuts`),
      h(
        "div",
        { class: "help-groups" },
        [...groups].map(([g, items]) =>
          h("section", {}, h("h3", {}, g), h("table", {}, items.map((s) => h("tr", {}, h("td", {}, h("kbd", {}, s.keys)), h("td", {}, s.label))))),
        ),
      ),
      h("p", { class: "muted" }, "Press ? or Esc to close."),
    ),
  );
  document.body.append(overlay);
}

export function helpOpen(): boolean {
  return document.getElementById("shortcut-help") !== null;
}
