import type { ImageStatus } from "../types";

export const STATUS_LABELS: Record<ImageStatus, string> = {
  new: "New",
  pre_labeled: "Pre-labelled",
  in_progress: "In progress",
  submitted: "Submitted",
  accepted: "Accepted",
  rejected: "Rejected",
};
