import { describe, expect, it } from "vitest";
import { fitViewport, panBy, toImage, toScreen, wheelFactor, zoomAt, zoomText } from "./viewport";
import { matchKey } from "./keyboard";
import { parseRoute, href } from "./router";

describe("viewport", () => {
  it("reads the zoom out in percent of image pixels", () => {
    expect(zoomText(1.5)).toBe("150 %");
    expect(zoomText(0.25)).toBe("25 %");
    expect(zoomText(0.042)).toBe("4.2 %");
    expect(zoomText(zoomAt({ scale: 1, tx: 0, ty: 0 }, 10, 10, 2).scale)).toBe("200 %");
  });

  it("fits and centres a 4000×3000 image", () => {
    const v = fitViewport(4000, 3000, 1000, 800, 0);
    expect(v.scale).toBeCloseTo(0.25);
    expect(toScreen(v, 2000, 1500)).toEqual([500, 400]);
  });

  it("zooms towards the cursor: the point under it stays put", () => {
    const v = { scale: 0.5, tx: 10, ty: 20 };
    const before = toImage(v, 300, 200);
    const z = zoomAt(v, 300, 200, 2.5);
    expect(z.scale).toBeCloseTo(1.25);
    const after = toImage(z, 300, 200);
    expect(after[0]).toBeCloseTo(before[0]);
    expect(after[1]).toBeCloseTo(before[1]);
  });

  it("pans and maps wheel deltas", () => {
    expect(panBy({ scale: 1, tx: 0, ty: 0 }, 5, -3)).toEqual({ scale: 1, tx: 5, ty: -3 });
    expect(wheelFactor(-100)).toBeGreaterThan(1);
    expect(wheelFactor(100)).toBeLessThan(1);
    expect(wheelFactor(100) * wheelFactor(-100)).toBeCloseTo(1);
  });
});

describe("shortcuts and routes", () => {
  const ev = (key: string, mods: Partial<Record<"ctrlKey" | "shiftKey" | "altKey" | "metaKey", boolean>> = {}) => ({
    key, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...mods,
  });

  it("matches key specs", () => {
    expect(matchKey(ev("z", { ctrlKey: true }), "ctrl+z")).toBe(true);
    expect(matchKey(ev("Z", { ctrlKey: true, shiftKey: true }), "ctrl+z")).toBe(false);
    expect(matchKey(ev("Z", { ctrlKey: true, shiftKey: true }), "ctrl+shift+z")).toBe(true);
    expect(matchKey(ev("z", { metaKey: true }), "ctrl+z")).toBe(true);
    expect(matchKey(ev("?", { shiftKey: true }), "?")).toBe(true);
    expect(matchKey(ev("Delete"), "del")).toBe(true);
    expect(matchKey(ev("s"), "s")).toBe(true);
    expect(matchKey(ev("S", { shiftKey: true }), "s")).toBe(false);
    expect(matchKey(ev("Enter", { ctrlKey: true }), "enter")).toBe(false);
  });

  it("parses and prints hash routes", () => {
    expect(parseRoute("")).toEqual({ name: "projects" });
    expect(parseRoute("#/projects/3")).toEqual({ name: "dashboard", projectId: 3 });
    expect(parseRoute("#/projects/3/annotate")).toEqual({ name: "annotateNext", projectId: 3 });
    expect(parseRoute("#/images/9/review/")).toEqual({ name: "review", imageId: 9 });
    expect(parseRoute("#/nope").name).toBe("notFound");
    expect(href({ name: "annotate", imageId: 4 })).toBe("#/images/4/annotate");
  });
});
