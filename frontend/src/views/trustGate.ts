// The dashboard's trust gate card (issue 28): per model version, pre-labels or suggestions, the
// threshold, precision, recall, seconds saved per image, the reviewed images and the gate's sentence.
// Admins get the pin form in the project settings (pinForm below).

import { api } from "../api";
import { append, clear, errorText, h } from "../dom";
import { gateRows, pinChanges, pinForm, pinnedNote } from "../learning/trustGate";
import type { TrustGate } from "../types";

export interface TrustGateCard {
  element: HTMLElement;
  refresh(): Promise<void>;
}

export function trustGateCard(projectId: number): TrustGateCard {
  const body = h("div", { "data-testid": "trust-gate-body" });
  let key = "";

  function render(t: TrustGate): void {
    const rows = gateRows(t);
    const next = JSON.stringify(t);
    if (next === key) return; // polled every few seconds: redraw only on news
    key = next;
    clear(body);
    const active = rows.find((r) => r.active);
    const note = pinnedNote(t);
    append(body, [
      active
        ? h("p", { class: "gate-reason", "data-testid": "trust-gate-reason", "data-mode": active.mode }, h("strong", {}, `${active.modeLabel}: `), active.reason)
        : h("p", { class: "muted" }, "No model yet."),
      note ? h("p", { class: "small", "data-testid": "trust-gate-pinned" }, note) : null,
      rows.length
        ? h(
            "table",
            { class: "image-table gate-table", "data-testid": "trust-gate-table" },
            h("tr", {}, ["Model version", "Mode", "Threshold", "Precision", "Recall", "Seconds saved / image", "Reviewed images"].map((c) => h("th", { scope: "col" }, c))),
            rows.map((r) =>
              h(
                "tr",
                { "data-version-id": r.versionId, "data-mode": r.mode, class: r.active ? "active-version" : "", title: r.reason },
                h("td", {}, r.version, r.active ? h("span", { class: "badge" }, " in use") : null),
                h("td", { "data-testid": r.active ? "trust-gate-mode" : null }, r.modeLabel),
                h("td", {}, r.threshold),
                h("td", {}, r.precision),
                h("td", {}, r.recall),
                h("td", {}, r.secondsSaved),
                h("td", {}, r.reviewed),
              ),
            ),
          )
        : null,
      h("p", { class: "muted small" }, `Learned from the project's accepted images of each version (mask IoU against the accepted shapes); until ${t.min_reviewed} are reviewed the model's calibrated default applies.`),
    ]);
  }

  async function refresh(): Promise<void> {
    try {
      render(await api.trustGate(projectId));
    } catch (e) {
      key = "";
      clear(body);
      body.append(h("p", { class: "error", role: "alert" }, `Could not load the trust gate: ${errorText(e)}`));
    }
  }

  const element = h("section", { class: "card trust-gate", "data-testid": "trust-gate", "aria-labelledby": "trust-gate-title" },
    h("h2", { id: "trust-gate-title" }, "Pre-labels or suggestions"), body);
  return { element, refresh };
}

/** The admin's pin: the mode and/or the threshold the gate would choose, fixed by hand. */
export function trustGatePinForm(projectId: number, onSaved: () => void): HTMLElement {
  const mode = h("select", { id: "setting-gate-mode", name: "pinned_mode", "data-testid": "setting-gate-mode" },
    h("option", { value: "" }, "The gate decides"), h("option", { value: "prelabel" }, "Always pre-labels"), h("option", { value: "suggest" }, "Always suggestions"));
  const threshold = h("input", { id: "setting-gate-threshold", name: "pinned_threshold", type: "text", inputmode: "decimal", placeholder: "the gate decides", "data-testid": "setting-gate-threshold" });
  const status = h("div", { role: "status", class: "small", "data-testid": "gate-pin-status" });
  const save = h("button", { type: "submit", "data-testid": "gate-pin-save" }, "Save pin");

  const fill = (t: TrustGate) => {
    const f = pinForm(t.pin);
    mode.value = f.mode;
    threshold.value = f.threshold;
  };
  void api.trustGate(projectId).then(fill, () => {});

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    save.disabled = true;
    status.className = "small";
    status.textContent = "Saving…";
    try {
      fill(await api.pinTrustGate(projectId, pinChanges({ mode: mode.value, threshold: threshold.value })));
      status.textContent = "Saved. Untouched images follow.";
      onSaved();
    } catch (err) {
      status.className = "small error";
      status.textContent = `Not saved: ${errorText(err)}`;
    } finally {
      save.disabled = false;
    }
  };

  return h("form", { class: "settings-form", novalidate: true, onsubmit: (e: Event) => void onSubmit(e), "data-testid": "gate-pin-form" },
    h("h3", {}, "Pre-labels or suggestions"),
    h("label", { for: "setting-gate-mode" }, "Mode"), mode,
    h("label", { for: "setting-gate-threshold" }, "Score threshold (0–1)"), threshold,
    h("div", { class: "actions" }, save, status));
}
