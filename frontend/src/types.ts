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
