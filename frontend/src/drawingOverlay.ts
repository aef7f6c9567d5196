// What the drawing tools show while they work, in screen space over the frame: the polygon being
// drawn (its first vertex bigger, as clicking it closes the polygon), the rectangle being dragged,
// the brush or eraser stroke and the ring of the brush under the pointer.

import { hexToRgba } from "./color";
import type { BBox } from "./geometry";
import type { DrawTool } from "./store";
import type { Point } from "./types";
import { toScreen, type Viewport } from "./viewport";

/** The polygon being drawn, the rectangle being dragged, the brush stroke and ring. */
export interface DrawingOverlay {
  tool: DrawTool;
  draft: readonly Point[];
  cursor: Point | null;
  rect: BBox | null;
  stroke: readonly Point[] | null;
  /** Brush radius, image pixels. */
  brush: number;
  /** The active category's colour. */
  color: string;
}

/** Draw `d` with the context in CSS pixels (device-pixel ratio applied, no image transform). */
export function drawDrawingOverlay(ctx: CanvasRenderingContext2D, d: DrawingOverlay, v: Viewport): void {
  if (d.tool === "polygon" && d.draft.length > 0) {
    ctx.beginPath();
    d.draft.forEach(([x, y], i) => {
      const [sx, sy] = toScreen(v, x, y);
      if (i === 0) ctx.moveTo(sx, sy);
      else ctx.lineTo(sx, sy);
    });
    if (d.cursor) ctx.lineTo(...toScreen(v, d.cursor[0], d.cursor[1]));
    ctx.fillStyle = hexToRgba(d.color, 0.2);
    if (d.draft.length >= 2) ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#000";
    ctx.stroke();
    ctx.lineWidth = 1.2;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    d.draft.forEach(([x, y], i) => {
      const [sx, sy] = toScreen(v, x, y);
      const r = i === 0 ? 5 : 3.5; // the first vertex is bigger: clicking it closes the polygon
      ctx.fillStyle = i === 0 ? "#facc15" : "#fff";
      ctx.fillRect(sx - r, sy - r, 2 * r, 2 * r);
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#000";
      ctx.strokeRect(sx - r, sy - r, 2 * r, 2 * r);
    });
  }
  if (d.tool === "rectangle" && d.rect) {
    const [ax, ay] = toScreen(v, d.rect[0], d.rect[1]);
    const [bx, by] = toScreen(v, d.rect[2], d.rect[3]);
    ctx.fillStyle = hexToRgba(d.color, 0.25);
    ctx.fillRect(ax, ay, bx - ax, by - ay);
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(ax, ay, bx - ax, by - ay);
    ctx.setLineDash([]);
  }
  if (d.tool === "brush" || d.tool === "eraser") {
    const r = d.brush * v.scale;
    if (d.stroke && d.stroke.length > 0) {
      ctx.beginPath();
      d.stroke.forEach(([x, y], i) => {
        const [sx, sy] = toScreen(v, x, y);
        if (i === 0) ctx.moveTo(sx, sy);
        else ctx.lineTo(sx, sy);
      });
      if (d.stroke.length === 1) ctx.lineTo(...toScreen(v, d.stroke[0][0] + 0.01, d.stroke[0][1]));
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.lineWidth = 2 * r;
      ctx.strokeStyle = d.tool === "brush" ? hexToRgba(d.color, 0.5) : "rgba(15, 15, 15, 0.6)";
      ctx.stroke();
      ctx.lineCap = "butt";
      ctx.lineJoin = "miter";
    }
    if (d.cursor) {
      const [sx, sy] = toScreen(v, d.cursor[0], d.cursor[1]);
      ctx.beginPath();
      ctx.arc(sx, sy, Math.max(1, r), 0, Math.PI * 2);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = d.tool === "brush" ? "#fff" : "#f87171";
      ctx.stroke();
    }
  }
}
