// The project list, and the create form for those allowed to create projects: a name, the
// categories (name, colour, order; the package defaults to start from) and members with roles,
// created in one request. A refused entry is marked where it was typed.

import { ApiError, api } from "../api";
import { errorText, h, toast } from "../dom";
import { bindShortcuts, toggleHelp, type Shortcut } from "../keyboard";
import type { Cleanup, ViewContext } from "./view";
import { STATUS_LABELS } from "./labels";
import type { CategoryInput, ImageStatus, Me, Member, Role } from "../types";

const DEFAULT_CATEGORIES: [string, string][] = [
  ["cardboard_box", "#c8842c"],
  ["padded_mailer", "#e6c229"],
  ["plastic_bag", "#3fa7d6"],
  ["envelope", "#8e6bbf"],
  ["item", "#59b26a"],
];
const ROLES: Role[] = ["annotator", "reviewer", "admin"];

/** Staff, or whoever the server's flag names (a setting may name a role that may create projects). */
export function canCreateProjects(me: Me): boolean {
  return me.can_create_projects;  // staff, or the role settings.ANNOTATOR names (GET /me)
}

function createForm(): { form: HTMLFormElement; focus(): void } {
  const name = h("input", { name: "name", placeholder: "New project name", required: true, "aria-label": "New project name", "data-field": "name", "data-testid": "new-project-name" });
  const description = h("input", { name: "description", placeholder: "Description (optional)", "aria-label": "Description", "data-field": "description" });
  const catRows = h("tbody", { "data-testid": "new-categories" });
  const memberRows = h("tbody", { "data-testid": "new-members" });
  const error = h("p", { class: "error small", role: "alert", "data-testid": "create-error" });

  const renumber = () => {
    [...catRows.children].forEach((tr, i) => {
      for (const el of tr.querySelectorAll<HTMLElement>("[data-key]")) el.dataset.field = `categories[${i}].${el.dataset.key}`;
    });
    [...memberRows.children].forEach((tr, i) => {
      for (const el of tr.querySelectorAll<HTMLElement>("[data-key]")) el.dataset.field = `members[${i}].${el.dataset.key}`;
    });
  };
  const remove = (tr: HTMLElement) => h("button", { type: "button", class: "link", "aria-label": "Remove this row", onclick: () => { tr.remove(); renumber(); } }, "✕");
  const addCategory = (catName = "", color = "#4363d8") => {
    const order = catRows.children.length + 1;
    const tr = h("tr", {});
    tr.append(
      h("td", {}, h("input", { value: catName, placeholder: "Category name", "aria-label": "Category name", "data-key": "name", "data-testid": "category-name-input" })),
      h("td", {}, h("input", { type: "color", value: color, "aria-label": "Category colour", "data-key": "color", "data-testid": "category-color-input" })),
      h("td", {}, h("input", { type: "number", value: order, step: 1, class: "narrow", "aria-label": "Category order", "data-key": "order", "data-testid": "category-order-input" })),
      h("td", {}, remove(tr)),
    );
    catRows.append(tr);
    renumber();
  };
  const addMember = () => {
    const tr = h("tr", {});
    const role = h("select", { "aria-label": "Member role", "data-key": "role", "data-testid": "member-role-input" }, ROLES.map((r) => h("option", { value: r }, r)));
    tr.append(
      h("td", {}, h("input", { placeholder: "Username", "aria-label": "Member username", "data-key": "username", "data-testid": "member-username-input" })),
      h("td", {}, role),
      h("td", {}, remove(tr)),
    );
    memberRows.append(tr);
    renumber();
  };
  for (const [n, c] of DEFAULT_CATEGORIES) addCategory(n, c);

  const value = (tr: Element, key: string) => tr.querySelector<HTMLInputElement | HTMLSelectElement>(`[data-key=${key}]`)!.value;
  const submit = async (e: Event) => {
    e.preventDefault();
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    error.textContent = "";
    const categories: CategoryInput[] = [...catRows.children].map((tr) => ({ name: value(tr, "name").trim(), color: value(tr, "color"), order: Number(value(tr, "order")) }));
    const members: Member[] = [...memberRows.children].map((tr) => ({ username: value(tr, "username").trim(), role: value(tr, "role") as Role }));
    try {
      const p = await api.createProjectWithSetup({ name: name.value.trim(), description: description.value.trim(), categories, members });
      toast(`Created ${p.name}`);
      location.hash = `#/projects/${p.id}`;
    } catch (err) {
      error.textContent = errorText(err);
      const field = err instanceof ApiError ? err.field : null;
      const el = field ? form.querySelector<HTMLElement>(`[data-field="${CSS.escape(field)}"]`) : null;
      el?.classList.add("invalid");
      el?.focus();
    }
  };
  const form = h("form", { class: "card create-project", "data-testid": "create-project", onsubmit: (e: Event) => void submit(e) },
    h("h2", {}, "New project"),
    h("div", { class: "inline" }, name, description),
    h("h3", {}, "Categories"),
    h("p", { class: "muted small" }, "The order sets the palette (keys 1–9) and the export ids."),
    h("table", { class: "image-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Colour"), h("th", {}, "Order"), h("th", {}, ""))), catRows),
    h("button", { type: "button", "data-testid": "add-category-row", onclick: () => addCategory() }, "+ Category"),
    h("h3", {}, "Members"),
    h("p", { class: "muted small" }, "You are the project's admin. Add others by username."),
    h("table", { class: "image-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Username"), h("th", {}, "Role"), h("th", {}, ""))), memberRows),
    h("button", { type: "button", "data-testid": "add-member-row", onclick: addMember }, "+ Member"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", "data-testid": "create-project-submit" }, "Create project"), error),
  );
  return { form, focus: () => name.focus() };
}

export async function mountProjects({ me, root }: ViewContext): Promise<Cleanup> {
  const projects = await api.listProjects();
  const rows = projects.map((p, i) =>
    h(
      "li",
      { class: "card project" },
      h("a", { href: `#/projects/${p.id}`, "data-index": i + 1 }, h("strong", {}, p.name)),
      h("span", { class: "badge" }, p.role),
      h(
        "div",
        { class: "counts" },
        (Object.keys(STATUS_LABELS) as ImageStatus[]).map((s) => h("span", { class: `count status-${s}` }, `${STATUS_LABELS[s]}: ${p.counts?.[s] ?? 0}`)),
      ),
    ),
  );
  root.append(
    h("h1", {}, "Projects"),
    projects.length ? h("ul", { class: "cards" }, rows) : h("p", { class: "muted" }, "No projects yet."),
  );
  const create = canCreateProjects(me) ? createForm() : null;
  if (create) root.append(create.form);
  const table = (): Shortcut[] => [
    { keys: "1-9", label: "Open project by position", match: (e) => /^[1-9]$/.test(e.key) && !e.ctrlKey, run: (e) => {
      const p = projects[Number(e.key) - 1];
      if (p) location.hash = `#/projects/${p.id}`;
    } },
    ...(create ? [{ keys: "c", label: "Create a project", run: () => create.focus() }] : []),
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Projects", table()) },
  ];
  return bindShortcuts(table);
}
