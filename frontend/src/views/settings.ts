// Project settings for admins: queue strategy, retrain threshold, contribution to the universal base.

import { api } from "../api";
import { errorText, h } from "../dom";
import { formatUtc } from "../learning/registry";
import { QUEUE_STRATEGIES, contributionNote, loopSettingsFrom, settingsChanges, type LoopSettings } from "../learning/settings";
import type { Project } from "../types";
import { taxonomyEditor } from "./taxonomy";

export interface SettingsPanel {
  element: HTMLElement;
}

export function settingsPanel(project: Project): SettingsPanel {
  let saved: LoopSettings = loopSettingsFrom(project.settings);
  const strategy = h(
    "select",
    { id: "setting-queue-strategy", name: "queue_strategy", "data-testid": "setting-queue-strategy" },
    QUEUE_STRATEGIES.map((s) => h("option", { value: s.value }, s.label)),
  );
  const threshold = h("input", { id: "setting-retrain-threshold", name: "retrain_threshold", type: "number", min: 1, step: 1, "data-testid": "setting-retrain-threshold" });
  const contribute = h("input", { id: "setting-contribute", name: "contribute_to_universal", type: "checkbox", "data-testid": "setting-contribute" });
  const uploaders = h("input", { id: "setting-annotators-upload", name: "annotators_can_upload", type: "checkbox", "data-testid": "setting-annotators-upload" });
  const contributionEl = h("div", { class: "muted small", "data-testid": "contribution-note" });
  const status = h("div", { role: "status", class: "small", "data-testid": "settings-status" });
  const save = h("button", { type: "submit", class: "primary", "data-testid": "settings-save" }, "Save settings");

  const fill = () => {
    strategy.value = saved.queue_strategy;
    threshold.value = String(saved.retrain_threshold);
    contribute.checked = saved.contribute_to_universal;
    uploaders.checked = saved.annotators_can_upload;
    contributionEl.textContent = contributionNote(saved, formatUtc);
    void loadContribution();
  };

  // Who changed the opt-in and when comes from the contribution endpoint (the project's settings lack it).
  async function loadContribution(): Promise<void> {
    try {
      const c = await api.contribution(project.id);
      saved = { ...saved, contribution_changed_by: c.changed_by, contribution_changed_at: c.changed_at };
      const used = c.used_by_base_versions.map((v) => `${v.name} (${v.images} images)`).join(", ");
      contributionEl.textContent = [contributionNote(saved, (t) => `${formatUtc(t)} UTC`), used ? `Used by ${used}.` : "", c.contribute ? `${c.next_run_images} image(s) go into the next base run.` : ""].filter(Boolean).join(" ");
    } catch {
      // Older servers: the note stays as the settings gave it.
    }
  }

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    const changes = settingsChanges(saved, { queue_strategy: strategy.value, retrain_threshold: threshold.value, contribute_to_universal: contribute.checked, annotators_can_upload: uploaders.checked });
    if (!Object.keys(changes).length) {
      status.textContent = "Nothing changed.";
      return;
    }
    save.disabled = true;
    status.className = "small";
    status.textContent = "Saving…";
    try {
      const updated = await api.updateProject(project.id, changes);
      saved = loopSettingsFrom(updated.settings);
      fill();
      status.textContent = "Saved.";
    } catch (err) {
      status.className = "small error";
      status.textContent = `Not saved: ${errorText(err)}`;
    } finally {
      save.disabled = false;
    }
  };

  fill();
  const element = h(
    "section",
    { class: "card settings", "aria-labelledby": "settings-title" },
    h("h2", { id: "settings-title" }, "Project settings"),
    h(
      "form",
      // novalidate: the server validates and names the field; its message is what the admin reads.
      { class: "settings-form", novalidate: true, onsubmit: (e: Event) => void onSubmit(e), "data-testid": "settings-form" },
      h("label", { for: "setting-queue-strategy" }, "Queue strategy"),
      strategy,
      h("label", { for: "setting-retrain-threshold" }, "Retrain after this many newly accepted images"),
      threshold,
      h("label", { class: "check" }, contribute, " Contribute accepted annotations to the universal model"),
      contributionEl,
      h("label", { class: "check" }, uploaders, " Annotators may upload images"),
      h("div", { class: "actions" }, save, status),
    ),
    taxonomyEditor(project.id),
  );
  return { element };
}
