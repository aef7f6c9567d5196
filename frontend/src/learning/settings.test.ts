import { describe, expect, it } from "vitest";
import { ApiError } from "../api";
import { errorText } from "../dom";
import { contributionNote, loopSettingsFrom, settingsChanges } from "./settings";

describe("project settings form", () => {
  const saved = loopSettingsFrom({ queue_strategy: "uncertainty", retrain_threshold: 20, contribute_to_universal: false, prompt_engine: "default" });

  it("reads the project's settings with defaults", () => {
    expect(saved).toEqual({ queue_strategy: "uncertainty", retrain_threshold: 20, contribute_to_universal: false, annotators_can_upload: false, contribution_changed_by: null, contribution_changed_at: null });
    expect(loopSettingsFrom({})).toMatchObject({ queue_strategy: "uncertainty+diversity", retrain_threshold: 50, contribute_to_universal: false });
  });

  it("sends only what changed", () => {
    expect(settingsChanges(saved, { queue_strategy: "uncertainty", retrain_threshold: "20", contribute_to_universal: false })).toEqual({});
    expect(settingsChanges(saved, { queue_strategy: "random", retrain_threshold: "35", contribute_to_universal: true })).toEqual({
      queue_strategy: "random", retrain_threshold: 35, contribute_to_universal: true,
    });
    expect(settingsChanges(saved, { queue_strategy: "uncertainty", retrain_threshold: "20", contribute_to_universal: false, annotators_can_upload: true })).toEqual({ annotators_can_upload: true });
    // An empty or bad number is sent as is (NaN → null in JSON) so the server names the field.
    expect(Number.isNaN(settingsChanges(saved, { queue_strategy: "uncertainty", retrain_threshold: " ", contribute_to_universal: false }).retrain_threshold)).toBe(true);
  });

  it("says who changed the opt-in and when, when the API tells", () => {
    expect(contributionNote(saved, (t) => t)).toBe("");
    const s = loopSettingsFrom({ contribution_changed_by: "alice", contribution_changed_at: "2025-01-02T03:04:00Z" });
    expect(contributionNote(s, (t) => t.slice(0, 10))).toBe("Last changed by alice on 2025-01-02.");
  });

  it("shows API errors with their field", () => {
    expect(errorText(new ApiError(400, "invalid", "Ensure this value is greater than or equal to 1.", "retrain_threshold"))).toBe(
      "Ensure this value is greater than or equal to 1. (field: retrain_threshold)",
    );
    expect(errorText(new ApiError(409, "training_in_progress", "Training run #3 is still running"))).toBe("Training run #3 is still running");
    expect(errorText(new Error("boom"))).toBe("boom");
  });
});
