import { describe, expect, it } from "vitest";
import { currentRescore, formatEta, rescoreText, runView, trainingBlockReason } from "./runs";
import type { BatchJob, ModelRegistry, TrainingRunDetail } from "../types";

const run = (over: Partial<TrainingRunDetail> = {}): TrainingRunDetail => ({
  id: 4, project: 7, status: "running", progress: 41.6, message: "", trigger: "manual", epoch: 3, epochs: 10,
  loss: 0.41234, eta_seconds: 150, base_version: 1, result_version: null, report: {}, requested_by: "alice",
  cancel_requested: false, created_at: "", started_at: null, finished_at: null, ...over,
});
const job = (over: Partial<BatchJob>): BatchJob => ({
  id: 1, kind: "rescore", status: "running", progress: 50, done: 5, total: 10, message: "", created_at: "", finished_at: null, ...over,
});

describe("training run view", () => {
  it("shows epoch, loss and ETA while running, with Cancel for admins", () => {
    const v = runView(run(), true);
    expect(v).toMatchObject({ active: true, percent: 42, detail: "epoch 3/10 · loss 0.4123 · ~3 min left", canCancel: true });
    expect(v.title).toBe("Training run #4 · running · by alice");
    expect(runView(run(), false).canCancel).toBe(false);
  });

  it("says cancelling once a cancel was requested and offers no second Cancel", () => {
    const v = runView(run({ cancel_requested: true }), true);
    expect(v.title).toContain("cancelling");
    expect(v.canCancel).toBe(false);
  });

  it("shows a finished run's outcome without ETA or Cancel", () => {
    const done = runView(run({ status: "succeeded", progress: 100, message: "p-v2 promoted: mask AP 0.4 > 0.3" }), true);
    expect(done).toMatchObject({ active: false, canCancel: false, percent: 100, detail: "epoch 3/10 · loss 0.4123", message: "p-v2 promoted: mask AP 0.4 > 0.3" });
    const pending = runView(run({ status: "pending", epochs: 0, epoch: 0, loss: null, eta_seconds: null, progress: 0 }), true);
    expect(pending).toMatchObject({ active: true, detail: "", canCancel: true });
  });

  it("formats ETAs", () => {
    expect(formatEta(null)).toBe("");
    expect(formatEta(-1)).toBe("");
    expect(formatEta(12)).toBe("<1 min left");
    expect(formatEta(90)).toBe("~2 min left");
    expect(formatEta(3900)).toBe("~1 h 05 min left");
  });
});

describe("re-scoring", () => {
  it("prefers a running job over newer finished ones", () => {
    expect(currentRescore([job({ id: 3, status: "succeeded" }), job({ id: 2 })])?.id).toBe(2);
    expect(currentRescore([job({ id: 3, status: "succeeded" }), job({ id: 2, status: "failed" })])?.id).toBe(3);
    expect(currentRescore([])).toBeNull();
  });

  it("words progress", () => {
    expect(rescoreText(job({}))).toBe("Re-scoring after promotion · running · 5 / 10 images");
    expect(rescoreText(job({ total: 0, status: "succeeded" }))).toBe("Re-scoring after promotion · succeeded · no pending images");
  });
});

describe("why a run cannot start", () => {
  const registry = (training_data?: ModelRegistry["training_data"]): ModelRegistry => ({
    active: null, base: null, versions: [], accepted_since_last_run: 0, retrain_threshold: 50, training_data,
  });

  it("gives the server's reason while the data is short, and nothing once it is ready", () => {
    const short = { train: 3, val: 1, min_train: 10, min_val: 2, ready: false, reason: "A training run needs at least 10 accepted images in the train split; this project has 3 (and 1 of the 2 needed in the val split)" };
    expect(trainingBlockReason(registry(short))).toBe(short.reason);
    expect(trainingBlockReason(registry({ ...short, reason: null }))).toBe("Needs 10 accepted train and 2 val images; has 3 and 1.");
    expect(trainingBlockReason(registry({ ...short, train: 10, val: 2, ready: true, reason: null }))).toBeNull();
    expect(trainingBlockReason(registry())).toBeNull(); // an older server: the button stays as it was
    expect(trainingBlockReason(null)).toBeNull();
  });
});
