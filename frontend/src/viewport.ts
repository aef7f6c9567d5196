// The image-to-screen transform: screen = image * scale + (tx, ty), in CSS pixels.

import type { Point } from "./types";

export interface Viewport {
  scale: number;
  tx: number;
  ty: number;
}

export const MIN_SCALE = 0.02;
export const MAX_SCALE = 40;

/** Scale and centre an image of w×h inside a canvas of cw×ch, with a small margin. */
export function fitViewport(w: number, h: number, cw: number, ch: number, margin = 16): Viewport {
  const scale = Math.max(MIN_SCALE, Math.min((cw - 2 * margin) / w, (ch - 2 * margin) / h));
  return { scale, tx: (cw - w * scale) / 2, ty: (ch - h * scale) / 2 };
}

export function toImage(v: Viewport, sx: number, sy: number): Point {
  return [(sx - v.tx) / v.scale, (sy - v.ty) / v.scale];
}

export function toScreen(v: Viewport, x: number, y: number): Point {
  return [x * v.scale + v.tx, y * v.scale + v.ty];
}

/** Zoom by `factor` keeping the image point under screen (sx, sy) where it is. */
export function zoomAt(v: Viewport, sx: number, sy: number, factor: number): Viewport {
  const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, v.scale * factor));
  const [ix, iy] = toImage(v, sx, sy);
  return { scale, tx: sx - ix * scale, ty: sy - iy * scale };
}

export function panBy(v: Viewport, dx: number, dy: number): Viewport {
  return { ...v, tx: v.tx + dx, ty: v.ty + dy };
}

/** Wheel delta to a zoom factor: one notch (~100 px) zooms by about 20 %. */
export function wheelFactor(deltaY: number, deltaMode = 0): number {
  const px = deltaMode === 1 ? deltaY * 33 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.exp(-px * 0.0018);
}

/** The zoom read-out: "150 %" for a scale of 1.5 (CSS pixels per image pixel). */
export function zoomText(scale: number): string {
  const pct = scale * 100;
  return `${pct >= 9.95 ? Math.round(pct) : pct.toFixed(1)} %`;
}
