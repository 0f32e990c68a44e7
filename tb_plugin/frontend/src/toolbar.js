// The toolbar and the compare bar: their controls, and the one way they change anything, `update(patch)` on the
// app's state (or one of the app's named actions). `sync(state)` puts the state back into the controls.

import { SEARCH_HELP, parseSampleList } from "./model.js";
import { el } from "./views.js";

/** Replaces a select's options when the values differ (Option(text, value) never parses markup). */
export function fillSelect(select, values, labels = null) {
  const current = select.value;
  const same =
    select.options.length === values.length &&
    [...select.options].every((o, i) => o.value === values[i] && (!labels || o.textContent === labels[i]));
  if (same) return;
  select.textContent = "";
  values.forEach((v, i) => select.add(new Option(labels ? labels[i] : v, v)));
  if (values.includes(current)) select.value = current;
}

const PROJECTION_TITLE = "The probe's activations in 2-D beside the graph (PCA or t-SNE), linked to it";

export class Toolbar {
  /** `update(patch)` writes the state; `actions` are {play, fit, relayout, reload}. */
  constructor({ update, actions }) {
    this.update = update;
    this.actions = actions;
    const c = el;
    this.runSel = c("select", { testid: "run-select", title: "Run" });
    this.layerSel = c("select", { testid: "layer-select", title: "Layer (⚠: the monitor warned about its health)" });
    this.playBtn = c("button", { text: "▶", testid: "play", title: "Play through the epochs" });
    this.slider = c("input", { testid: "epoch-slider", attrs: { type: "range", min: "0", max: "0", step: "1", value: "0" } });
    this.epochLabel = c("span", { cls: "epoch-label", testid: "epoch-label" });
    this.colorSel = c("select", { testid: "color-select", title: "Colour nodes by" });
    this.sizeSel = c("select", { testid: "size-select", title: "Node area grows with the member count n as" });
    for (const [v, t] of [["sqrt", "∝ √n"], ["log", "∝ log n"]]) this.sizeSel.add(new Option(t, v));
    this.thr = c("input", { testid: "edge-threshold", attrs: { type: "range", min: "0", max: "1", step: "0.01", value: "0" } });
    this.thrLabel = c("span", { cls: "thr-label", testid: "edge-threshold-label" });
    this.search = c("input", {
      testid: "search",
      title: SEARCH_HELP,
      attrs: { type: "search", placeholder: "c:7 · 12 · #5", "aria-label": "Search" },
    });
    this.compareBtn = c("button", { text: "Compare", testid: "compare-toggle", title: "Two graphs side by side" });
    this.layersBtn = c("button", { text: "Layers", testid: "layers-toggle", title: "Neighbouring layers side by side at this epoch" });
    this.projBtn = c("button", { text: "Projection", testid: "projection-toggle", title: PROJECTION_TITLE });
    this.fitBtn = c("button", { text: "Fit", testid: "fit", title: "Fit the whole graph into the view (and keep it framed)" });
    this.relayoutBtn = c("button", {
      text: "Re-layout",
      testid: "relayout",
      title: "Lay the graph out afresh: components packed apart, largest first",
    });
    this.reloadBtn = c("button", {
      text: "⟳ Data",
      testid: "refresh",
      title: "Reload data: fetch new epochs and runs from TensorBoard (the layout stays)",
    });
    this.run2Sel = c("select", { testid: "run2-select", title: "Run B" });
    this.layer2Sel = c("select", { testid: "layer2-select", title: "Layer B" });
    this.epoch2Sel = c("select", { testid: "epoch2-select", title: "Epoch B (default: the epoch before A's)" });

    this.element = c("div", { cls: "toolbar" }, [
      c("label", { text: "Run " }, [this.runSel]),
      c("label", { text: "Layer " }, [this.layerSel]),
      c("span", { cls: "epoch-box" }, [this.playBtn, c("label", { text: "Epoch " }, [this.slider]), this.epochLabel]),
      c("label", { text: "Colour " }, [this.colorSel]),
      this.sizeSel,
      c("label", { text: "Edges ≥ ", title: "Hide edges whose Jaccard weight is below this" }, [this.thr, this.thrLabel]),
      this.search,
      c("span", { cls: "buttons" }, [this.compareBtn, this.layersBtn, this.projBtn, this.fitBtn, this.relayoutBtn, this.reloadBtn]),
    ]);
    this.compareBar = c("div", { cls: "toolbar compare-bar", testid: "compare-bar" }, [
      c("strong", { text: "B: " }),
      c("label", { text: "Run " }, [this.run2Sel]),
      c("label", { text: "Layer " }, [this.layer2Sel]),
      c("label", { text: "Epoch " }, [this.epoch2Sel]),
    ]);
    this.compareBar.hidden = true;
    this.epochs = [];
    this._bind();
  }

  _bind() {
    const up = this.update;
    this.runSel.addEventListener("change", () => up({ run: this.runSel.value, node: null }));
    this.layerSel.addEventListener("change", () => up({ layer: this.layerSel.value, node: null }));
    this.slider.addEventListener("input", () => {
      const e = this.epochs[Number(this.slider.value)];
      if (e !== undefined) up({ epoch: e });
    });
    this.playBtn.addEventListener("click", () => this.actions.play());
    this.colorSel.addEventListener("change", () => up({ color: this.colorSel.value }));
    this.sizeSel.addEventListener("change", () => up({ size: this.sizeSel.value }));
    this.thr.addEventListener("input", () => up({ thr: Number(this.thr.value) }));
    this.search.addEventListener("input", () => up({ q: this.search.value }));
    this.search.addEventListener("keydown", (ev) => {
      // Enter on a list of sample ids ("12, 40, s7") tracks those samples across epochs.
      if (ev.key !== "Enter") return;
      const samples = parseSampleList(this.search.value);
      if (samples) up({ track: samples, q: "" });
    });
    this.compareBtn.addEventListener("click", () => this.actions.toggleCompare());
    this.layersBtn.addEventListener("click", () => this.actions.toggleLayers());
    this.projBtn.addEventListener("click", () => this.actions.toggleProjection());
    this.fitBtn.addEventListener("click", () => this.actions.fit());
    this.relayoutBtn.addEventListener("click", () => this.actions.relayout());
    this.reloadBtn.addEventListener("click", () => this.actions.reload());
    this.run2Sel.addEventListener("change", () => up({ run2: this.run2Sel.value }));
    this.layer2Sel.addEventListener("change", () => up({ layer2: this.layer2Sel.value }));
    this.epoch2Sel.addEventListener("change", () => up({ epoch2: Number(this.epoch2Sel.value) }));
  }

  setRuns(runs) {
    fillSelect(this.runSel, runs);
    fillSelect(this.run2Sel, runs);
  }

  /** The run's layers, a warned one marked ⚠ with the warning as the option's tooltip. */
  setLayers(layers, warnings = {}) {
    fillSelect(this.layerSel, layers, layers.map((l) => (warnings[l] ? `⚠ ${l}` : l)));
    [...this.layerSel.options].forEach((o) => {
      o.title = warnings[o.value] ? warnings[o.value].text : "";
      o.dataset.warned = warnings[o.value] ? "1" : "";
    });
  }

  /** Why the layer has no projection (a one-line reason, the button's tooltip), or null when it has one. */
  setProjectionUnavailable(reason) {
    this.projReason = reason;
    this.syncProjectionButton();
  }

  /** The projection button's tooltip and state: the reason it is unavailable, disabled unless open (from the URL,
   * on a layer without activations it stays clickable, so it can be closed). */
  syncProjectionButton() {
    const reason = this.projReason;
    this.projBtn.title = reason || PROJECTION_TITLE;
    this.projBtn.dataset.unavailable = reason ? "1" : "";
    this.projBtn.disabled = Boolean(reason) && !this.projOn;
  }

  setEpochs(epochs) {
    this.epochs = epochs;
    this.slider.max = String(Math.max(0, epochs.length - 1));
    this.slider.disabled = epochs.length < 2;
    this.playBtn.disabled = epochs.length < 2;
  }

  setColorModes(modes, current) {
    this.colorSel.textContent = "";
    for (const [v, t] of modes) this.colorSel.add(new Option(t, v));
    this.colorSel.value = current;
  }

  setPlaying(playing) {
    this.playBtn.textContent = playing ? "❚❚" : "▶";
    this.playBtn.title = playing ? "Pause" : "Play through the epochs";
  }

  sync(state) {
    if (this.runSel.value !== state.run) this.runSel.value = state.run;
    if (this.layerSel.value !== state.layer) this.layerSel.value = state.layer;
    const idx = this.epochs.indexOf(state.epoch);
    if (idx >= 0) this.slider.value = String(idx);
    const last = this.epochs.length ? ` / ${this.epochs[this.epochs.length - 1]}` : "";
    this.epochLabel.textContent = state.epoch === null ? "–" : `${state.epoch}${last}`;
    if ([...this.colorSel.options].some((o) => o.value === state.color)) this.colorSel.value = state.color;
    this.sizeSel.value = state.size;
    this.thr.value = String(state.thr);
    this.thrLabel.textContent = Number(state.thr).toFixed(2);
    if (this.search.value !== state.q) this.search.value = state.q;
    this.compareBtn.classList.toggle("active", state.cmp);
    this.compareBtn.setAttribute("aria-pressed", String(state.cmp));
    this.compareBar.hidden = !state.cmp;
    this.layersBtn.classList.toggle("active", state.lay);
    this.layersBtn.setAttribute("aria-pressed", String(state.lay));
    this.projOn = state.proj;
    this.projBtn.classList.toggle("active", state.proj);
    this.projBtn.setAttribute("aria-pressed", String(state.proj));
    this.syncProjectionButton();
  }
}
