import "./style.css";
import { api, csrfToken } from "./api";
import { clear, errorMessage, h } from "./dom";
import { parseRoute, type Route } from "./router";
import type { Me } from "./types";
import { mountProjects } from "./views/projects";
import { mountDashboard } from "./views/dashboard";
import { mountAnnotate, mountAnnotateNext } from "./views/annotate";
import { mountReview, mountReviewNext } from "./views/review";
import { mountImages } from "./views/images";
import { mountProjectSettings } from "./views/projectSettings";
import { mountExport } from "./views/exportView";
import type { Cleanup, ViewContext } from "./views/view";

const shell = document.getElementById("app")!;
let cleanup: Cleanup | null = null;
let mounting = 0;

async function logout(): Promise<void> {
  if (cleanup) await cleanup();
  cleanup = null;
  await fetch("/accounts/logout/", { method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
  location.href = "/accounts/login/?next=/app/";
}

function mountRoute(route: Route, ctx: ViewContext): Promise<Cleanup> {
  switch (route.name) {
    case "projects":
      return mountProjects(ctx);
    case "dashboard":
      return mountDashboard(ctx, route.projectId);
    case "annotateNext":
      return mountAnnotateNext(ctx, route.projectId);
    case "annotate":
      return mountAnnotate(ctx, route.imageId);
    case "reviewNext":
      return mountReviewNext(ctx, route.projectId);
    case "review":
      return mountReview(ctx, route.imageId);
    case "images":
      return mountImages(ctx, route.projectId, route.query);
    case "projectSettings":
      return mountProjectSettings(ctx, route.projectId);
    case "export":
      return mountExport(ctx, route.projectId);
    case "notFound":
      ctx.root.append(h("p", {}, "Nothing here. ", h("a", { href: "#/projects" }, "Back to projects")));
      return Promise.resolve(() => {});
  }
}

async function start(): Promise<void> {
  let me: Me;
  try {
    me = await api.me();
  } catch (e) {
    shell.append(h("p", { class: "error" }, `Could not reach the server: ${errorMessage(e)}`));
    return;
  }
  const main = h("main", { id: "view" });
  shell.append(
    h(
      "nav",
      { class: "topbar" },
      h("a", { href: "#/projects", class: "brand" }, "Package annotator"),
      h("span", { class: "spacer" }),
      h("span", { class: "user", "data-testid": "username" }, me.username),
      h("button", { type: "button", class: "link", onclick: () => void logout() }, "Log out"),
    ),
    main,
  );
  const onRoute = async () => {
    const my = ++mounting;
    if (cleanup) {
      const c = cleanup;
      cleanup = null;
      try {
        await c();
      } catch (e) {
        console.error(e);
      }
    }
    if (my !== mounting) return;
    clear(main);
    const root = h("div", { class: "view" });
    main.append(root);
    try {
      const c = await mountRoute(parseRoute(location.hash), { me, root });
      if (my !== mounting) await c();
      else cleanup = c;
    } catch (e) {
      root.append(h("p", { class: "error", role: "alert" }, errorMessage(e)));
    }
  };
  window.addEventListener("hashchange", () => void onRoute());
  if (!location.hash) history.replaceState(null, "", "#/projects");
  await onRoute();
}

void start();
