// The toolbar and the compare bar: their controls, and the one way they change anything, `set(patch)` on the
// store (or one of the app's named actions). `sync(state)` puts the state back into the controls: everything they
// show (runs, layers and their warnings, epochs, colour modes, the search's "no match", compare's other graph)
// comes from the state.

import { colorLabel, colorModes } from "./colors.js";
import { el } from "./dom.js";
import { modeOf } from "./modes.js";
import { missingActivations } from "./params.js";
import { SEARCH_HELP, parseSampleList, searchMisses } from "./search.js";
import { runInfo } from "./state.js";

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
  /** `set(patch)` writes the state; `actions` are {play, mode(name), fit, reload}. */
  constructor({ set, actions }) {
    this.set = set;
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
    this.searchNote = c("span", { cls: "search-note", testid: "search-note", text: "no match" });
    this.searchNote.hidden = true;
    this.compareBtn = c("button", { text: "Compare", testid: "compare-toggle", title: "Two graphs side by side, the earlier on the left" });
    this.layersBtn = c("button", { text: "Layers", testid: "layers-toggle", title: "Neighbouring layers side by side at this epoch" });
    this.projBtn = c("button", { text: "Projection", testid: "projection-toggle", title: PROJECTION_TITLE });
    this.fitBtn = c("button", { text: "Fit", testid: "fit", title: "Fit the whole graph into the view, as laid out (and keep it framed)" });
    this.reloadBtn = c("button", {
      text: "⟳ Data",
      testid: "refresh",
      title: "Reload data: fetch new epochs and runs from TensorBoard (the layout stays)",
    });
    this.run2Sel = c("select", { testid: "run2-select", title: "Run of the graph compared" });
    this.layer2Sel = c("select", { testid: "layer2-select", title: "Layer of the graph compared" });
    this.epoch2Sel = c("select", { testid: "epoch2-select", title: "Epoch of the graph compared (default: the epoch before)" });

    this.element = c("div", { cls: "toolbar", testid: "toolbar" }, [
      c("label", { text: "Run " }, [this.runSel]),
      c("label", { text: "Layer " }, [this.layerSel]),
      c("span", { cls: "epoch-box" }, [this.playBtn, c("label", { text: "Epoch " }, [this.slider]), this.epochLabel]),
      c("label", { text: "Colour " }, [this.colorSel]),
      this.sizeSel,
      c("label", { text: "Edges ≥ ", title: "Hide edges whose Jaccard weight is below this" }, [this.thr, this.thrLabel]),
      c("span", { cls: "search-box" }, [this.search, this.searchNote]),
      c("span", { cls: "buttons" }, [this.compareBtn, this.layersBtn, this.projBtn, this.fitBtn, this.reloadBtn]),
    ]);
    this.compareBar = c("div", { cls: "toolbar compare-bar", testid: "compare-bar" }, [
      c("strong", { text: "Compare with: " }),
      c("label", { text: "Run " }, [this.run2Sel]),
      c("label", { text: "Layer " }, [this.layer2Sel]),
      c("label", { text: "Epoch " }, [this.epoch2Sel]),
      c("span", { cls: "muted", text: "the earlier graph is drawn on the left" }),
    ]);
    this.compareBar.hidden = true;
    this.epochs = [];
    this._bind();
  }

  _bind() {
    const up = this.set;
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
    this.compareBtn.addEventListener("click", () => this.actions.mode("compare"));
    this.layersBtn.addEventListener("click", () => this.actions.mode("layers"));
    this.projBtn.addEventListener("click", () => this.actions.mode("projection"));
    this.fitBtn.addEventListener("click", () => this.actions.fit());
    this.reloadBtn.addEventListener("click", () => this.actions.reload());
    this.run2Sel.addEventListener("change", () => up({ run2: this.run2Sel.value }));
    this.layer2Sel.addEventListener("change", () => up({ layer2: this.layer2Sel.value }));
    this.epoch2Sel.addEventListener("change", () => up({ epoch2: Number(this.epoch2Sel.value) }));
  }

  /** The controls in line with the state. */
  sync(state) {
    const runs = state.runs.map((r) => r.run);
    fillSelect(this.runSel, runs);
    fillSelect(this.run2Sel, runs);
    const info = runInfo(state, state.run);
    // The run's layers, a warned one marked ⚠ with the warning as the option's tooltip.
    const warnings = state.health;
    fillSelect(this.layerSel, info.layers, info.layers.map((l) => (warnings[l] ? `⚠ ${l}` : l)));
    [...this.layerSel.options].forEach((o) => {
      o.title = warnings[o.value] ? warnings[o.value].text : "";
      o.dataset.warned = warnings[o.value] ? "1" : "";
    });
    if (this.runSel.value !== state.run) this.runSel.value = state.run;
    if (this.layerSel.value !== state.layer) this.layerSel.value = state.layer;
    this.syncEpochs(state);
    this.syncColors(state);
    this.sizeSel.value = state.size;
    this.thr.value = String(state.thr);
    this.thrLabel.textContent = Number(state.thr).toFixed(2);
    if (this.search.value !== state.q) this.search.value = state.q;
    const miss = searchMisses(state.graph, state.q);
    this.searchNote.hidden = !miss;
    this.search.classList.toggle("no-match", miss);
    const mode = modeOf(state);
    for (const [btn, m] of [[this.compareBtn, "compare"], [this.layersBtn, "layers"], [this.projBtn, "projection"]]) {
      btn.classList.toggle("active", mode === m);
      btn.setAttribute("aria-pressed", String(mode === m));
    }
    this.compareBar.hidden = mode !== "compare";
    if (mode === "compare") this.syncCompare(state);
    // Why the layer has no projection: the button's tooltip, disabled unless open (from the URL, on a layer
    // without activations it stays clickable, so it can be closed).
    const why = missingActivations(info, state.layer);
    const reason = why && `No stored activations for ${state.layer}: ${why}.`;
    this.projBtn.title = reason || PROJECTION_TITLE;
    this.projBtn.dataset.unavailable = reason ? "1" : "";
    this.projBtn.disabled = Boolean(reason) && mode !== "projection";
  }

  syncEpochs(state) {
    this.epochs = state.epochs;
    this.slider.max = String(Math.max(0, state.epochs.length - 1));
    this.slider.disabled = state.epochs.length < 2;
    this.playBtn.disabled = state.epochs.length < 2;
    const idx = state.epochs.indexOf(state.epoch);
    if (idx >= 0) this.slider.value = String(idx);
    const last = state.epochs.length ? ` / ${state.epochs[state.epochs.length - 1]}` : "";
    this.epochLabel.textContent = state.epoch === null ? "–" : `${state.epoch}${last}`;
    this.playBtn.textContent = state.playing ? "❚❚" : "▶";
    this.playBtn.title = state.playing ? "Pause" : "Play through the epochs";
  }

  /** The graph's colour modes, and the user's choice even when this graph cannot show it (marked so). */
  syncColors(state) {
    const modes = state.graph ? colorModes(state.graph) : [];
    const values = modes.map((m) => m[0]);
    const labels = modes.map((m) => m[1]);
    if (!values.includes(state.color)) {
      values.push(state.color);
      labels.push(`${colorLabel(state.color)} (not in this graph)`);
    }
    fillSelect(this.colorSel, values, labels);
    this.colorSel.value = state.color;
  }

  syncCompare(state) {
    const c = state.compare;
    if (!c) return;
    fillSelect(this.layer2Sel, c.layers || []);
    fillSelect(this.epoch2Sel, (c.epochs || []).map(String));
    this.run2Sel.value = c.b.run;
    this.layer2Sel.value = c.b.layer;
    if (c.b.epoch !== null && c.b.epoch !== undefined) this.epoch2Sel.value = String(c.b.epoch);
  }
}
