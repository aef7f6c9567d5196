// The taxonomy mapping editor (project admins): each project category → a universal class or
// project-only. "Preview" asks the server for a dry run; "Save mapping" is enabled only while
// the preview of exactly the current draft is on screen.

import { api } from "../api";
import { append, clear, errorText, h } from "../dom";
import {
  PROJECT_ONLY, canPreview, canSave, discard, mappingFromServer, mappingKey, previewLines, previewReceived,
  previewRequested, requestFailed, saveRequested, saved, setTarget, type MappingState,
} from "../learning/taxonomy";

export function taxonomyEditor(projectId: number): HTMLElement {
  let state: MappingState | null = null;
  const body = h("div", { "data-testid": "taxonomy-editor" });
  const status = h("div", { role: "status", class: "small", "data-testid": "taxonomy-status" });

  const update = (next: MappingState) => {
    state = next;
    render();
  };

  async function preview(): Promise<void> {
    if (!state || !canPreview(state)) return;
    update(previewRequested(state));
    const key = mappingKey(state.draft);
    try {
      const answer = await api.putTaxonomy(projectId, state.draft, true);
      if (state) update(previewReceived(state, key, answer));
    } catch (e) {
      if (state) update(requestFailed(state, errorText(e)));
    }
  }

  async function save(): Promise<void> {
    if (!state || !canSave(state)) return;
    update(saveRequested(state));
    try {
      const answer = await api.putTaxonomy(projectId, state.draft, false);
      if (state) update(saved(state, answer));
      status.textContent = "Mapping saved.";
    } catch (e) {
      if (state) update(requestFailed(state, errorText(e)));
    }
  }

  function render(): void {
    clear(body);
    const s = state;
    if (!s) return;
    if (s.phase !== "clean") status.textContent = "";
    const table = h(
      "table",
      { class: "image-table mapping-table" },
      h("tr", {}, h("th", { scope: "col" }, "Project category"), h("th", { scope: "col" }, "Universal class")),
      s.categories.map((c) => {
        const select = h(
          "select",
          { "aria-label": `Universal class for ${c.name}`, "data-category-id": c.id, "data-testid": "mapping-select", onchange: (e: Event) => update(setTarget(state!, c.id, (e.target as HTMLSelectElement).value)) },
          h("option", { value: PROJECT_ONLY }, "none (project-only)"),
          s.universalNames.map((n) => h("option", { value: n }, n)),
        );
        select.value = s.draft[c.id] ?? PROJECT_ONLY;
        const changed = s.draft[c.id] !== s.saved[c.id];
        return h("tr", { class: changed ? "changed" : "" }, h("td", {}, c.name, changed ? h("span", { class: "badge" }, "changed") : null), h("td", {}, select));
      }),
    );
    const previewEl = h("div", { class: "mapping-preview", "data-testid": "taxonomy-preview", "aria-live": "polite" });
    if (s.phase === "previewing") previewEl.textContent = "Computing the effect…";
    if (s.preview && s.phase !== "previewing") {
      const p = previewLines(s.preview);
      append(previewEl, [
        h("strong", {}, "Effect of this mapping (not saved yet)"),
        h("ul", {}, p.fed.map((l) => h("li", {}, `${l.universal} ← ${l.categories.join(", ")}: ${l.train} train / ${l.val} val accepted annotations`))),
        p.projectOnly.length ? h("p", {}, `Project-only: ${p.projectOnly.join(", ")}`) : null,
        h("p", { class: "muted small" }, p.summary),
      ]);
    }
    append(body, [
      table,
      s.error ? h("p", { class: "error", role: "alert", "data-testid": "taxonomy-error" }, s.error) : null,
      previewEl,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", "data-testid": "taxonomy-preview-button", disabled: !canPreview(s), onclick: () => void preview() }, "Preview effect"),
        h("button", { type: "button", class: "primary", "data-testid": "taxonomy-save", disabled: !canSave(s), title: canSave(s) ? "" : "Preview the current mapping first", onclick: () => void save() }, "Save mapping"),
        h("button", { type: "button", disabled: s.phase === "clean", onclick: () => update(discard(s)) }, "Discard changes"),
        status,
      ),
    ]);
  }

  api.taxonomy(projectId).then(
    (p) => update(mappingFromServer(p)),
    (e) => (status.textContent = `Could not load the mapping: ${errorText(e)}`),
  );
  return h(
    "div",
    { class: "mapping" },
    h("h3", {}, "Categories → universal classes"),
    h("p", { class: "muted small" }, "Several categories may map to one class; project-only categories are never sent to the universal model."),
    body,
  );
}
