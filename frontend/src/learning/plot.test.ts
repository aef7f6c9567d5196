import { describe, expect, it } from "vitest";
import { acceptancePlotGeometry, acceptancePlotSvg, escapeXml, type PlotSize } from "./plot";
import type { AcceptanceRow } from "../types";

const size: PlotSize = { width: 220, height: 120, left: 10, right: 10, top: 10, bottom: 10 };
// plot area: x 10..210, y 110 (value 0) .. 10 (value 1)

const row = (name: string, mean_iou: number, unchanged_share: number | null): AcceptanceRow => ({
  model_version: name.length, name, status: "ready", images: 3, pre_labels: 5, mean_iou, unchanged_share,
});

describe("acceptance plot geometry", () => {
  it("spaces versions evenly and maps 0–1 bottom to top", () => {
    const g = acceptancePlotGeometry([row("v1", 0, 0.5), row("v2", 0.5, 1), row("v3", 1, 0.25)], size);
    expect(g.xTicks.map((t) => t.x)).toEqual([10, 110, 210]);
    expect(g.xTicks.map((t) => t.label)).toEqual(["v1", "v2", "v3"]);
    expect(g.yTicks).toEqual([{ y: 110, label: "0.0" }, { y: 60, label: "0.5" }, { y: 10, label: "1.0" }]);
    const [iou, unchanged] = g.series;
    expect(iou.key).toBe("mean_iou");
    expect(iou.points.map((p) => [p.x, p.y])).toEqual([[10, 110], [110, 60], [210, 10]]);
    expect(iou.path).toBe("M10 110 L110 60 L210 10");
    expect(unchanged.path).toBe("M10 60 L110 10 L210 85");
  });

  it("puts a single version in the middle", () => {
    const g = acceptancePlotGeometry([row("only", 0.8, 0.6)], size);
    expect(g.series[0].points[0]).toMatchObject({ x: 110, y: 30, value: 0.8, version: "only" });
    expect(g.series[0].path).toBe("M110 30");
  });

  it("breaks the line where a version has no value and clamps out-of-range values", () => {
    const g = acceptancePlotGeometry([row("a", 1.2, 0.5), row("b", -1, null), row("c", 0.5, 0.5), row("d", 0.5, 0.5)], size);
    expect(g.series[0].points.map((p) => p.y)).toEqual([10, 110, 60, 60]);
    const unchanged = g.series[1];
    expect(unchanged.points.map((p) => p.version)).toEqual(["a", "c", "d"]);
    expect(unchanged.path).toBe("M10 60 M143.33 60 L210 60");
  });

  it("has no points and no path without data", () => {
    const g = acceptancePlotGeometry([], size);
    expect(g.xTicks).toEqual([]);
    expect(g.series.every((s) => s.points.length === 0 && s.path === "")).toBe(true);
  });
});

describe("acceptance plot SVG", () => {
  it("draws both series with a legend and accessible description", () => {
    const svg = acceptancePlotSvg([row("v1", 0.5, 0.25), row("v2", 0.75, 0.5)], size);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.endsWith("</svg>")).toBe(true);
    expect(svg).toContain('data-series="mean_iou"');
    expect(svg).toContain('data-series="unchanged_share"');
    expect(svg.match(/<circle /g)).toHaveLength(4);
    expect(svg).toContain("IoU of pre-labels vs final");
    expect(svg).toContain("share accepted unchanged");
    expect(svg).toContain('aria-label="Acceptance per model version: v1: IoU 0.50, unchanged 0.25; v2: IoU 0.75, unchanged 0.50"');
  });

  it("escapes version names", () => {
    const svg = acceptancePlotSvg([row('<b>"x"&', 0.5, 0.5)], size);
    expect(svg).not.toContain("<b>");
    expect(svg).toContain("&lt;b&gt;&quot;x&quot;&amp;");
    expect(escapeXml("a'b")).toBe("a&#39;b");
  });

  it("says so when there is nothing to plot", () => {
    const svg = acceptancePlotSvg([], size);
    expect(svg).toContain("No accepted pre-labelled images yet");
    expect(svg).not.toContain("<circle");
    expect(svg).not.toContain("<path");
  });
});
