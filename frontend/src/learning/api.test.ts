import { describe, expect, it } from "vitest";
import { ApiClient, ApiError } from "../api";

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function client(responses: Response[]) {
  const calls: { url: string; method: string; body: unknown }[] = [];
  const c = new ApiClient({
    fetch: (async (url: string, init: RequestInit) => {
      calls.push({ url, method: String(init.method), body: init.body ? JSON.parse(String(init.body)) : undefined });
      return responses.shift()!;
    }) as unknown as typeof fetch,
    onUnauthenticated: () => {},
  });
  return { c, calls };
}

describe("learning-loop endpoints", () => {
  it("calls the issue-6 endpoints with the right methods", async () => {
    const { c, calls } = client(Array.from({ length: 9 }, () => json(200, {})));
    await c.startTraining(7);
    await c.trainingRuns(7);
    await c.trainingRun(4);
    await c.cancelTraining(4);
    await c.modelRegistry(7);
    await c.promoteVersion(3);
    await c.rollbackModel(7);
    await c.acceptance(7);
    await c.rescoreJobs(7);
    expect(calls.map((x) => `${x.method} ${x.url}`)).toEqual([
      "POST /api/v1/projects/7/training-runs",
      "GET /api/v1/projects/7/training-runs",
      "GET /api/v1/training-runs/4",
      "POST /api/v1/training-runs/4/cancel",
      "GET /api/v1/projects/7/model-versions",
      "POST /api/v1/model-versions/3/promote",
      "POST /api/v1/projects/7/model-versions/rollback",
      "GET /api/v1/projects/7/acceptance",
      "GET /api/v1/projects/7/rescore-jobs",
    ]);
  });

  it("calls the issue-9 endpoints: taxonomy (dry run or save), contribution, base update, rebase", async () => {
    const { c, calls } = client(Array.from({ length: 6 }, () => json(200, {})));
    await c.taxonomy(7);
    await c.putTaxonomy(7, { 3: "", 4: "item" }, true);
    await c.putTaxonomy(7, { 3: "" }, false);
    await c.contribution(7);
    await c.baseUpdate(7);
    await c.rebase(7);
    expect(calls.map((x) => `${x.method} ${x.url}`)).toEqual([
      "GET /api/v1/projects/7/taxonomy",
      "PUT /api/v1/projects/7/taxonomy",
      "PUT /api/v1/projects/7/taxonomy",
      "GET /api/v1/projects/7/contribution",
      "GET /api/v1/projects/7/base-update",
      "POST /api/v1/projects/7/rebase",
    ]);
    expect(calls[1].body).toEqual({ mapping: { 3: "", 4: "item" }, dry_run: true });
    expect(calls[2].body).toEqual({ mapping: { 3: "" }, dry_run: false });
  });

  it("PATCHes settings and surfaces the error shape", async () => {
    const { c, calls } = client([json(400, { error: { code: "invalid", message: "bad", field: "retrain_threshold" } })]);
    const err = await c.updateProject(7, { retrain_threshold: 0 }).catch((e) => e);
    expect(calls[0]).toEqual({ url: "/api/v1/projects/7", method: "PATCH", body: { retrain_threshold: 0 } });
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, field: "retrain_threshold", message: "bad" });
  });
});
