import { describe, expect, it } from "vitest";
import { REFINE_IOU, refineWith, refinementOffer, shapeIoU } from "./refinement";
import { addInstance, createEditor, undo } from "./store";
import type { Shape } from "./types";

const rect = (x: number, y: number, w: number, h: number): Shape => [[[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]]];

function editor() {
  return createEditor({
    imageId: 1, width: 400, height: 300, version: 3, activeCategory: 1,
    annotations: [
      { id: 1, category: 1, shape: rect(10, 10, 100, 100), source: "manual", score: null, bbox: [10, 10, 100, 100], area: 10000 },
      { id: 2, category: 2, shape: rect(200, 50, 80, 60), source: "model", score: 0.8, bbox: [200, 50, 80, 60], area: 4800 },
    ],
  });
}

describe("the refinement offer", () => {
  it("measures IoU of shapes", () => {
    expect(shapeIoU(rect(0, 0, 10, 10), rect(0, 0, 10, 10))).toBeCloseTo(1, 5);
    expect(shapeIoU(rect(0, 0, 10, 10), rect(5, 0, 10, 10))).toBeCloseTo(1 / 3, 1);
    expect(shapeIoU(rect(0, 0, 10, 10), rect(20, 0, 10, 10))).toBe(0);
  });

  it("flags a new shape at IoU >= 0.9 with an existing one, and offers that one", () => {
    const s0 = editor();
    const s1 = addInstance(s0, { category: 1, shape: rect(12, 11, 98, 99), source: "sam", score: 0.7 });
    const offer = refinementOffer(s0.instances, s1.instances);
    expect(offer).not.toBeNull();
    expect(offer!.targetKey).toBe(s0.instances[0].key);
    expect(offer!.newKey).toBe(s1.selected);
    expect(offer!.iou).toBeGreaterThanOrEqual(REFINE_IOU);
  });

  it("does not flag a shape that only partly overlaps, nor edits that add nothing", () => {
    const s0 = editor();
    const s1 = addInstance(s0, { category: 1, shape: rect(10, 10, 100, 60), source: "sam", score: 0.7 }); // IoU 0.6
    expect(refinementOffer(s0.instances, s1.instances)).toBeNull();
    expect(refinementOffer(s1.instances, s0.instances)).toBeNull();
    expect(refinementOffer(s0.instances, s0.instances)).toBeNull();
  });

  it("refining replaces the target's geometry and drops the duplicate, in one undo step", () => {
    const s0 = editor();
    const s1 = addInstance(s0, { category: 1, shape: rect(12, 11, 98, 99), source: "sam", score: 0.7 });
    const offer = refinementOffer(s0.instances, s1.instances)!;
    const s2 = refineWith(s1, offer);
    expect(s2.instances).toHaveLength(2);
    const target = s2.instances.find((i) => i.key === offer.targetKey)!;
    expect(target.shape).toEqual(rect(12, 11, 98, 99));
    expect(target.source).toBe("sam");
    expect(target.category).toBe(1);
    expect(s2.selected).toBe(offer.targetKey);
    expect(undo(s2).instances).toBe(s1.instances);
  });
});
