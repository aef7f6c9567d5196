// Find any image: the project's images as thumbnails, filtered (status, split, assignee,
// pre-labels, rejected), searched by name, ordered, a page at a time. The filter and the page live
// in the hash query, and an image opens in the annotate view with that query, so its previous /
// next walk this same list.

import { api } from "../api";
import { clear, errorText, h } from "../dom";
import { ORDER_LABELS, filterFromQuery, filterToQuery, pageFromQuery, type ImageFilter, type ImageOrder } from "../images/filter";
import { bindShortcuts, toggleHelp, type Shortcut } from "../keyboard";
import type { ImageRow, ImageStatus, Member, Page } from "../types";
import { STATUS_LABELS } from "./labels";
import type { Cleanup, ViewContext } from "./view";

const PAGE_SIZE = 24;

function select(name: keyof ImageFilter, label: string, options: [string, string][], value: string): HTMLSelectElement {
  const el = h("select", { name, "aria-label": label, "data-testid": `filter-${name}` }, options.map(([v, text]) => h("option", { value: v }, text)));
  el.value = value;
  return el;
}

const FLAG_OPTIONS = (any: string, yes: string, no: string): [string, string][] => [["", any], ["true", yes], ["false", no]];

export async function mountImages({ root }: ViewContext, projectId: number, query: string): Promise<Cleanup> {
  const filter = filterFromQuery(query);
  const pageNo = pageFromQuery(query);
  const [project, members] = await Promise.all([api.project(projectId), api.members(projectId).catch((): Member[] => [])]);

  const status = select("status", "Status", [["", "any status"], ...(Object.entries(STATUS_LABELS) as [ImageStatus, string][])], filter.status);
  const split = select("split", "Split", [["", "any split"], ["train", "train"], ["val", "val"], ["unassigned", "unassigned"]], filter.split);
  const assignee = select("assignee", "Assignee (lease holder)", [["", "anyone"], ["none", "nobody (free)"], ...members.map((m): [string, string] => [m.username, m.username])], filter.assignee);
  const preLabels = select("has_pre_labels", "Pre-labels", FLAG_OPTIONS("pre-labels or not", "with pre-labels", "without pre-labels"), filter.has_pre_labels);
  const rejected = select("rejected", "Rejected", FLAG_OPTIONS("rejected or not", "rejected at least once", "never rejected"), filter.rejected);
  const order = select("order", "Order", Object.entries(ORDER_LABELS) as [ImageOrder, string][], filter.order);
  const search = h("input", { type: "search", name: "q", placeholder: "Search by name", "aria-label": "Search by name", "data-testid": "filter-q", value: filter.q });
  const list = h("div", { class: "image-grid-host", "data-testid": "image-list", "aria-live": "polite" });

  const current = (): ImageFilter => ({
    status: status.value as ImageFilter["status"],
    split: split.value as ImageFilter["split"],
    assignee: assignee.value,
    has_pre_labels: preLabels.value as ImageFilter["has_pre_labels"],
    rejected: rejected.value as ImageFilter["rejected"],
    q: search.value,
    order: order.value as ImageOrder,
  });
  /** A new filter starts at page 1; the hash change remounts the view with it. */
  const apply = (page = 1) => {
    const q = filterToQuery(current(), page);
    location.hash = `#/projects/${projectId}/images${q ? `?${q}` : ""}`;
  };
  for (const el of [status, split, assignee, preLabels, rejected, order]) el.addEventListener("change", () => apply());
  const form = h("form", { class: "filters", role: "search", "data-testid": "image-filters", onsubmit: (e: Event) => { e.preventDefault(); apply(); } },
    search, status, split, assignee, preLabels, rejected, order,
    h("button", { type: "submit" }, "Search"),
    h("button", { type: "button", "data-testid": "filter-clear", onclick: () => (location.hash = `#/projects/${projectId}/images`) }, "Clear"));

  let page: Page<ImageRow> | null = null;
  const pages = () => (page ? Math.max(1, Math.ceil(page.count / PAGE_SIZE)) : 1);
  const listQuery = filterToQuery(filter);

  function card(img: ImageRow): HTMLElement {
    const href = `#/images/${img.id}/annotate${listQuery ? `?${listQuery}` : ""}`;
    return h("li", { class: "image-card", "data-image-id": img.id },
      h("a", { href, title: `Annotate ${img.name}` },
        h("img", { src: img.thumbnail_url ?? "", alt: img.name, loading: "lazy", width: 160, height: 120 }),
        h("span", { class: "image-card-name" }, img.name)),
      h("div", { class: "image-card-tags" },
        h("span", { class: `badge status-${img.status}` }, STATUS_LABELS[img.status] ?? img.status),
        img.split ? h("span", { class: "badge" }, img.split) : null,
        img.has_pre_labels ? h("span", { class: "badge", title: "The model has pre-labelled it" }, "pre-labels") : null,
        img.rejected ? h("span", { class: "badge warn", title: "A reviewer rejected it at least once" }, "rejected") : null,
        img.lease ? h("span", { class: "muted small" }, `held by ${img.lease.user}`) : null),
    );
  }

  function render(): void {
    clear(list);
    if (!page) return;
    const pager = h("nav", { class: "pager", "aria-label": "Pages" },
      h("button", { type: "button", "data-testid": "page-previous", disabled: pageNo <= 1, onclick: () => apply(pageNo - 1) }, "← Previous page"),
      h("span", { "data-testid": "page-info" }, `Page ${pageNo} of ${pages()} · ${page.count} image${page.count === 1 ? "" : "s"}`),
      h("button", { type: "button", "data-testid": "page-next", disabled: pageNo >= pages(), onclick: () => apply(pageNo + 1) }, "Next page →"));
    list.append(
      pager,
      page.results.length
        ? h("ul", { class: "image-grid" }, page.results.map(card))
        : h("p", { class: "muted", "data-testid": "no-images" }, "No image matches these filters."),
    );
  }

  root.append(
    h("div", { class: "crumbs" }, h("a", { href: "#/projects" }, "Projects"), " / ", h("a", { href: `#/projects/${projectId}` }, project.name), " / Images"),
    h("h1", {}, "Images"),
    form,
    list,
  );
  try {
    page = await api.searchImages(projectId, filter, pageNo, PAGE_SIZE);
  } catch (e) {
    list.append(h("p", { class: "error", role: "alert" }, errorText(e)));
  }
  render();

  const table = (): Shortcut[] => [
    { keys: "/", label: "Search by name", run: () => search.focus() },
    { keys: "pagedown / alt+arrowright", label: "Next page", run: () => pageNo < pages() && apply(pageNo + 1) },
    { keys: "pageup / alt+arrowleft", label: "Previous page", run: () => pageNo > 1 && apply(pageNo - 1) },
    { keys: "g", label: "Back to the dashboard", run: () => (location.hash = `#/projects/${projectId}`) },
    { keys: "?", label: "Show / hide this help", run: () => toggleHelp("Images", table()) },
  ];
  return bindShortcuts(table);
}
