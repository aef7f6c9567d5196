// Canvas drawing as a function of state. The image is decoded once into a small pyramid
// of bitmaps; each instance's outline is a cached Path2D in image coordinates; a frame is
// drawn only when something asks for one, at most once per animation frame.

import { shapeBBox, type BBox, type VertexRef } from "./geometry";
import type { SamState } from "./samSession";
import { hexToRgba } from "./color";
import { drawDrawingOverlay, type DrawingOverlay } from "./drawingOverlay";
import type { Instance, LabelMode } from "./store";
import type { Category, Shape } from "./types";
import { toScreen, type Viewport } from "./viewport";

export interface OverlayInstance {
  category: number;
  shape: Shape;
  score: number | null;
}

/** A suggestion the annotator may take: drawn as a ghost outline, the highlighted one brighter. */
export interface OverlayGhost {
  category: number;
  shape: Shape;
  score: number;
  selected: boolean;
}

export interface Scene {
  width: number;
  height: number;
  instances: readonly Instance[];
  selected: string | null;
  vertex: VertexRef | null;
  hover: string | null;
  categories: ReadonlyMap<number, Category>;
  sam: SamState | null;
  /** Drawn dashed on top, e.g. the model prediction in the review view. */
  overlay: readonly OverlayInstance[] | null;
  showInstances: boolean;
  rubberBand: BBox | null;
  /** The trust gate's suggestions (annotate view, suggestion mode). */
  ghosts?: readonly OverlayGhost[];
  /** Every selected key when several are; `selected` is the primary (its handles are drawn). */
  selection?: ReadonlySet<string>;
  /** Locked instances: drawn with a dotted outline. */
  locked?: ReadonlySet<string>;
  /** Categories whose instances are not drawn. */
  hiddenCategories?: ReadonlySet<number>;
  /** Fill opacity of an unselected instance, 0–1 (default 0.28). */
  opacity?: number;
  /** Which instances carry a label (default: all). */
  labels?: LabelMode;
  /** What a drawing tool shows while it works. */
  drawing?: DrawingOverlay | null;
}

export { hexToRgba };

const FALLBACK_COLOR = "#ff00ff";

const pathCache = new WeakMap<Shape, Path2D>();
const textWidth = new Map<string, number>(); // label text → width at the label font
const bboxCache = new WeakMap<Shape, BBox>();

/** One Path2D per shape (all rings), built once: shapes are immutable. */
export function shapePath(shape: Shape): Path2D {
  let p = pathCache.get(shape);
  if (!p) {
    p = new Path2D();
    for (const polygon of shape) {
      for (const ring of polygon) {
        if (ring.length === 0) continue;
        p.moveTo(ring[0][0], ring[0][1]);
        for (let i = 1; i < ring.length; i++) p.lineTo(ring[i][0], ring[i][1]);
        p.closePath();
      }
    }
    pathCache.set(shape, p);
  }
  return p;
}

export function cachedBBox(shape: Shape): BBox {
  let b = bboxCache.get(shape);
  if (!b) {
    b = shapeBBox(shape);
    bboxCache.set(shape, b);
  }
  return b;
}

/** The decoded image at full size and at halvings, so zoomed-out frames scale less. */
export class ImagePyramid {
  private constructor(readonly levels: ImageBitmap[], readonly width: number, readonly height: number) {}

  static async load(url: string): Promise<ImagePyramid> {
    const res = await fetch(url, { credentials: "same-origin" });
    if (!res.ok) throw new Error(`Could not load the image (${res.status})`);
    const full = await createImageBitmap(await res.blob());
    const levels = [full];
    let w = full.width;
    let h = full.height;
    while (w > 1200) {
      w = Math.round(w / 2);
      h = Math.round(h / 2);
      levels.push(await createImageBitmap(full, { resizeWidth: w, resizeHeight: h, resizeQuality: "medium" }));
    }
    return new ImagePyramid(levels, full.width, full.height);
  }

  /** The smallest level that still has at least one texel per device pixel. */
  levelFor(deviceScale: number): ImageBitmap {
    for (let i = this.levels.length - 1; i >= 0; i--) {
      if (this.levels[i].width >= this.width * deviceScale) return this.levels[i];
    }
    return this.levels[0];
  }
}

export interface FrameStats {
  /** Milliseconds spent drawing each frame (performance.now() around draw). */
  drawMs: number[];
}

export class Renderer {
  private ctx: CanvasRenderingContext2D;
  private pending = 0;
  readonly stats: FrameStats = { drawMs: [] };

  constructor(
    readonly canvas: HTMLCanvasElement,
    private frame: () => { scene: Scene; viewport: Viewport; image: ImagePyramid | null },
  ) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("Canvas 2D is not available");
    this.ctx = ctx;
  }

  /** Ask for a frame; several requests before the next animation frame draw once. */
  requestDraw(): void {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      const t0 = performance.now();
      this.draw();
      const dt = performance.now() - t0;
      this.stats.drawMs.push(dt);
      if (this.stats.drawMs.length > 2000) this.stats.drawMs.splice(0, 1000);
    });
  }

  dispose(): void {
    if (this.pending) cancelAnimationFrame(this.pending);
    this.pending = 0;
  }

  /** Match the backing store to the element's CSS size × devicePixelRatio. */
  resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const rect = this.canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(rect.width * dpr));
    const h = Math.max(1, Math.round(rect.height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
  }

  draw(): void {
    const { scene, viewport: v, image } = this.frame();
    const ctx = this.ctx;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#1d1f23";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);

    // Image space.
    ctx.setTransform(dpr * v.scale, 0, 0, dpr * v.scale, dpr * v.tx, dpr * v.ty);
    if (image) {
      ctx.imageSmoothingEnabled = v.scale < 2;
      ctx.drawImage(image.levelFor(dpr * v.scale), 0, 0, scene.width, scene.height);
    } else {
      ctx.fillStyle = "#2a2d33";
      ctx.fillRect(0, 0, scene.width, scene.height);
    }
    const px = 1 / v.scale; // one CSS pixel in image units

    const colorOf = (c: number) => scene.categories.get(c)?.color ?? FALLBACK_COLOR;
    if (scene.showInstances) {
      const hidden = scene.hiddenCategories;
      const locked = scene.locked;
      const op = Math.round((scene.opacity ?? 0.28) * 100) / 100;
      for (const inst of scene.instances) {
        if (hidden !== undefined && hidden.size > 0 && hidden.has(inst.category)) continue;
        const selected = inst.key === scene.selected || (scene.selection?.has(inst.key) ?? false);
        const path = shapePath(inst.shape);
        const color = colorOf(inst.category);
        const alpha = selected ? Math.min(1, op + 0.17) : inst.key === scene.hover ? Math.min(1, op + 0.1) : op;
        if (alpha > 0) {
          ctx.fillStyle = hexToRgba(color, alpha);
          ctx.fill(path, "evenodd");
        }
        ctx.lineWidth = (selected ? 2.5 : 1.5) * px;
        ctx.strokeStyle = selected ? "#ffffff" : color;
        const isLocked = locked !== undefined && locked.size > 0 && locked.has(inst.key);
        ctx.setLineDash(isLocked ? [1.5 * px, 3 * px] : inst.source === "model" ? [6 * px, 3 * px] : []);
        ctx.stroke(path);
      }
      ctx.setLineDash([]);
    }

    if (scene.ghosts && scene.showInstances) {
      // Suggestions: outlines only, dashed in the category's colour; the highlighted one lit.
      for (const g of scene.ghosts) {
        const path = shapePath(g.shape);
        const color = colorOf(g.category);
        if (g.selected) {
          ctx.fillStyle = hexToRgba(color, 0.18);
          ctx.fill(path, "evenodd");
        }
        ctx.setLineDash([4 * px, 4 * px]);
        ctx.lineWidth = (g.selected ? 2.5 : 1.5) * px;
        ctx.strokeStyle = g.selected ? "#ffffff" : hexToRgba(color, 0.8);
        ctx.stroke(path);
      }
      ctx.setLineDash([]);
    }

    if (scene.overlay) {
      // The model's pre-label: a dark casing under bright dashes, readable over any fill.
      for (const o of scene.overlay) {
        const path = shapePath(o.shape);
        ctx.setLineDash([]);
        ctx.lineWidth = 4 * px;
        ctx.strokeStyle = "rgba(0,0,0,0.7)";
        ctx.stroke(path);
        ctx.setLineDash([7 * px, 5 * px]);
        ctx.lineWidth = 2 * px;
        ctx.strokeStyle = "#f0abfc";
        ctx.stroke(path);
      }
      ctx.setLineDash([]);
    }

    const sam = scene.sam;
    if (sam?.preview) {
      const path = shapePath(sam.preview);
      ctx.fillStyle = "rgba(0, 229, 255, 0.35)";
      ctx.fill(path, "evenodd");
      ctx.lineWidth = 2 * px;
      ctx.strokeStyle = "#00e5ff";
      ctx.stroke(path);
    }

    // Screen space: handles, labels, prompts.
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (scene.showInstances) this.drawLabels(scene, v, colorOf);
    const sel = scene.instances.find((i) => i.key === scene.selected);
    const selLocked = sel !== undefined && (scene.locked?.has(sel.key) ?? false);
    if (sel && scene.showInstances && !sam?.armed && !selLocked && !scene.hiddenCategories?.has(sel.category)) this.drawHandles(sel, scene.vertex, v);

    if (sam?.armed) {
      if (sam.box) this.drawBox(sam.box, v, "#00e5ff");
      sam.points.forEach((p, i) => {
        const [sx, sy] = toScreen(v, p[0], p[1]);
        ctx.beginPath();
        ctx.arc(sx, sy, 5, 0, Math.PI * 2);
        ctx.fillStyle = sam.labels[i] === 1 ? "#22c55e" : "#ef4444";
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "#fff";
        ctx.stroke();
      });
    }
    if (scene.rubberBand) this.drawBox(scene.rubberBand, v, "#ffffff");
    if (scene.drawing) drawDrawingOverlay(ctx, scene.drawing, v);
  }

  private drawLabels(scene: Scene, v: Viewport, colorOf: (c: number) => string): void {
    const ctx = this.ctx;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    const mode = scene.labels ?? "always";
    const hidden = scene.hiddenCategories;
    const isSelected = (key: string) => key === scene.selected || (scene.selection?.has(key) ?? false);
    // The selected and hovered labels go last, on top of the crowd.
    let top: Instance[] | null = null;
    for (const inst of scene.instances) {
      if (hidden !== undefined && hidden.size > 0 && hidden.has(inst.category)) continue;
      const picked = isSelected(inst.key) || inst.key === scene.hover;
      if (picked) {
        if (mode !== "selection" || isSelected(inst.key)) (top ??= []).push(inst);
      } else if (mode === "always") {
        this.drawLabel(scene, inst, v, colorOf);
      }
    }
    if (top) for (const inst of top) this.drawLabel(scene, inst, v, colorOf);
  }

  private drawLabel(scene: Scene, inst: Instance, v: Viewport, colorOf: (c: number) => string): void {
    const ctx = this.ctx;
    const [x0, y0] = cachedBBox(inst.shape);
    const [sx, sy] = toScreen(v, x0, y0);
    const name = scene.categories.get(inst.category)?.name ?? "?";
    const locked = scene.locked !== undefined && scene.locked.size > 0 && scene.locked.has(inst.key);
    const text = `${inst.score === null ? name : `${name} ${inst.score.toFixed(2)}`}${locked ? " (locked)" : ""}`;
    let w = textWidth.get(text);
    if (w === undefined) {
      w = ctx.measureText(text).width + 6;
      if (textWidth.size > 5000) textWidth.clear();
      textWidth.set(text, w);
    }
    ctx.fillStyle = hexToRgba(colorOf(inst.category), 0.85);
    ctx.fillRect(sx, sy - 15, w, 15);
    ctx.fillStyle = "#000";
    ctx.fillText(text, sx + 3, sy - 2);
  }

  private drawHandles(inst: Instance, vertex: VertexRef | null, v: Viewport): void {
    const ctx = this.ctx;
    inst.shape.forEach((polygon, pi) =>
      polygon.forEach((ring, ri) =>
        ring.forEach(([x, y], vi) => {
          const [sx, sy] = toScreen(v, x, y);
          const active = vertex !== null && vertex.poly === pi && vertex.ring === ri && vertex.index === vi;
          const r = active ? 5 : 3.5;
          ctx.fillStyle = active ? "#facc15" : ri > 0 ? "#f97316" : "#ffffff";
          ctx.fillRect(sx - r, sy - r, 2 * r, 2 * r);
          ctx.lineWidth = 1;
          ctx.strokeStyle = "#000";
          ctx.strokeRect(sx - r, sy - r, 2 * r, 2 * r);
        }),
      ),
    );
  }

  private drawBox(box: BBox, v: Viewport, color: string): void {
    const ctx = this.ctx;
    const [ax, ay] = toScreen(v, box[0], box[1]);
    const [bx, by] = toScreen(v, box[2], box[3]);
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = color;
    ctx.strokeRect(ax, ay, bx - ax, by - ay);
    ctx.setLineDash([]);
  }
}
