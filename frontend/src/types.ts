// Shapes of the REST API (/api/v1/). Coordinates are image pixels, x right, y down.

export type Point = [number, number];
/** A ring of ≥3 points, closed implicitly (last point connects to the first). */
export type Ring = Point[];
/** One polygon: exterior ring followed by zero or more hole rings. */
export type Polygon = Ring[];
/** A MultiPolygon: one or more polygons. */
export type Shape = Polygon[];

export type Role = "admin" | "reviewer" | "annotator";
export type Source = "manual" | "model" | "sam";
export type ImageStatus = "new" | "pre_labeled" | "in_progress" | "submitted" | "accepted" | "rejected";

export type StatusCounts = Record<ImageStatus, number>;

export interface Me {
  id: number;
  username: string;
  is_staff: boolean;
  /** Staff, or a member of the group the server's settings name. */
  can_create_projects: boolean;
}

export interface ProjectSummary {
  id: number;
  name: string;
  slug: string;
  role: Role;
  counts: StatusCounts;
}

export interface Category {
  id: number;
  name: string;
  color: string;
  export_id: number;
  /** Place in the palette (keys 1-9); reordering never changes export_id. */
  position?: number;
  universal_name?: string;
}

export interface Project {
  id: number;
  name: string;
  slug: string;
  role: Role;
  settings: Record<string, unknown>;
  categories: Category[];
}

export interface JobProgress {
  done: number;
  total: number;
}

export interface TrainingRun {
  id: number;
  status: string;
  /** Percent, 0–100 (every job row reports progress this way). */
  progress: number;
  message: string;
  epoch?: number | null;
  epochs?: number | null;
  loss?: number | null;
  eta_seconds?: number | null;
}

export interface ExportJob {
  id: number;
  status: string;
  /** Percent, 0–100. */
  progress: number;
  download_url: string | null;
  message?: string;
  options?: Record<string, unknown>;
  created_at?: string;
}

export interface ModelInfo {
  id: number;
  name: string;
  metrics: Record<string, number | null>;
}

export interface ProjectStats {
  counts: StatusCounts;
  jobs: {
    embedding: JobProgress;
    prelabel: JobProgress;
    training: TrainingRun | null;
    export: ExportJob | null;
  };
  active_model: ModelInfo | null;
  prompt_engine: string;
}

export interface Lease {
  user: string | number;
  expires_at: string;
}

export interface ImageRecord {
  id: number;
  project: number;
  name: string;
  width: number;
  height: number;
  status: ImageStatus;
  split: string | null;
  version: number;
  uncertainty: number | null;
  file_url: string;
  thumbnail_url: string | null;
  lease: Lease | null;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface UploadResult {
  created: { id: number; name: string }[];
  duplicates: { file: string; existing_id: number }[];
  rejected: { file: string; code: string; reason: string }[];
}

export interface Annotation {
  id?: number;
  category: number;
  shape: Shape;
  source: Source;
  score: number | null;
  bbox?: [number, number, number, number];
  area?: number;
}

export interface AnnotationSet {
  version: number;
  annotations: Annotation[];
}

export interface Rejection {
  comment: string;
  by: string | null;
  at: string;
}

/** GET /images/{id}/review: who submitted it last, and the rejection to act on until it is submitted again. */
export interface ReviewState {
  submitted_by: string | null;
  rejection: Rejection | null;
}

/** GET /projects/{id}/rejections: an image's open rejection. */
export interface ImageRejection extends Rejection {
  image: number;
}

/** What the queue hands out: the image, and the rejection the annotator must act on. */
export interface QueuedImage extends ImageRecord {
  rejection: Rejection | null;
}

/** GET /images/{id}/prelabels: whether the model's pre-labels are still to come. */
export interface PrelabelState {
  state: "pending" | "ready" | "none";
  version: number;
  shown_as: "prelabel" | "suggest" | "" | null;
  instances: number;
}

/** GET /projects/{id}/prompt-engine: the engine the click tool runs, and why. */
export interface PromptEngineInfo {
  engine: "sam" | "offline" | "grabcut";
  label: string;
  reason: string;
}

export interface AnnotationInput {
  category: number;
  shape: Shape;
  source: Source;
  score: number | null;
}

export interface Prediction {
  model_version: string | number | null;
  instances: { category: number; shape: Shape; score: number }[];
  uncertainty: number | null;
}

export interface Revision {
  id: number;
  action: string;
  author: string | number | null;
  created_at: string;
  version: number;
}

export interface SegmentRequest {
  points: Point[];
  labels: (0 | 1)[];
  box: [number, number, number, number] | null;
  mask_shape: Shape | null;
}

export type SegmentResult =
  | { status: "done"; shape: Shape; score: number; engine: string; vertex_count: number }
  | { status: "embedding"; progress: number }; // progress in percent, 0–100

// --- the learning loop (issue 6): training runs, the model registry, acceptance, re-scoring ---

export type JobStatus = "pending" | "running" | "succeeded" | "failed" | "cancelled";
export type ModelStatus = "training" | "ready" | "failed" | "promoted" | "archived";
export type QueueStrategy = "uncertainty+diversity" | "uncertainty" | "random" | "fifo";

/** A registry row; `project` is null for universal base versions. */
export interface ModelVersion {
  id: number;
  project: number | null;
  parent: number | null;
  name: string;
  status: ModelStatus;
  /** mask_ap etc. on the project's val split; `error` when the run failed. */
  metrics: { mask_ap?: number | null; error?: string; [k: string]: unknown };
  data_summary: Record<string, unknown>;
  created_at: string;
  promoted_at: string | null;
}

export interface TrainingRunDetail extends TrainingRun {
  project: number | null;
  status: JobStatus;
  trigger: string;
  base_version: number | null;
  result_version: ModelVersion | null;
  report: { decision?: string; reason?: string; [k: string]: unknown };
  requested_by: string | null;
  cancel_requested: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface ModelRegistry {
  /** The project's active model (the base when it has none of its own). */
  active: ModelVersion | null;
  base: ModelVersion | null;
  versions: ModelVersion[];
  accepted_since_last_run: number;
  retrain_threshold: number;
  /** Accepted images per split against the minimums a run needs; `reason` says why a run cannot start. */
  training_data?: TrainingData;
}

export interface TrainingData {
  train: number;
  val: number;
  min_train: number;
  min_val: number;
  ready: boolean;
  reason: string | null;
}

export interface AcceptanceRow {
  model_version: number;
  name: string;
  status: ModelStatus | null;
  created_at?: string | null;
  images: number;
  pre_labels: number;
  /** Mean IoU between pre-labels and the accepted shapes, 0–1. */
  mean_iou: number;
  /** Share of pre-labels accepted unchanged, 0–1; null without pre-labels. */
  unchanged_share: number | null;
}

export interface BatchJob {
  id: number;
  kind: string;
  status: JobStatus;
  /** Percent, 0–100. */
  progress: number;
  done: number;
  total: number;
  message: string;
  created_at: string;
  finished_at: string | null;
}

export interface PromotionResult {
  active: ModelVersion | null;
  rescore: BatchJob | null;
}

export interface ProjectSettingsInput {
  retrain_threshold?: number;
  queue_strategy?: QueueStrategy;
  contribute_to_universal?: boolean;
  annotators_can_upload?: boolean;
}

// --- the fleet loop (issue 9): taxonomy mapping, contribution, a newer base, rebase ---

/** The effect of a taxonomy mapping; the same shape for the saved mapping and a dry run. */
export interface TaxonomyPreview {
  universal_names: string[];
  /** false for a dry run. */
  saved: boolean;
  categories: { category: number; name: string; universal_name: string; changed: boolean; accepted_train: number; accepted_val: number }[];
  universal: Record<string, { train: number; val: number; categories: string[] }>;
  project_only: { category: number; name: string; accepted_annotations: number }[];
  contributes: boolean;
  annotations_contributed: number;
  annotations_left_out: number;
}

export interface Contribution {
  contribute: boolean;
  changed_by: string | null;
  changed_at: string | null;
  used_by_base_versions: { id: number; name: string; images: number }[];
  next_run_images: number;
}

export interface BaseUpdate {
  available: boolean;
  base: { id: number; name: string; promoted_at: string | null; mask_ap_on_your_val: number | null; val_images: number | null } | null;
  current?: { id: number; name: string; mask_ap_on_your_val: number | null } | null;
  on_base?: string | null;
}

// --- the trust gate (issue 28): pre-labels or suggestions, per project and model version ---

export type GateMode = "prelabel" | "suggest";

/** One of the active model's shapes for an image (`index` in its prediction). */
export interface Suggestion {
  index: number;
  category: number;
  shape: Shape;
  score: number;
}

export interface ImageSuggestions {
  model_version: { id: number; name: string } | null;
  /** How the gate shows the model's shapes on this project now (pins applied). */
  mode: GateMode;
  /** Shapes scoring at least this are shown; null: none is worth showing. */
  threshold: number | null;
  pinned: boolean;
  /** Best first. */
  instances: Suggestion[];
  /** Indexes an annotator rejected (on any visit): not offered again. Absent from older servers. */
  rejected?: number[];
}

export interface GateCurvePoint {
  threshold: number;
  precision: number | null;
  recall: number | null;
  prelabel_seconds_saved: number | null;
  suggest_seconds_saved: number | null;
}

/** What the gate learned for one model version on the project. */
export interface GateFigures {
  model_version: { id: number; name: string; status: ModelStatus };
  mode: GateMode;
  threshold: number | null;
  precision: number | null;
  recall: number | null;
  seconds_saved_per_image: number | null;
  reviewed_images: number;
  /** The gate's plain sentence. */
  reason: string;
  /** false: too few reviewed images, the checkpoint's default applies. */
  learned: boolean;
  curve: GateCurvePoint[];
  /** null: not computed yet; the figures are the checkpoint's default while the gate is being learned. */
  computed_at: string | null;
  /** The active version only: what applies after the admin's pins. */
  applied?: { mode: GateMode; threshold: number | null; pinned: boolean };
}

export interface GatePin {
  mode: GateMode | null;
  threshold: number | null;
  changed_by: string | null;
  changed_at: string | null;
}

export interface TrustGate {
  active: GateFigures | null;
  versions: GateFigures[];
  pin: GatePin;
  min_reviewed: number;
}

export interface GatePinInput {
  pinned_mode?: GateMode | null;
  pinned_threshold?: number | null;
}

// --- project set-up ---
export interface CategoryInput {
  name: string;
  color?: string;
  order?: number;
}

export interface Member {
  username: string;
  role: Role;
}

export interface ProjectCreateInput {
  name: string;
  description?: string;
  categories?: CategoryInput[];
  members?: Member[];
}

export interface ExportOptions {
  segmentation: "polygons" | "rle";
  include_images: boolean;
  status: ImageStatus[];
  split?: "train" | "val" | "unassigned" | null;
}

// --- find any image ---
export interface ImageRow extends ImageRecord {
  has_pre_labels: boolean;
  /** A reviewer rejected it at least once. */
  rejected: boolean;
}

export interface ImageNeighbours {
  previous: number | null;
  next: number | null;
  /** 1-based place in the list; null when the image no longer matches the filter. */
  position: number | null;
  count: number;
}
