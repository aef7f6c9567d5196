// Hash routes: #/projects, #/projects/<id>, #/projects/<id>/annotate, #/images/<id>/annotate,
// #/projects/<id>/review, #/images/<id>/review, #/projects/<id>/images (the image list),
// #/projects/<id>/settings (categories and members), #/projects/<id>/export (export options).
// A query after the path (#/projects/3/images?status=new) carries the image list's filter; the
// annotate view keeps it, so its previous / next follow that list.

export type Route =
  | { name: "projects" }
  | { name: "dashboard"; projectId: number }
  | { name: "annotateNext"; projectId: number }
  | { name: "annotate"; imageId: number }
  | { name: "reviewNext"; projectId: number }
  | { name: "review"; imageId: number }
  | { name: "images"; projectId: number; query: string }
  | { name: "projectSettings"; projectId: number }
  | { name: "export"; projectId: number }
  | { name: "notFound"; hash: string };

export function parseRoute(hash: string): Route {
  const [rawPath, query = ""] = hash.replace(/^#/, "").split("?", 2);
  const path = rawPath.replace(/\/+$/, "") || "/projects";
  let m: RegExpExecArray | null;
  if (path === "/projects" || path === "/") return { name: "projects" };
  if ((m = /^\/projects\/(\d+)$/.exec(path))) return { name: "dashboard", projectId: Number(m[1]) };
  if ((m = /^\/projects\/(\d+)\/annotate$/.exec(path))) return { name: "annotateNext", projectId: Number(m[1]) };
  if ((m = /^\/projects\/(\d+)\/review$/.exec(path))) return { name: "reviewNext", projectId: Number(m[1]) };
  if ((m = /^\/projects\/(\d+)\/images$/.exec(path))) return { name: "images", projectId: Number(m[1]), query };
  if ((m = /^\/projects\/(\d+)\/settings$/.exec(path))) return { name: "projectSettings", projectId: Number(m[1]) };
  if ((m = /^\/projects\/(\d+)\/export$/.exec(path))) return { name: "export", projectId: Number(m[1]) };
  if ((m = /^\/images\/(\d+)\/annotate$/.exec(path))) return { name: "annotate", imageId: Number(m[1]) };
  if ((m = /^\/images\/(\d+)\/review$/.exec(path))) return { name: "review", imageId: Number(m[1]) };
  return { name: "notFound", hash };
}

export function href(route: Route): string {
  switch (route.name) {
    case "projects":
      return "#/projects";
    case "dashboard":
      return `#/projects/${route.projectId}`;
    case "annotateNext":
      return `#/projects/${route.projectId}/annotate`;
    case "reviewNext":
      return `#/projects/${route.projectId}/review`;
    case "annotate":
      return `#/images/${route.imageId}/annotate`;
    case "review":
      return `#/images/${route.imageId}/review`;
    case "images":
      return `#/projects/${route.projectId}/images${route.query ? `?${route.query}` : ""}`;
    case "projectSettings":
      return `#/projects/${route.projectId}/settings`;
    case "export":
      return `#/projects/${route.projectId}/export`;
    case "notFound":
      return route.hash;
  }
}

export function go(route: Route): void {
  location.hash = href(route);
}
