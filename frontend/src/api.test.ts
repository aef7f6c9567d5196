import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, ApiError, csrfToken } from "./api";
import { AutoSaver, type SaveStatus } from "./autosave";
import { createEditor, moveInstance, isDirty, Store, type EditorState } from "./store";
import type { AnnotationSet, Shape } from "./types";

const json = (status: number, body: unknown) => new Response(body === null ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function client(responses: Response[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const onUnauthenticated = vi.fn();
  const c = new ApiClient({
    fetch: (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return responses.shift()!;
    }) as unknown as typeof fetch,
    onUnauthenticated,
  });
  return { c, calls, onUnauthenticated };
}

describe("api client", () => {
  it("reads the CSRF cookie", () => {
    expect(csrfToken("a=1; csrftoken=abc%3D; b=2")).toBe("abc=");
    expect(csrfToken("")).toBe("");
  });

  it("turns the error body into an ApiError with extras", async () => {
    const { c, calls } = client([json(409, { error: { code: "version_conflict", message: "stale", field: "expected_version", current_version: 5 } })]);
    const err = await c.saveAnnotations(1, 3, []).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: "version_conflict", field: "expected_version", extra: { current_version: 5 } });
    expect(err.isConflict).toBe(true);
    expect(calls[0].url).toBe("/api/v1/images/1/annotations");
    expect(calls[0].init.method).toBe("PUT");
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ expected_version: 3, annotations: [] });
  });

  it("maps 204 from the queue to null and 202 from segment to embedding", async () => {
    const { c } = client([new Response(null, { status: 204 }), json(202, { status: "embedding", progress: 0.4 }), json(200, { shape: [], score: 0.5, engine: "offline", vertex_count: 0 })]);
    expect(await c.queueNext(1)).toBeNull();
    expect(await c.segment(1, { points: [[1, 1]], labels: [1], box: null, mask_shape: null })).toEqual({ status: "embedding", progress: 0.4 });
    expect((await c.segment(1, { points: [[1, 1]], labels: [1], box: null, mask_shape: null })).status).toBe("done");
  });

  it("treats a missing prediction as null and sends anonymous users to log in", async () => {
    const { c, onUnauthenticated } = client([json(404, { error: { code: "not_found", message: "none", field: null } }), json(403, { error: { code: "not_authenticated", message: "log in", field: null } })]);
    expect(await c.prediction(3)).toBeNull();
    await expect(c.me()).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthenticated).toHaveBeenCalledOnce();
  });
});

describe("autosave", () => {
  afterEach(() => vi.useRealTimers());
  const sq: Shape = [[[[0, 0], [10, 0], [10, 10], [0, 10]]]];

  function setup(save: (v: number) => Promise<AnnotationSet>) {
    const store = new Store<EditorState>(createEditor({ imageId: 1, width: 100, height: 100, version: 2, annotations: [{ category: 1, shape: sq, source: "manual", score: null }], activeCategory: 1 }));
    const statuses: SaveStatus[] = [];
    const backend = { saveAnnotations: vi.fn((_id: number, v: number) => save(v)) };
    const saver = new AutoSaver(store, backend, (s) => statuses.push(s), 1000);
    return { store, statuses, backend, saver };
  }

  it("debounces edits into one PUT with expected_version", async () => {
    vi.useFakeTimers();
    const { store, backend, statuses } = setup(async (v) => ({ version: v + 1, annotations: [] }));
    for (let i = 0; i < 5; i++) store.dispatch((s) => moveInstance(s, "k1", 1, 0));
    expect(backend.saveAnnotations).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1100);
    expect(backend.saveAnnotations).toHaveBeenCalledOnce();
    expect(backend.saveAnnotations.mock.calls[0][1]).toBe(2);
    expect(store.state.version).toBe(3);
    expect(isDirty(store.state)).toBe(false);
    expect(statuses.at(-1)).toEqual({ kind: "saved" });
  });

  it("stops on a conflict and keeps the edits", async () => {
    const { store, saver, statuses, backend } = setup(async () => {
      throw new ApiError(409, "version_conflict", "stale", "expected_version", { current_version: 7 });
    });
    store.dispatch((s) => moveInstance(s, "k1", 1, 0));
    expect(await saver.flush()).toBe(false);
    expect(statuses.at(-1)).toEqual({ kind: "conflict", currentVersion: 7, message: "stale", preLabelOnly: false });
    expect(isDirty(store.state)).toBe(true);
    store.dispatch((s) => moveInstance(s, "k1", 1, 0));
    expect(await saver.flush()).toBe(false);
    expect(backend.saveAnnotations).toHaveBeenCalledOnce();
    saver.dispose();
  });

  it("says when the conflict is only the model's pre-labels landing", async () => {
    const { store, saver, statuses } = setup(async () => {
      throw new ApiError(409, "version_conflict", "pre-labels", "expected_version", { current_version: 3, pre_label_only: true });
    });
    store.dispatch((s) => moveInstance(s, "k1", 1, 0));
    expect(await saver.flush()).toBe(false);
    expect(statuses.at(-1)).toEqual({ kind: "conflict", currentVersion: 3, message: "pre-labels", preLabelOnly: true });
    saver.dispose();
  });
});
