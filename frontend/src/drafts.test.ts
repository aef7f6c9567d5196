import { describe, expect, it } from "vitest";
import { clearDraft, loadDraft, saveDraft } from "./drafts";
import { createEditor, isDirty, restoreInstances } from "./store";

class MemoryStorage {
  private m = new Map<string, string>();
  get length() { return this.m.size; }
  clear() { this.m.clear(); }
  getItem(k: string) { return this.m.get(k) ?? null; }
  key(i: number) { return [...this.m.keys()][i] ?? null; }
  removeItem(k: string) { this.m.delete(k); }
  setItem(k: string, v: string) { this.m.set(k, v); }
}

describe("drafts", () => {
  it("round-trips unsaved instances per image and restores them as an undoable edit", () => {
    const storage = new MemoryStorage() as unknown as Storage;
    const s = createEditor({ imageId: 4, width: 10, height: 10, version: 2, annotations: [], activeCategory: 1 });
    const inst = [{ key: "k9", category: 1, shape: [[[[0, 0], [5, 0], [5, 5]]]] as [number, number][][][], source: "manual" as const, score: null }];
    saveDraft(storage, 4, 2, inst, new Date("2026-01-01T00:00:00Z"));
    expect(loadDraft(storage, 5)).toBeNull();
    const d = loadDraft(storage, 4)!;
    expect(d).toMatchObject({ imageId: 4, version: 2, savedAt: "2026-01-01T00:00:00.000Z" });
    const restored = restoreInstances({ ...s, nextKey: 9 }, d.instances);
    expect(restored.instances[0].key).toBe("k9");
    expect(restored.nextKey).toBe(10);
    expect(isDirty(restored)).toBe(true);
    expect(restored.past).toHaveLength(1);
    clearDraft(storage, 4);
    expect(loadDraft(storage, 4)).toBeNull();
  });
});
