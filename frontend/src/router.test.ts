import { describe, expect, it } from "vitest";
import { href, parseRoute } from "./router";

describe("routes of the set-up and image-list pages", () => {
  it("parses and writes the image list with its filter, the set-up and the export pages", () => {
    expect(parseRoute("#/projects/3/images?status=new&q=dock")).toEqual({ name: "images", projectId: 3, query: "status=new&q=dock" });
    expect(parseRoute("#/projects/3/images")).toEqual({ name: "images", projectId: 3, query: "" });
    expect(href({ name: "images", projectId: 3, query: "status=new" })).toBe("#/projects/3/images?status=new");
    expect(parseRoute("#/projects/3/settings")).toEqual({ name: "projectSettings", projectId: 3 });
    expect(parseRoute("#/projects/3/export")).toEqual({ name: "export", projectId: 3 });
  });

  it("opens the annotate view whatever list query it carries", () => {
    expect(parseRoute("#/images/12/annotate?status=rejected&order=name")).toEqual({ name: "annotate", imageId: 12 });
    expect(parseRoute("#/images/12/annotate")).toEqual({ name: "annotate", imageId: 12 });
  });
});
