import { describe, expect, it } from "vitest";
import { formatAp, formatUtc, registryModel, worseConfirmation } from "./registry";
import type { ModelRegistry, ModelVersion } from "../types";

const version = (id: number, over: Partial<ModelVersion> = {}): ModelVersion => ({
  id, project: 7, parent: null, name: `p-v${id}`, status: "ready", metrics: {}, data_summary: {},
  created_at: "2025-03-01T10:20:30Z", promoted_at: null, ...over,
});
const base = version(1, { project: null, name: "universal-base-v1", status: "promoted" });

function registry(over: Partial<ModelRegistry> = {}): ModelRegistry {
  const v2 = version(2, { parent: 1, status: "archived", metrics: { mask_ap: 0.31 } });
  const v3 = version(3, { parent: 2, status: "promoted", metrics: { mask_ap: 0.4567, compared_with: { name: "p-v2", mask_ap: 0.31 } }, data_summary: { promotion: "training run #4" } });
  const v4 = version(4, { parent: 3, status: "ready", metrics: { mask_ap: 0.2 } });
  const v5 = version(5, { parent: 3, status: "failed", metrics: { error: "No accepted images in the val split" } });
  return { active: v3, base, versions: [v5, v4, v3, v2], accepted_since_last_run: 2, retrain_threshold: 50, ...over };
}

describe("registry table model", () => {
  it("labels statuses, formats AP, names parents and marks the model in use", () => {
    const m = registryModel(registry(), true);
    expect(m.activeName).toBe("p-v3");
    expect(m.rows.map((r) => [r.name, r.statusLabel, r.maskAp, r.parent, r.active])).toEqual([
      ["p-v5", "failed", "–", "p-v3", false],
      ["p-v4", "not promoted", "0.200", "p-v3", false],
      ["p-v3", "promoted", "0.457", "p-v2", true],
      ["p-v2", "archived", "0.310", "universal-base-v1", false],
    ]);
    expect(m.rows[0].note).toBe("No accepted images in the val split");
    expect(m.rows[2].note).toBe("training run #4");
    expect(m.rows[2].comparedWith).toBe("0.310 (p-v2)");
    expect(m.rows[2].created).toBe("2025-03-01 10:20");
  });

  it("lets admins promote ready and archived versions that are not in use, and roll back to the parent", () => {
    const m = registryModel(registry(), true);
    expect(m.rows.filter((r) => r.canPromote).map((r) => r.name)).toEqual(["p-v4", "p-v2"]);
    expect(m.canRollback).toBe(true);
    expect(m.rollbackTarget).toBe("p-v2");
  });

  it("gives non-admins no actions", () => {
    const m = registryModel(registry(), false);
    expect(m.rows.some((r) => r.canPromote)).toBe(false);
    expect(m.canRollback).toBe(false);
  });

  it("has nothing to roll back while the project uses the shipped base", () => {
    const m = registryModel(registry({ active: base, versions: [version(2, { parent: 1, metrics: { mask_ap: 0.1 } })] }), true);
    expect(m.activeName).toBe("universal-base-v1");
    expect(m.canRollback).toBe(false);
    expect(m.rows[0].canPromote).toBe(true);
  });

  it("rolls back to the base when the active version's parent is the base", () => {
    const v2 = version(2, { parent: 1, status: "promoted" });
    expect(registryModel(registry({ active: v2, versions: [v2] }), true).rollbackTarget).toBe("universal-base-v1");
  });

  it("falls back to ids for unknown parents and handles missing values", () => {
    const m = registryModel({ active: null, base: null, versions: [version(9, { parent: 99, created_at: "bad" })], accepted_since_last_run: 0, retrain_threshold: 5 }, true);
    expect(m.rows[0].parent).toBe("#99");
    expect(m.rows[0].created).toBe("bad");
    expect(m.activeName).toBeNull();
    expect(formatAp(null)).toBe("–");
    expect(formatAp(Number.NaN)).toBe("–");
    expect(formatUtc(null)).toBe("");
  });
});

describe("promoting a worse version", () => {
  const refusal = {
    candidate: { id: 4, name: "p-v4", mask_ap: 0.3472, val_images: 8 },
    active: { id: 3, name: "p-v3", mask_ap: 0.512, val_images: null },
  };

  it("words both figures for the confirm dialog", () => {
    expect(worseConfirmation("worse_than_active", refusal)).toEqual({
      title: "p-v4 is worse than p-v3 on the val split. Promote it anyway?",
      lines: ["p-v4 (to promote): mask AP 0.347 on 8 val images", "p-v3 (in use): mask AP 0.512"],
    });
  });

  it("asks nothing for other refusals or when a figure is missing", () => {
    expect(worseConfirmation("not_promotable", refusal)).toBeNull();
    expect(worseConfirmation("worse_than_active", { candidate: refusal.candidate })).toBeNull();
  });
});
