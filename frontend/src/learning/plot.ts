// The acceptance plot: per model version (oldest left), the mean IoU of its pre-labels against
// the accepted shapes and the share of pre-labels accepted unchanged. Data in, SVG markup out.
// SVG user units; x right, y down; both metrics share one 0–1 axis.

import type { AcceptanceRow } from "../types";

export interface PlotSize {
  width: number;
  height: number;
  /** Room for the axis labels, in SVG units. */
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export const DEFAULT_SIZE: PlotSize = { width: 420, height: 180, left: 34, right: 12, top: 12, bottom: 40 };

export interface PlotPoint {
  x: number;
  y: number;
  value: number;
  version: string;
}

export interface PlotSeries {
  key: "mean_iou" | "unchanged_share";
  label: string;
  color: string;
  points: PlotPoint[];
  /** SVG path data; a version without a value breaks the line. */
  path: string;
}

export interface PlotGeometry {
  size: PlotSize;
  xTicks: { x: number; label: string }[];
  yTicks: { y: number; label: string }[];
  series: PlotSeries[];
}

const SERIES: { key: PlotSeries["key"]; label: string; color: string }[] = [
  { key: "mean_iou", label: "IoU of pre-labels vs final", color: "#2563eb" },
  { key: "unchanged_share", label: "share accepted unchanged", color: "#d97706" },
];

const round = (v: number) => Math.round(v * 100) / 100;

/** Where each version and value lands; versions evenly spaced, one alone in the middle. */
export function acceptancePlotGeometry(rows: AcceptanceRow[], size: PlotSize = DEFAULT_SIZE): PlotGeometry {
  const x0 = size.left;
  const x1 = size.width - size.right;
  const y0 = size.height - size.bottom; // value 0
  const y1 = size.top; // value 1
  const xAt = (i: number) => round(rows.length <= 1 ? (x0 + x1) / 2 : x0 + ((x1 - x0) * i) / (rows.length - 1));
  const yAt = (v: number) => round(y0 - (y0 - y1) * Math.max(0, Math.min(1, v)));
  const series = SERIES.map(({ key, label, color }) => {
    const points: PlotPoint[] = [];
    let path = "";
    let pen = false;
    rows.forEach((row, i) => {
      const value = row[key];
      if (value === null || value === undefined || !Number.isFinite(value)) {
        pen = false;
        return;
      }
      const p = { x: xAt(i), y: yAt(value), value, version: row.name };
      points.push(p);
      path += `${path ? " " : ""}${pen ? "L" : "M"}${p.x} ${p.y}`;
      pen = true;
    });
    return { key, label, color, points, path };
  });
  return {
    size,
    xTicks: rows.map((row, i) => ({ x: xAt(i), label: row.name })),
    yTicks: [0, 0.5, 1].map((v) => ({ y: yAt(v), label: v.toFixed(1) })),
    series,
  };
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** The plot as standalone SVG markup (with a <title> per point for hover and screen readers). */
export function acceptancePlotSvg(rows: AcceptanceRow[], size: PlotSize = DEFAULT_SIZE): string {
  const g = acceptancePlotGeometry(rows, size);
  const { width, height, left, right, bottom } = size;
  const desc = rows.length
    ? rows.map((r) => `${r.name}: IoU ${r.mean_iou.toFixed(2)}, unchanged ${r.unchanged_share === null ? "n/a" : r.unchanged_share.toFixed(2)}`).join("; ")
    : "no accepted pre-labelled images yet";
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeXml(`Acceptance per model version: ${desc}`)}" data-testid="acceptance-plot">`,
  ];
  for (const t of g.yTicks) {
    parts.push(`<line x1="${left}" y1="${t.y}" x2="${width - right}" y2="${t.y}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${left - 4}" y="${t.y + 3}" font-size="10" text-anchor="end" fill="#6b7280">${t.label}</text>`);
  }
  for (const t of g.xTicks) {
    parts.push(`<text x="${t.x}" y="${height - bottom + 14}" font-size="10" text-anchor="middle" fill="#374151">${escapeXml(t.label)}</text>`);
  }
  if (!rows.length) {
    parts.push(`<text x="${width / 2}" y="${(height - bottom) / 2 + 6}" font-size="12" text-anchor="middle" fill="#6b7280">No accepted pre-labelled images yet</text>`);
  }
  g.series.forEach((s, i) => {
    if (s.path) parts.push(`<path d="${s.path}" fill="none" stroke="${s.color}" stroke-width="2" data-series="${s.key}"/>`);
    for (const p of s.points) {
      parts.push(`<circle cx="${p.x}" cy="${p.y}" r="3.5" fill="${s.color}"><title>${escapeXml(`${p.version}: ${s.label} ${p.value.toFixed(3)}`)}</title></circle>`);
    }
    const lx = left + i * 190;
    parts.push(`<rect x="${lx}" y="${height - 14}" width="10" height="4" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 14}" y="${height - 9}" font-size="10" fill="#374151">${escapeXml(s.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}
