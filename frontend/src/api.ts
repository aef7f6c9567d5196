// Every network call the UI makes, with typed answers. Session cookie auth; unsafe
// methods carry the CSRF token from the `csrftoken` cookie.

import type {
  AcceptanceRow,
  AnnotationInput,
  BaseUpdate,
  BatchJob,
  Contribution,
  ModelRegistry,
  ProjectSettingsInput,
  PromotionResult,
  TaxonomyPreview,
  TrainingRunDetail,
  AnnotationSet,
  ExportJob,
  GatePinInput,
  ImageRecord,
  ImageSuggestions,
  ImageStatus,
  ImageNeighbours,
  ImageRow,
  Member,
  CategoryInput,
  Category,
  ExportOptions,
  ProjectCreateInput,
  Me,
  Page,
  Prediction,
  PrelabelState,
  Project,
  ImageRejection,
  PromptEngineInfo,
  QueuedImage,
  ReviewState,
  ProjectStats,
  ProjectSummary,
  Revision,
  SegmentRequest,
  SegmentResult,
  TrustGate,
  UploadResult,
} from "./types";
import { filterToQuery, type ImageFilter } from "./images/filter";

export const API_ROOT = "/api/v1";

/** A 4xx/5xx answer, carrying the `{"error": {...}}` body when the server sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  get isConflict(): boolean {
    return this.status === 409;
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }
}

export function csrfToken(cookie: string = typeof document === "undefined" ? "" : document.cookie): string {
  for (const part of cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === "csrftoken") return decodeURIComponent(v.join("="));
  }
  return "";
}

export async function errorFrom(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (e.g. a proxy's HTML page): fall back to the status text.
  }
  const err = (body as { error?: Record<string, unknown> } | null)?.error;
  if (err && typeof err === "object") {
    const { code, message, field, ...extra } = err;
    return new ApiError(res.status, String(code ?? "error"), String(message ?? res.statusText), (field as string) ?? null, extra);
  }
  const detail = (body as { detail?: string } | null)?.detail;
  return new ApiError(res.status, `http_${res.status}`, detail ?? (res.statusText || `HTTP ${res.status}`));
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Transport {
  fetch: typeof fetch;
  /** Called on 401/403 for an anonymous session; the default sends the browser to the login page. */
  onUnauthenticated: () => void;
}

const defaultTransport: Transport = {
  fetch: (...args) => fetch(...args),
  onUnauthenticated: () => {
    const next = encodeURIComponent(location.pathname + location.hash);
    location.href = `/accounts/login/?next=${next}`;
  },
};

export class ApiClient {
  constructor(private transport: Transport = defaultTransport) {}

  private async raw(method: Method, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    const res = await this.transport.fetch(`${API_ROOT}${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      ...init,
    });
    if (!res.ok) {
      const err = await errorFrom(res);
      // DRF answers an anonymous session with 403 not_authenticated (401 with other auth classes).
      if (res.status === 401 || err.code === "not_authenticated") this.transport.onUnauthenticated();
      throw err;
    }
    return res;
  }

  private async json<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    return (await res.json()) as T;
  }

  me(): Promise<Me> {
    return this.json("GET", "/me");
  }

  // --- projects ---
  listProjects(): Promise<ProjectSummary[]> {
    return this.json("GET", "/projects");
  }

  createProject(name: string): Promise<ProjectSummary> {
    return this.json("POST", "/projects", { name });
  }

  project(id: number): Promise<Project> {
    return this.json("GET", `/projects/${id}`);
  }

  stats(projectId: number): Promise<ProjectStats> {
    return this.json("GET", `/projects/${projectId}/stats`);
  }

  listImages(projectId: number, filter: { status?: ImageStatus; split?: string; page?: number } = {}): Promise<Page<ImageRecord>> {
    const q = new URLSearchParams();
    if (filter.status) q.set("status", filter.status);
    if (filter.split) q.set("split", filter.split);
    if (filter.page) q.set("page", String(filter.page));
    const qs = q.toString();
    return this.json("GET", `/projects/${projectId}/images${qs ? `?${qs}` : ""}`);
  }

  /** Multipart upload (field `files`, images or .zip) with progress in [0, 1]. */
  upload(projectId: number, files: File[], onProgress: (fraction: number) => void): Promise<UploadResult> {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const f of files) form.append("files", f, f.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${API_ROOT}/projects/${projectId}/images`);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onerror = () => reject(new ApiError(0, "network", "Upload failed: network error"));
      xhr.onload = () => {
        const res = new Response(xhr.responseText, { status: xhr.status, headers: { "Content-Type": "application/json" } });
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(1);
          res.json().then((d) => resolve(d as UploadResult), reject);
        } else {
          errorFrom(res).then(reject, reject);
        }
      };
      xhr.send(form);
    });
  }

  // --- queue and leases ---
  /** Claim the next image of the queue; null when nothing is left. */
  async queueNext(projectId: number): Promise<QueuedImage | null> {
    const res = await this.raw("POST", `/projects/${projectId}/queue/next`);
    if (res.status === 204) return null;
    return (await res.json()) as QueuedImage;
  }

  renewLease(imageId: number): Promise<ImageRecord> {
    return this.json("POST", `/images/${imageId}/lease`);
  }

  /** Release the lease; keepalive so it still goes out while the page unloads. */
  async releaseLease(imageId: number): Promise<void> {
    await this.transport.fetch(`${API_ROOT}/images/${imageId}/lease`, {
      method: "DELETE",
      headers: { "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
      keepalive: true,
    });
  }

  // --- images and annotations ---
  image(id: number): Promise<ImageRecord> {
    return this.json("GET", `/images/${id}`);
  }

  annotations(imageId: number): Promise<AnnotationSet> {
    return this.json("GET", `/images/${imageId}/annotations`);
  }

  /** Replace the image's set; a 409 ApiError carries `extra.current_version`. */
  saveAnnotations(imageId: number, expectedVersion: number, annotations: AnnotationInput[], keepalive = false): Promise<AnnotationSet> {
    if (keepalive) {
      return this.raw("PUT", `/images/${imageId}/annotations`, { expected_version: expectedVersion, annotations }, { keepalive: true }).then(
        (r) => r.json() as Promise<AnnotationSet>,
      );
    }
    return this.json("PUT", `/images/${imageId}/annotations`, { expected_version: expectedVersion, annotations });
  }

  submit(imageId: number, expectedVersion: number): Promise<ImageRecord> {
    return this.json("POST", `/images/${imageId}/submit`, { expected_version: expectedVersion });
  }

  review(imageId: number, decision: "accept" | "reject", comment: string): Promise<ImageRecord> {
    return this.json("POST", `/images/${imageId}/review`, { decision, comment });
  }

  /** The open rejections of the project's images (rejected, or back in work), for list rows. */
  rejections(projectId: number): Promise<ImageRejection[]> {
    return this.json("GET", `/projects/${projectId}/rejections`);
  }

  /** Who submitted the image last, and the open rejection its annotator has to act on. */
  reviewState(imageId: number): Promise<ReviewState> {
    return this.json("GET", `/images/${imageId}/review`);
  }

  /** A reviewer's small fixes saved as a revision, then accepted, in one request (one transaction). */
  fixAndAccept(imageId: number, expectedVersion: number, annotations: AnnotationInput[], comment = ""): Promise<ImageRecord> {
    return this.json("POST", `/images/${imageId}/fix-and-accept`, { expected_version: expectedVersion, annotations, comment });
  }

  /** Whether the image's model pre-labels are pending, ready or not coming. */
  prelabelState(imageId: number): Promise<PrelabelState> {
    return this.json("GET", `/images/${imageId}/prelabels`);
  }

  /** Which prompt engine the click tool runs for the project, and why. */
  promptEngine(projectId: number): Promise<PromptEngineInfo> {
    return this.json("GET", `/projects/${projectId}/prompt-engine`);
  }

  /** The model prediction the image was pre-labelled from; null when there is none. */
  async prediction(imageId: number): Promise<Prediction | null> {
    try {
      return await this.json<Prediction>("GET", `/images/${imageId}/prediction`);
    } catch (e) {
      if (e instanceof ApiError && e.isNotFound) return null;
      throw e;
    }
  }

  revisions(imageId: number): Promise<Revision[]> {
    return this.json("GET", `/images/${imageId}/revisions`);
  }

  /** Prompt segmentation; `embedding` means poll again shortly. */
  async segment(imageId: number, req: SegmentRequest): Promise<SegmentResult> {
    const res = await this.raw("POST", `/images/${imageId}/segment`, req);
    const body = await res.json();
    if (res.status === 202) return { status: "embedding", progress: Number(body.progress ?? 0) };
    return { status: "done", ...body };
  }

  // --- exports and training ---
  /** Start a COCO export (reviewers and admins); the server's defaults pick which images. */
  startExport(projectId: number, options: { kind?: "instances" | "predictions"; segmentation?: "polygons" | "rle"; include_images?: boolean } = {}): Promise<ExportJob> {
    return this.json("POST", `/projects/${projectId}/exports`, { format: "coco", kind: "instances", segmentation: "polygons", ...options });
  }

  exportJob(id: number): Promise<ExportJob> {
    return this.json("GET", `/exports/${id}`);
  }

  startTraining(projectId: number): Promise<TrainingRunDetail> {
    return this.json("POST", `/projects/${projectId}/training-runs`, {});
  }

  // --- the learning loop: runs, registry, acceptance, re-scoring, settings ---
  /** The project's runs, newest first (at most 50). */
  trainingRuns(projectId: number): Promise<TrainingRunDetail[]> {
    return this.json("GET", `/projects/${projectId}/training-runs`);
  }

  trainingRun(runId: number): Promise<TrainingRunDetail> {
    return this.json("GET", `/training-runs/${runId}`);
  }

  cancelTraining(runId: number): Promise<TrainingRunDetail> {
    return this.json("POST", `/training-runs/${runId}/cancel`);
  }

  modelRegistry(projectId: number): Promise<ModelRegistry> {
    return this.json("GET", `/projects/${projectId}/model-versions`);
  }

  /** A version worse on val than the active one is refused (409 `worse_than_active`, both figures in
   * `extra`) unless `confirmWorse`. */
  promoteVersion(versionId: number, confirmWorse = false): Promise<PromotionResult> {
    return this.json("POST", `/model-versions/${versionId}/promote`, confirmWorse ? { confirm_worse: true } : undefined);
  }

  rollbackModel(projectId: number): Promise<PromotionResult> {
    return this.json("POST", `/projects/${projectId}/model-versions/rollback`);
  }

  acceptance(projectId: number): Promise<AcceptanceRow[]> {
    return this.json("GET", `/projects/${projectId}/acceptance`);
  }

  /** Re-scoring jobs after promotions/rollbacks, newest first. */
  rescoreJobs(projectId: number): Promise<BatchJob[]> {
    return this.json("GET", `/projects/${projectId}/rescore-jobs`);
  }

  updateProject(projectId: number, changes: ProjectSettingsInput): Promise<Project> {
    return this.json("PATCH", `/projects/${projectId}`, changes);
  }

  // --- project set-up: create with categories and members; edit them on the project page ---
  /** One atomic create; a bad entry is an ApiError whose field names it (e.g. "categories[1].color"). */
  createProjectWithSetup(input: ProjectCreateInput): Promise<Project> {
    return this.json("POST", "/projects", input);
  }

  members(projectId: number): Promise<Member[]> {
    return this.json("GET", `/projects/${projectId}/members`);
  }

  /** Add a member (or set the role of one). */
  addMember(projectId: number, member: Member): Promise<Member> {
    return this.json("POST", `/projects/${projectId}/members`, member);
  }

  changeMemberRole(projectId: number, username: string, role: Member["role"]): Promise<Member> {
    return this.json("PATCH", `/projects/${projectId}/members/${encodeURIComponent(username)}`, { role });
  }

  async removeMember(projectId: number, username: string): Promise<void> {
    await this.raw("DELETE", `/projects/${projectId}/members/${encodeURIComponent(username)}`);
  }

  addCategory(projectId: number, input: CategoryInput): Promise<Category> {
    return this.json("POST", `/projects/${projectId}/categories`, { name: input.name, ...(input.color ? { color: input.color } : {}) });
  }

  updateCategory(projectId: number, categoryId: number, changes: { name?: string; color?: string }): Promise<Category> {
    return this.json("PATCH", `/projects/${projectId}/categories/${categoryId}`, changes);
  }

  /** Refused with a 409 `category_in_use` while shapes use it. */
  async deleteCategory(projectId: number, categoryId: number): Promise<void> {
    await this.raw("DELETE", `/projects/${projectId}/categories/${categoryId}`);
  }

  reorderCategories(projectId: number, order: number[]): Promise<Category[]> {
    return this.json("PUT", `/projects/${projectId}/categories/order`, { order });
  }

  // --- find any image ---
  searchImages(projectId: number, filter: ImageFilter, page = 1, pageSize = 24): Promise<Page<ImageRow>> {
    const q = filterToQuery(filter, page);
    return this.json("GET", `/projects/${projectId}/images/search?${q}${q ? "&" : ""}page_size=${pageSize}`);
  }

  /** The images before and after this one in the filtered list. */
  neighbours(imageId: number, filter: ImageFilter): Promise<ImageNeighbours> {
    return this.json("GET", `/images/${imageId}/neighbours?${filterToQuery(filter)}`);
  }

  // --- exports with options ---
  exports(projectId: number): Promise<ExportJob[]> {
    return this.json("GET", `/projects/${projectId}/exports`);
  }

  startExportWith(projectId: number, options: ExportOptions): Promise<ExportJob> {
    return this.json("POST", `/projects/${projectId}/exports`, { kind: "instances", ...options });
  }

  // --- the trust gate: pre-labels or suggestions ---
  trustGate(projectId: number): Promise<TrustGate> {
    return this.json("GET", `/projects/${projectId}/trust-gate`);
  }

  /** Pin the mode and/or the threshold (null unpins: the gate decides); admins only. */
  pinTrustGate(projectId: number, changes: GatePinInput): Promise<TrustGate> {
    return this.json("PATCH", `/projects/${projectId}/trust-gate`, changes);
  }

  /** The active model's shapes for the image and how the gate shows them. */
  suggestions(imageId: number): Promise<ImageSuggestions> {
    return this.json("GET", `/images/${imageId}/suggestions`);
  }

  /** Reject one suggestion (its prediction index): the server remembers it, the annotation set is untouched. */
  rejectSuggestion(imageId: number, index: number): Promise<ImageSuggestions> {
    return this.json("POST", `/images/${imageId}/suggestions/rejected`, { index });
  }

  // --- the fleet loop: taxonomy, contribution, newer base, rebase ---
  taxonomy(projectId: number): Promise<TaxonomyPreview> {
    return this.json("GET", `/projects/${projectId}/taxonomy`);
  }

  /** Category id → universal class ('' = project-only); `dryRun` shows the effect without saving. */
  putTaxonomy(projectId: number, mapping: Record<number, string>, dryRun: boolean): Promise<TaxonomyPreview> {
    return this.json("PUT", `/projects/${projectId}/taxonomy`, { mapping, dry_run: dryRun });
  }

  contribution(projectId: number): Promise<Contribution> {
    return this.json("GET", `/projects/${projectId}/contribution`);
  }

  baseUpdate(projectId: number): Promise<BaseUpdate> {
    return this.json("GET", `/projects/${projectId}/base-update`);
  }

  /** Fine-tune the project from the newest base: a project training run (202). */
  rebase(projectId: number): Promise<TrainingRunDetail> {
    return this.json("POST", `/projects/${projectId}/rebase`);
  }
}

export const api = new ApiClient();
