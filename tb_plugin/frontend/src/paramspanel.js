// The "Mapper parameters" card in the side bar: TopoAct's presets, and fields for the interval count, overlap,
// DBSCAN eps (or automatic), min_samples, lens and distance metric, each with the limits and options the server
// states (the params route). A change writes the view state (debounced while typing or sliding), and every graph
// on screen is re-mapped from the stored activations with it. The card shows the re-mapping in progress, the
// server's refusal (as text; the state and the URL go back to the parameters of the graph on screen), or why the
// layer cannot be re-mapped.

import { el } from "./dom.js";
import { queryFor, remapReason } from "./modes.js";
import { AS_LOGGED, CUSTOM, PRESETS, PRESET_HELP, describeRule, num, presetOf, presetPatch, remaps, ruleOf } from "./params.js";
import { fillSelect } from "./toolbar.js";

/** The overlap slider's label ("–" when the graph does not say). */
const overlapText = (v) => (v === "" ? "–" : Number(v).toFixed(2));

/** Quiet time after the last keystroke or slider move before the graphs are re-mapped. */
export const DEBOUNCE_MS = 300;

/** The state keys whose change the card shows. */
const KEYS = ["spec", "specError", "graph", "query", "remapError", "tasks", "runs", "run", "layer", "cmp", "run2", "layer2", "intervals", "overlap", "eps", "min_samples", "lens", "dist"];

export class ParamsPanel {
  /** `app` gives the store: read with `app.store.get()`, written only with `app.set`. */
  constructor(box, app) {
    this.box = box;
    this.update = app.set;
    this.state = () => app.store.get();
    this.pending = {};
    this.timer = null;
    const c = el;
    this.preset = c("select", { testid: "params-preset", title: PRESET_HELP });
    this.intervals = c("input", {
      testid: "params-intervals",
      title: "Intervals of the cover (per lens dimension)",
      attrs: { type: "number", step: "1" },
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
      attrs: { type: "number", step: "1" },
    });
    this.lens = c("select", { testid: "params-lens", title: "Lens: the function the cover's intervals slice" });
    this.metric = c("select", { testid: "params-metric", title: "Metric: the distance DBSCAN clusters with (and the distance-based lenses use)" });
    this.titles = new Map(
      [this.intervals, this.minSamples, this.overlap, this.eps, this.lens, this.metric].map((x) => [x, x.title]),
    );
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
      field("Metric", this.metric),
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
    this.controls = [this.preset, this.intervals, this.overlap, this.eps, this.auto, this.minSamples, this.lens, this.metric];
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
    this.metric.addEventListener("change", () => this.flush({ dist: this.metric.value }));
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
    // TopoAct's presets, those the server's eps rule takes (a fixed or an automatic eps).
    const eps = ruleOf(state.spec, "eps");
    const names = PRESETS.filter((p) => eps && eps.options.includes(p.eps)).map((p) => p.name);
    const values = [AS_LOGGED, ...names, ...(current === CUSTOM || (current !== AS_LOGGED && !names.includes(current)) ? [current] : [])];
    fillSelect(this.preset, values);
    this.preset.value = current;
  }

  /** The card in line with the state (when something it shows changed). */
  render(state, changed) {
    if (!KEYS.some((k) => changed.has(k))) return;
    this.limits(state.spec);
    this.sync(state, state.graph, remapReason(state));
    this.setBusy(Boolean(state.tasks.graph) && remaps(queryFor(state)) && !remapReason(state));
    if (!remapReason(state) && !this.box.classList.contains("busy")) this.setError(state.remapError);
  }

  /** The fields' limits and options, from the server's rules (once per spec). */
  limits(spec) {
    if (!spec || spec === this.spec) return;
    this.spec = spec;
    const bounds = (input, key) => {
      const rule = ruleOf(spec, key);
      if (rule.min !== null) input.min = String(rule.minExclusive && rule.type === "integer" ? rule.min + 1 : rule.min);
      if (rule.max !== null) input.max = String(rule.maxExclusive && rule.type === "integer" ? rule.max - 1 : rule.max);
      input.title = `${this.titles.get(input)}: ${describeRule(rule)}`;
    };
    bounds(this.intervals, "intervals");
    bounds(this.minSamples, "min_samples");
    bounds(this.eps, "eps");
    const overlap = ruleOf(spec, "overlap");
    // The slider's own range (0.05 to 0.9 in steps of 0.05) within what the server takes.
    const step = 0.05;
    this.overlap.min = String(Math.max(step, overlap.min === null ? step : overlap.min + (overlap.minExclusive ? step : 0)));
    this.overlap.max = String(Math.min(0.9, overlap.max === null ? 0.9 : overlap.max - (overlap.maxExclusive ? step : 0)));
    this.overlap.title = `${this.titles.get(this.overlap)}: ${describeRule(overlap)}`;
    for (const [select, key] of [[this.lens, "lens"], [this.metric, "dist"]]) {
      fillSelect(select, [...ruleOf(spec, key).options]);
      select.title = `${this.titles.get(select)}: ${describeRule(ruleOf(spec, key))}`;
    }
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
    if (!("lens" in this.pending)) this.lens.value = shown("lens", p.lens) || (this.lens.options[0] || {}).value || "";
    if (!("dist" in this.pending)) this.metric.value = shown("dist", p.metric) || (this.metric.options[0] || {}).value || "";
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
