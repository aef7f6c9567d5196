// The project's set-up page (admins): categories (rename, recolour, reorder, add, remove) and
// members (add, change role, remove). Every change is one request; the server's rules (a used
// category stays, a project keeps an admin) come back as messages shown where the change was made.

import { api } from "../api";
import { clear, errorText, h, toast } from "../dom";
import { bindShortcuts, toggleHelp, type Shortcut } from "../keyboard";
import type { Category, Member, Project, Role } from "../types";
import type { Cleanup, ViewContext } from "./view";

const ROLES: Role[] = ["annotator", "reviewer", "admin"];

function roleSelect(value: Role, label: string, testid: string): HTMLSelectElement {
  const el = h("select", { "aria-label": label, "data-testid": testid }, ROLES.map((r) => h("option", { value: r }, r)));
  el.value = value;
  return el;
}

export async function mountProjectSettings({ root }: ViewContext, projectId: number): Promise<Cleanup> {
  let project: Project = await api.project(projectId);
  root.append(h("div", { class: "crumbs" }, h("a", { href: "#/projects" }, "Projects"), " / ", h("a", { href: `#/projects/${projectId}` }, project.name), " / Set-up"));
  if (project.role !== "admin") {
    root.append(h("h1", {}, "Project set-up"), h("p", { class: "muted" }, "Only the project's admins change its categories and members."));
    return () => {};
  }
  let members: Member[] = await api.members(projectId);

  const catBody = h("div", { "data-testid": "category-editor" });
  const catStatus = h("p", { role: "status", class: "small", "data-testid": "category-status" });
  const memberBody = h("div", { "data-testid": "member-editor" });
  const memberStatus = h("p", { role: "status", class: "small", "data-testid": "member-status" });

  const report = (el: HTMLElement, text: string, error = false) => {
    el.className = error ? "small error" : "small";
    el.textContent = text;
  };

  /** One change, then the tables as the server now has them, then what happened (so a refused change shows undone). */
  async function run(el: HTMLElement, done: string, action: () => Promise<unknown>): Promise<void> {
    let outcome: [string, boolean] = [done, false];
    try {
      await action();
    } catch (e) {
      outcome = [errorText(e), true];
    }
    try {
      [project, members] = await Promise.all([api.project(projectId), api.members(projectId)]);
      renderCategories();
      renderMembers();
    } catch (e) {
      outcome = [`${outcome[0]} (could not reload: ${errorText(e)})`, true];
    }
    report(el, ...outcome);
  }

  function renderCategories(): void {
    clear(catBody);
    const cats = project.categories;
    const move = (i: number, step: number) => {
      const order = cats.map((c) => c.id);
      const [moved] = order.splice(i, 1);
      order.splice(i + step, 0, moved);
      void run(catStatus, "Order saved.", () => api.reorderCategories(projectId, order));
    };
    const row = (c: Category, i: number) => {
      const name = h("input", { value: c.name, "aria-label": `Name of ${c.name}`, "data-testid": "category-name", maxlength: 100 });
      const color = h("input", { type: "color", value: c.color, "aria-label": `Colour of ${c.name}`, "data-testid": "category-color" });
      const save = () => {
        const changes: { name?: string; color?: string } = {};
        if (name.value !== c.name) changes.name = name.value;
        if (color.value.toLowerCase() !== c.color.toLowerCase()) changes.color = color.value;
        if (!Object.keys(changes).length) return report(catStatus, "Nothing changed.");
        void run(catStatus, `Saved '${changes.name ?? c.name}'.`, () => api.updateCategory(projectId, c.id, changes));
      };
      return h("tr", { "data-category-id": c.id },
        h("td", {}, String(i + 1)),
        h("td", {}, name),
        h("td", {}, color),
        h("td", { class: "muted small" }, `export id ${c.export_id}`),
        h("td", {},
          h("button", { type: "button", title: "Move up", "aria-label": `Move ${c.name} up`, disabled: i === 0, onclick: () => move(i, -1) }, "↑"),
          h("button", { type: "button", title: "Move down", "aria-label": `Move ${c.name} down`, disabled: i === cats.length - 1, onclick: () => move(i, 1) }, "↓"),
          h("button", { type: "button", "data-testid": "category-save", onclick: save }, "Save"),
          h("button", { type: "button", class: "danger", "data-testid": "category-remove", onclick: () => {
            if (confirm(`Remove the category '${c.name}'? (Refused while shapes use it.)`)) void run(catStatus, `Removed '${c.name}'.`, () => api.deleteCategory(projectId, c.id));
          } }, "Remove")));
    };
    const newName = h("input", { placeholder: "New category", "aria-label": "New category name", "data-testid": "new-category-name", required: true, maxlength: 100 });
    const newColor = h("input", { type: "color", value: "#3cb44b", "aria-label": "New category colour", "data-testid": "new-category-color" });
    catBody.append(
      h("table", { class: "image-table" }, h("tr", {}, h("th", {}, "#"), h("th", {}, "Name"), h("th", {}, "Colour"), h("th", {}, ""), h("th", {}, "")), cats.map(row)),
      h("form", { class: "inline", onsubmit: (e: Event) => {
        e.preventDefault();
        void run(catStatus, `Added '${newName.value.trim()}'.`, () => api.addCategory(projectId, { name: newName.value, color: newColor.value }));
      } }, newName, newColor, h("button", { type: "submit", "data-testid": "add-category" }, "Add category")),
    );
  }

  function renderMembers(): void {
    clear(memberBody);
    const row = (m: Member) => {
      const role = roleSelect(m.role, `Role of ${m.username}`, "member-role");
      role.addEventListener("change", () => void run(memberStatus, `${m.username} is now ${role.value}.`, () => api.changeMemberRole(projectId, m.username, role.value as Role)));
      return h("tr", { "data-username": m.username },
        h("td", {}, m.username),
        h("td", {}, role),
        h("td", {}, h("button", { type: "button", class: "danger", "data-testid": "member-remove", onclick: () => {
          if (confirm(`Remove ${m.username} from the project?`)) void run(memberStatus, `Removed ${m.username}.`, () => api.removeMember(projectId, m.username));
        } }, "Remove")));
    };
    const username = h("input", { placeholder: "Username", "aria-label": "Username to add", "data-testid": "new-member-username", required: true });
    const role = roleSelect("annotator", "Role of the new member", "new-member-role");
    memberBody.append(
      h("table", { class: "image-table" }, h("tr", {}, h("th", {}, "User"), h("th", {}, "Role"), h("th", {}, "")), members.map(row)),
      h("form", { class: "inline", onsubmit: (e: Event) => {
        e.preventDefault();
        if (members.some((m) => m.username === username.value.trim())) return report(memberStatus, `${username.value.trim()} is already a member: change the role in the table.`, true);
        void run(memberStatus, `Added ${username.value.trim()}.`, () => api.addMember(projectId, { username: username.value.trim(), role: role.value as Role }));
      } }, username, role, h("button", { type: "submit", "data-testid": "add-member" }, "Add member")),
    );
  }

  root.append(
    h("h1", {}, "Project set-up"),
    h("section", { class: "card" }, h("h2", {}, "Categories"),
      h("p", { class: "muted small" }, "The order is the palette's (keys 1–9 in the editor). Renaming or reordering keeps each category's export id; a category shapes use cannot be removed."),
      catBody, catStatus),
    h("section", { class: "card" }, h("h2", {}, "Members"), h("p", { class: "muted small" }, "A project keeps at least one admin."), memberBody, memberStatus),
  );
  renderCategories();
  renderMembers();
  if (!project.categories.length) toast("This project has no categories yet: add one.");

  const table = (): Shortcut[] => [
    { keys: "g", label: "Back to the dashboard", run: () => (location.hash = `#/projects/${projectId}`) },
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Project set-up", table()) },
  ];
  return bindShortcuts(table);
}
