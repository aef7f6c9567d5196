import { describe, expect, it } from "vitest";
import {
  canPreview, canSave, changes, discard, isDirty, mappingFromServer, mappingKey, previewIsCurrent, previewLines,
  previewReceived, previewRequested, requestFailed, saveRequested, saved, setTarget,
} from "./taxonomy";
import type { TaxonomyPreview } from "../types";

const NAMES = ["cardboard_box", "padded_mailer", "plastic_bag", "envelope", "item"];

function server(mapping: Record<number, string>, over: Partial<TaxonomyPreview> = {}): TaxonomyPreview {
  const names: Record<number, string> = { 1: "box", 2: "carton", 3: "pallet" };
  const universal = Object.fromEntries(NAMES.map((n) => [n, { train: 0, val: 0, categories: [] as string[] }]));
  for (const [id, u] of Object.entries(mapping)) if (u) { universal[u].categories.push(names[Number(id)]); universal[u].train += 4; universal[u].val += 1; }
  return {
    universal_names: NAMES, saved: true,
    categories: Object.entries(mapping).map(([id, u]) => ({ category: Number(id), name: names[Number(id)], universal_name: u, changed: false, accepted_train: 4, accepted_val: 1 })),
    universal,
    project_only: Object.entries(mapping).filter(([, u]) => !u).map(([id]) => ({ category: Number(id), name: names[Number(id)], accepted_annotations: 5 })),
    contributes: true, annotations_contributed: 8, annotations_left_out: 5, ...over,
  };
}

describe("taxonomy mapping editor state", () => {
  const start = mappingFromServer(server({ 1: "cardboard_box", 2: "", 3: "" }));

  it("starts clean from the saved mapping", () => {
    expect(start.draft).toEqual({ 1: "cardboard_box", 2: "", 3: "" });
    expect(start.categories.map((c) => c.name)).toEqual(["box", "carton", "pallet"]);
    expect(start.phase).toBe("clean");
    expect(isDirty(start) || canPreview(start) || canSave(start)).toBe(false);
  });

  it("tracks changes; several categories may map to one class; undoing a change makes it clean again", () => {
    const s = setTarget(start, 2, "cardboard_box");
    expect(changes(s)).toEqual({ 2: "cardboard_box" });
    expect(s.phase).toBe("editing");
    expect(canPreview(s)).toBe(true);
    expect(canSave(s)).toBe(false); // no preview yet
    expect(setTarget(s, 2, "").phase).toBe("clean");
  });

  it("ignores unknown categories and classes", () => {
    expect(setTarget(start, 99, "item")).toBe(start);
    expect(setTarget(start, 1, "forklift")).toBe(start);
  });

  it("saves only after the preview of exactly this draft has arrived", () => {
    let s = setTarget(start, 2, "cardboard_box");
    s = previewRequested(s);
    expect(s.phase).toBe("previewing");
    expect(canSave(s) || canPreview(s)).toBe(false);
    const key = mappingKey(s.draft);
    s = previewReceived(s, key, server({ 1: "cardboard_box", 2: "cardboard_box", 3: "" }, { saved: false }));
    expect(s.phase).toBe("previewed");
    expect(previewIsCurrent(s) && canSave(s)).toBe(true);

    // Editing after the preview makes it stale: no save until a new preview.
    const edited = setTarget(s, 3, "item");
    expect(previewIsCurrent(edited)).toBe(false);
    expect(canSave(edited)).toBe(false);
    expect(canPreview(edited)).toBe(true);

    const saving = saveRequested(s);
    expect(saving.phase).toBe("saving");
    expect(saveRequested(edited)).toBe(edited);
    const after = saved(saving, server({ 1: "cardboard_box", 2: "cardboard_box", 3: "" }));
    expect(after.phase).toBe("clean");
    expect(after.saved).toEqual({ 1: "cardboard_box", 2: "cardboard_box", 3: "" });
    expect(isDirty(after)).toBe(false);
  });

  it("drops a preview that answers an older draft", () => {
    let s = previewRequested(setTarget(start, 2, "item"));
    const oldKey = mappingKey(s.draft);
    s = setTarget(s, 2, "envelope");
    const late = previewReceived(s, oldKey, server({ 1: "cardboard_box", 2: "item", 3: "" }));
    expect(late).toBe(s);
    expect(canSave(late)).toBe(false);
  });

  it("keeps the draft when a request fails, and discards back to the saved mapping", () => {
    const s = requestFailed(previewRequested(setTarget(start, 3, "item")), "'x' is not a universal class (field: mapping)");
    expect(s.phase).toBe("error");
    expect(s.error).toContain("field: mapping");
    expect(s.draft[3]).toBe("item");
    expect(canPreview(s)).toBe(true);
    const back = discard(s);
    expect(back.draft).toEqual(start.saved);
    expect(back.phase).toBe("clean");
  });

  it("words the preview: classes fed, project-only categories, totals", () => {
    const lines = previewLines(server({ 1: "cardboard_box", 2: "cardboard_box", 3: "" }));
    expect(lines.fed).toEqual([{ universal: "cardboard_box", categories: ["box", "carton"], train: 8, val: 2 }]);
    expect(lines.projectOnly).toEqual(["pallet (5 accepted annotations)"]);
    expect(lines.summary).toBe("8 accepted train annotation(s) would feed the universal model; 5 stay project-only.");
    expect(previewLines(server({ 1: "item" }, { contributes: false, annotations_left_out: 0 })).summary).toContain("does not contribute");
  });
});
