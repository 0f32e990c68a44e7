// The "Mapper parameters" card in the side bar: TopoAct's presets, and fields for the interval count, overlap,
// DBSCAN eps (or automatic), min_samples and lens. A change writes the view state (debounced while typing or
// sliding), and the app re-maps every graph on screen from the stored activations with it. The card shows the
// re-mapping in progress, the server's refusal (as text), or why the layer cannot be re-mapped.

import {
  AS_LOGGED,
  CUSTOM,
  LENSES,
  MAX_INTERVALS,
  MAX_MIN_SAMPLES,
  PRESET_HELP,
  PRESET_NAMES,
  num,
  presetOf,
  presetPatch,
} from "./params.js";
import { fillSelect } from "./toolbar.js";
import { el } from "./views.js";

/** The overlap slider's label ("–" when the graph does not say). */
const overlapText = (v) => (v === "" ? "–" : Number(v).toFixed(2));

/** Quiet time after the last keystroke or slider move before the graphs are re-mapped. */
export const DEBOUNCE_MS = 300;

export class ParamsPanel {
  /** `update(patch)` writes the app's state; `state()` reads it. */
  constructor(box, { update, state }) {
    this.box = box;
    this.update = update;
    this.state = state;
    this.pending = {};
    this.timer = null;
    const c = el;
    this.preset = c("select", { testid: "params-preset", title: PRESET_HELP });
    this.intervals = c("input", {
      testid: "params-intervals",
      title: "Intervals of the cover (per lens dimension)",
      attrs: { type: "number", min: "1", max: String(MAX_INTERVALS), step: "1" },
    });
    this.overlap = c("input", {
      testid: "params-overlap",
      title: "Overlap of neighbouring intervals",
      attrs: { type: "range", min: "0.05", max: "0.9", step: "0.05" },
    });
    this.overlapLabel = c("span", { cls: "params-value", testid: "params-overlap-value" });
    this.eps = c("input", {
      testid: "params-eps",
      title: "DBSCAN radius",
      attrs: { type: "number", min: "0", step: "any" },
    });
    this.auto = c("input", { testid: "params-eps-auto", attrs: { type: "checkbox" } });
    this.minSamples = c("input", {
      testid: "params-min-samples",
      title: "DBSCAN min_samples: points within eps that make a core point",
      attrs: { type: "number", min: "1", max: String(MAX_MIN_SAMPLES), step: "1" },
    });
    this.lens = c("select", { testid: "params-lens", title: "Lens: the function the cover's intervals slice" });
    fillSelect(this.lens, [...LENSES]);
    this.note = c("div", { cls: "muted params-note", testid: "params-note" });
    this.message = c("div", { cls: "params-message", testid: "params-message" });
    this.message.hidden = true;
    const field = (label, ...controls) => c("label", { cls: "params-field" }, [c("span", { text: label }), ...controls]);
    this.fields = c("div", { cls: "params-grid" }, [
      field("Intervals", this.intervals),
      field("Min samples", this.minSamples),
      field("Overlap", this.overlap, this.overlapLabel),
      field("Eps", this.eps, c("label", { cls: "params-auto", title: "Chosen for each epoch (knee rule)" }, [this.auto, c("span", { text: "auto" })])),
      field("Lens", this.lens),
    ]);
    box.append(
      c("div", { cls: "section-title" }, [
        c("span", { text: "Mapper parameters" }),
        c("span", { cls: "params-help", text: "?", title: PRESET_HELP, attrs: { "aria-label": PRESET_HELP } }),
      ]),
      this.preset,
      this.fields,
      this.note,
      this.message,
    );
    this.controls = [this.preset, this.intervals, this.overlap, this.eps, this.auto, this.minSamples, this.lens];
    this._bind();
  }

  _bind() {
    this.preset.addEventListener("change", () => {
      if (this.preset.value === CUSTOM) return;
      this.flush({ ...presetPatch(this.preset.value) });
    });
    const typed = (input, key) =>
      input.addEventListener("input", () => {
        // An empty or unparsable number field means "as logged"; out-of-range numbers go to the server, whose
        // 400 says what is allowed.
        this.later({ [key]: input.value.trim() });
      });
    typed(this.intervals, "intervals");
    typed(this.minSamples, "min_samples");
    this.overlap.addEventListener("input", () => {
      this.overlapLabel.textContent = overlapText(this.overlap.value);
      this.later({ overlap: String(Number(this.overlap.value)) });
    });
    this.eps.addEventListener("input", () => this.later({ eps: this.eps.value.trim() }));
    this.auto.addEventListener("change", () => {
      this.eps.disabled = this.auto.checked;
      // Unticked: the eps shown (the one the knee rule chose) becomes a given number to edit.
      this.flush({ eps: this.auto.checked ? "auto" : this.eps.value.trim() });
    });
    this.lens.addEventListener("change", () => this.flush({ lens: this.lens.value }));
  }

  /** Writes `patch` after DEBOUNCE_MS without further edits (edits in between are merged). */
  later(patch) {
    Object.assign(this.pending, patch);
    this.syncPreset({ ...this.state(), ...this.pending });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  /** Writes what is pending, with `patch`, now. */
  flush(patch = {}) {
    clearTimeout(this.timer);
    const all = { ...this.pending, ...patch };
    this.pending = {};
    if (Object.keys(all).length) this.update(all);
  }

  syncPreset(state) {
    const current = presetOf(state);
    const values = [AS_LOGGED, ...PRESET_NAMES, ...(current === CUSTOM ? [CUSTOM] : [])];
    fillSelect(this.preset, values);
    this.preset.value = current;
  }

  /**
   * Puts the state into the fields, each unset one showing what the shown graph was built with (`graph.params`);
   * `blocked` (a reason, or null) disables the card. A field being edited is left alone.
   */
  sync(state, graph, blocked) {
    const p = (graph && graph.params) || {};
    const shown = (key, fallback) => (state[key] !== "" ? state[key] : fallback === undefined || fallback === null ? "" : String(fallback));
    const set = (input, key, value) => {
      if (key in this.pending || document.activeElement === input) return;
      input.value = value;
    };
    this.syncPreset({ ...state, ...this.pending });
    set(this.intervals, "intervals", shown("intervals", p.n_intervals));
    set(this.minSamples, "min_samples", shown("min_samples", p.min_samples));
    if (!("overlap" in this.pending)) {
      const overlap = shown("overlap", p.overlap);
      this.overlap.value = overlap === "" ? "0.3" : overlap;
      this.overlapLabel.textContent = overlapText(overlap);
    }
    const auto = state.eps === "auto" || (state.eps === "" && p.eps_rule === "knee");
    this.auto.checked = auto;
    const epsNumber = state.eps !== "" && state.eps !== "auto" && state.eps !== "fixed" ? state.eps : p.eps;
    set(this.eps, "eps", typeof epsNumber === "number" ? num(epsNumber, 4) : epsNumber ?? "");
    if (!("lens" in this.pending)) this.lens.value = shown("lens", p.lens) || LENSES[0];
    this.note.textContent = blocked
      ? blocked
      : state.eps === "fixed"
        ? "Eps is fixed: every epoch of the layer uses the one its latest logged graph used."
        : auto
          ? "Eps is adaptive: chosen for each epoch by the knee rule."
          : "";
    this.note.hidden = !this.note.textContent;
    this.note.dataset.testid = blocked ? "params-reason" : "params-note";
    for (const control of this.controls) control.disabled = Boolean(blocked);
    this.eps.disabled = Boolean(blocked) || auto;
    this.box.classList.toggle("disabled", Boolean(blocked));
    if (blocked) this.setMessage(null);
  }

  /** "Re-mapping…" while a request with new parameters is in flight. */
  setBusy(busy) {
    this.box.classList.toggle("busy", busy);
    this.box.dataset.busy = busy ? "1" : "";
    if (busy) this.setMessage("Re-mapping…", "busy");
    else if (this.message.dataset.kind === "busy") this.setMessage(null);
  }

  /** The server's refusal of the parameters (as text), or null to clear it. */
  setError(text) {
    this.setMessage(text, "error");
  }

  setMessage(text, kind = "") {
    this.message.textContent = text || "";
    this.message.hidden = !text;
    this.message.dataset.kind = text ? kind : "";
    this.message.dataset.testid = kind === "error" && text ? "params-error" : "params-message";
    this.message.classList.toggle("error-text", kind === "error");
  }
}
