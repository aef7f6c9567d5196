import { describe, expect, it } from "vitest";
import { EMPTY_FILTER, filterFromQuery, filterToQuery, hashQuery, pageFromQuery, positionText } from "./filter";

describe("image list filter", () => {
  it("round-trips through the query string, keeping only what differs from the default", () => {
    const f = { ...EMPTY_FILTER, status: "rejected" as const, q: "dock 7", has_pre_labels: "true" as const, order: "name" as const };
    const q = filterToQuery(f, 3);
    expect(q).toBe("status=rejected&has_pre_labels=true&q=dock+7&order=name&page=3");
    expect(filterFromQuery(q)).toEqual(f);
    expect(pageFromQuery(q)).toBe(3);
  });

  it("reads an empty or foreign query as the default list on page 1", () => {
    expect(filterToQuery(EMPTY_FILTER)).toBe("");
    expect(filterFromQuery("?colour=red")).toEqual(EMPTY_FILTER);
    expect(pageFromQuery("page=zero")).toBe(1);
  });

  it("takes the query off a hash and words the position", () => {
    expect(hashQuery("#/images/4/annotate?status=new")).toBe("status=new");
    expect(hashQuery("#/images/4/annotate")).toBe("");
    expect(positionText(2, 5)).toBe("2 / 5");
    expect(positionText(null, 5)).toBe("not in the list (5)");
    expect(positionText(null, 0)).toBe("empty list");
  });
});
