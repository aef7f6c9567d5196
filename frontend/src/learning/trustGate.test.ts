import { describe, expect, it } from "vitest";
import type { GateFigures, TrustGate } from "../types";
import { gateRows, pinChanges, pinForm, pinnedNote, secondsText } from "./trustGate";

const figures = (id: number, over: Partial<GateFigures> = {}): GateFigures => ({
  model_version: { id, name: `v${id}`, status: "promoted" },
  mode: "prelabel",
  threshold: 0.62,
  precision: 0.914,
  recall: 0.8,
  seconds_saved_per_image: 4.26,
  reviewed_images: 31,
  reason: "on 31 reviewed images, pre-labels scoring 0.62 or more save 4.3 s per image",
  learned: true,
  curve: [],
  computed_at: "2026-12-05T18:00:00Z",
  ...over,
});

const gate = (over: Partial<TrustGate> = {}): TrustGate => ({
  active: { ...figures(2), applied: { mode: "prelabel", threshold: 0.62, pinned: false } },
  versions: [figures(2), figures(1, { mode: "suggest", threshold: null, seconds_saved_per_image: -1.5, learned: false, reviewed_images: 7 })],
  pin: { mode: null, threshold: null, changed_by: null, changed_at: null },
  min_reviewed: 20,
  ...over,
});

describe("the trust gate card", () => {
  it("lists the active version first with its figures, then the others", () => {
    const rows = gateRows(gate());
    expect(rows.map((r) => [r.version, r.active])).toEqual([["v2", true], ["v1", false]]);
    expect(rows[0]).toMatchObject({ modeLabel: "Pre-labels", threshold: "0.62", precision: "91 %", recall: "80 %", secondsSaved: "4.3 s", reviewed: "31" });
    expect(rows[1]).toMatchObject({ modeLabel: "Suggestions", threshold: "none worth showing", secondsSaved: "−1.5 s", reviewed: "7 of 20" });
    expect(gateRows(gate({ active: null, versions: [] }))).toEqual([]);
    expect(secondsText(null)).toBe("–");
  });

  it("says when an admin's pin overrides the gate", () => {
    expect(pinnedNote(gate())).toBeNull();
    const pinned = gate({
      active: { ...figures(2), applied: { mode: "suggest", threshold: 0.7, pinned: true } },
      pin: { mode: "suggest", threshold: 0.7, changed_by: "alice", changed_at: null },
    });
    expect(pinnedNote(pinned)).toBe("Pinned by alice: suggestions at 0.70.");
  });

  it("turns the pin form into a PATCH, empty meaning the gate decides", () => {
    expect(pinChanges({ mode: "", threshold: "" })).toEqual({ pinned_mode: null, pinned_threshold: null });
    expect(pinChanges({ mode: "suggest", threshold: " 0.7 " })).toEqual({ pinned_mode: "suggest", pinned_threshold: 0.7 });
    expect(pinChanges({ mode: "prelabel", threshold: "high" }).pinned_threshold).toBe("high"); // the server names it
    expect(pinForm({ mode: "suggest", threshold: 0.7, changed_by: null, changed_at: null })).toEqual({ mode: "suggest", threshold: "0.7" });
  });
});
