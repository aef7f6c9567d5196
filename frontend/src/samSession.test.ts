import { describe, expect, it } from "vitest";
import { samAddPoint, samArm, samCancel, samHasPrompt, samRequest, samSetBox, samSetMessage, samSetPreview } from "./samSession";
import { createEditor, samAccept, select, setCategory, undo, type EditorState } from "./store";
import type { Annotation, Shape } from "./types";

const sq = (x: number, y: number, s: number): Shape => [[[[x, y], [x + s, y], [x + s, y + s], [x, y + s]]]];
const annotations: Annotation[] = [
  { id: 1, category: 10, shape: sq(0, 0, 10), source: "model", score: 0.9 },
  { id: 2, category: 11, shape: sq(50, 50, 20), source: "manual", score: null },
];

function fresh(): EditorState {
  return createEditor({ imageId: 7, width: 100, height: 100, version: 3, annotations, activeCategory: 10 });
}

describe("SAM session", () => {
  const preview = sq(20, 20, 10);

  it("collects prompts and accepts a new instance, staying armed", () => {
    let s = samArm(setCategory(fresh(), "k2", 11), true);
    s = select(s, null);
    s = samArm(s, true);
    s = samAddPoint(s, [25, 25], 1);
    s = samAddPoint(s, [200, 5], 0); // clamped into the image
    s = samSetBox(s, [40, 40, 10, 10]);
    expect(samRequest(s)).toEqual({ points: [[25, 25], [100, 5]], labels: [1, 0], box: [10, 10, 40, 40], mask_shape: null });
    s = samSetPreview(s, preview, 0.93, "offline");
    s = samAccept(s);
    expect(s.instances).toHaveLength(3);
    expect(s.instances[2]).toMatchObject({ category: 11, shape: preview, source: "sam", score: 0.93 });
    expect(s.sam.armed).toBe(true);
    expect(s.sam.points).toEqual([]);
    expect(s.sam.preview).toBeNull();
    expect(undo(s).instances).toHaveLength(2);
  });

  it("refines a selected pre-label, sending it as mask_shape", () => {
    let s = samArm(select(fresh(), "k1"), true);
    expect(s.sam.target).toBe("k1");
    s = samAddPoint(s, [5, 5], 1);
    expect(samRequest(s).mask_shape).toBe(fresh().instances[0].shape);
    s = samAccept(samSetPreview(s, preview, 0.8, "offline"));
    expect(s.instances).toHaveLength(2);
    expect(s.instances[0]).toMatchObject({ key: "k1", category: 10, shape: preview, source: "sam" });
  });

  it("Esc drops the prompts but stays armed; accept without preview is a no-op", () => {
    let s = samAddPoint(samArm(fresh(), true), [5, 5], 1);
    s = samCancel(samSetPreview(s, preview, 0.5, null));
    expect(s.sam).toMatchObject({ armed: true, points: [], preview: null });
    expect(samAccept(s)).toBe(s);
    expect(samAddPoint(samArm(s, false), [1, 1], 1).sam.points).toEqual([]);
  });

  it("keeps the rest of the editor state as it is", () => {
    const s0 = select(fresh(), "k2");
    const s = samSetMessage(samSetBox(samArm(s0, true), [1, 1, 5, 5]), "Preparing…");
    expect(samHasPrompt(s)).toBe(true);
    expect(s.sam.message).toBe("Preparing…");
    expect(s.instances).toBe(s0.instances);
    expect(s.past).toBe(s0.past);
    expect(s.selected).toBe("k2");
    expect(s.vertex).toBeNull();
  });
});
