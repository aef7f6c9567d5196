// A canvas with the image, zoom towards the cursor, and pan. Pointer gestures other than
// pan go to a tool (the annotate or review controller), in image coordinates.

import { h } from "./dom";
import { ImagePyramid, Renderer, type Scene } from "./render";
import type { Point } from "./types";
import { fitViewport, panBy, toImage, wheelFactor, zoomAt, type Viewport } from "./viewport";

export interface PointerTool {
  /** Return true to own the gesture (move/up follow); false lets the view pan. */
  down(e: PointerEvent, p: Point): boolean;
  move?(e: PointerEvent, p: Point): void;
  up?(e: PointerEvent, p: Point): void;
  hover?(e: PointerEvent, p: Point): void;
  /** The pointer left the canvas. */
  leave?(): void;
  dblclick?(e: MouseEvent, p: Point): void;
}

export class CanvasView {
  readonly el: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  viewport: Viewport = { scale: 1, tx: 0, ty: 0 };
  image: ImagePyramid | null = null;
  /** Last pointer position in image coordinates (keyboard actions use it). */
  pointer: Point | null = null;
  readonly renderer: Renderer;
  /** Called after every change of the viewport (zoom, pan, fit), e.g. for a zoom read-out. */
  onViewport: ((v: Viewport) => void) | null = null;
  private panning: { x: number; y: number } | null = null;
  private toolGesture = false;
  private spaceDown = false;
  private fitted = false;
  private observer: ResizeObserver;
  private disposers: (() => void)[] = [];

  constructor(
    private width: number,
    private height: number,
    private scene: () => Scene,
    private tool: PointerTool,
  ) {
    this.canvas = h("canvas", { class: "stage", tabindex: 0, "data-testid": "canvas", "aria-label": "Image canvas" });
    this.el = h("div", { class: "stage-wrap" }, this.canvas);
    this.renderer = new Renderer(this.canvas, () => ({ scene: this.scene(), viewport: this.viewport, image: this.image }));
    this.observer = new ResizeObserver(() => {
      this.renderer.resize();
      if (!this.fitted) this.fit();
      this.requestDraw();
    });
    this.observer.observe(this.el);
    this.bind();
  }

  async loadImage(url: string): Promise<void> {
    this.image = await ImagePyramid.load(url);
    this.requestDraw();
  }

  requestDraw(): void {
    this.renderer.requestDraw();
  }

  fit(): void {
    const rect = this.canvas.getBoundingClientRect();
    if (rect.width < 2 || rect.height < 2) return;
    this.setViewport(fitViewport(this.width, this.height, rect.width, rect.height));
    this.fitted = true;
  }

  zoom(factor: number, at?: { x: number; y: number }): void {
    const rect = this.canvas.getBoundingClientRect();
    const sx = at ? at.x : rect.width / 2;
    const sy = at ? at.y : rect.height / 2;
    this.setViewport(zoomAt(this.viewport, sx, sy, factor));
  }

  pan(dx: number, dy: number): void {
    this.setViewport(panBy(this.viewport, dx, dy));
  }

  private setViewport(v: Viewport): void {
    this.viewport = v;
    this.requestDraw();
    this.onViewport?.(v);
  }

  /** Image coordinates of a mouse event. */
  toImage(e: MouseEvent): Point {
    const rect = this.canvas.getBoundingClientRect();
    return toImage(this.viewport, e.clientX - rect.left, e.clientY - rect.top);
  }

  /** Screen distance (CSS px) as image pixels, for hit tolerances. */
  px(n: number): number {
    return n / this.viewport.scale;
  }

  private bind(): void {
    const c = this.canvas;
    const on = <K extends keyof HTMLElementEventMap>(t: EventTarget, type: K, fn: (e: HTMLElementEventMap[K]) => void, opts?: AddEventListenerOptions) => {
      t.addEventListener(type, fn as EventListener, opts);
      this.disposers.push(() => t.removeEventListener(type, fn as EventListener, opts));
    };
    on(c, "wheel", (e) => {
      e.preventDefault();
      const rect = c.getBoundingClientRect();
      this.zoom(wheelFactor(e.deltaY, e.deltaMode), { x: e.clientX - rect.left, y: e.clientY - rect.top });
    }, { passive: false });
    on(c, "contextmenu", (e) => e.preventDefault());
    on(c, "pointerdown", (e) => {
      c.focus({ preventScroll: true });
      c.setPointerCapture(e.pointerId);
      const p = this.toImage(e);
      this.pointer = p;
      if (e.button === 1 || this.spaceDown || !this.tool.down(e, p)) {
        this.panning = { x: e.clientX, y: e.clientY };
        c.classList.add("panning");
      } else {
        this.toolGesture = true;
      }
    });
    on(c, "pointermove", (e) => {
      const p = this.toImage(e);
      this.pointer = p;
      if (this.panning) {
        this.pan(e.clientX - this.panning.x, e.clientY - this.panning.y);
        this.panning = { x: e.clientX, y: e.clientY };
      } else if (this.toolGesture) {
        this.tool.move?.(e, p);
      } else {
        this.tool.hover?.(e, p);
      }
    });
    const end = (e: PointerEvent) => {
      if (this.panning) {
        this.panning = null;
        c.classList.remove("panning");
      } else if (this.toolGesture) {
        this.toolGesture = false;
        this.tool.up?.(e, this.toImage(e));
      }
    };
    on(c, "pointerup", end);
    on(c, "pointercancel", end);
    on(c, "pointerleave", () => {
      if (!this.panning && !this.toolGesture) this.tool.leave?.();
    });
    on(c, "dblclick", (e) => this.tool.dblclick?.(e, this.toImage(e)));
    // Holding Space pans with a left drag in every tool (the canvas or the page has the focus).
    on(window, "keydown", (e) => {
      if (e.key === " " && (e.target === c || e.target === document.body)) {
        this.spaceDown = true;
        c.classList.add("space-pan");
        e.preventDefault();
      }
    });
    on(window, "keyup", (e) => {
      if (e.key === " ") {
        this.spaceDown = false;
        c.classList.remove("space-pan");
      }
    });
    on(window, "blur", () => {
      this.spaceDown = false;
      c.classList.remove("space-pan");
    });
  }

  dispose(): void {
    this.observer.disconnect();
    this.renderer.dispose();
    for (const d of this.disposers) d();
  }
}
