import { api } from "../api";
import { errorMessage, h, toast } from "../dom";
import { bindShortcuts, toggleHelp, type Shortcut } from "../keyboard";
import type { Cleanup, ViewContext } from "./view";
import { STATUS_LABELS } from "./labels";
import type { ImageStatus } from "../types";

export async function mountProjects({ me, root }: ViewContext): Promise<Cleanup> {
  const projects = await api.listProjects();
  const nameInput = h("input", { name: "name", placeholder: "New project name", required: true, "aria-label": "New project name" });
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const p = await api.createProject(nameInput.value.trim());
      location.hash = `#/projects/${p.id}`;
    } catch (err) {
      toast(errorMessage(err), "error");
    }
  };
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
  if (me.can_create_projects) root.append(h("form", { class: "inline", onsubmit: create }, nameInput, h("button", { type: "submit" }, "Create project")));
  const table = (): Shortcut[] => [
    { keys: "1-9", label: "Open project by position", match: (e) => /^[1-9]$/.test(e.key) && !e.ctrlKey, run: (e) => {
      const p = projects[Number(e.key) - 1];
      if (p) location.hash = `#/projects/${p.id}`;
    } },
    { keys: "c", label: "Create a project (if you may)", run: () => nameInput.focus() },
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Projects", table()) },
  ];
  return bindShortcuts(table);
}
