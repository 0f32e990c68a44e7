// The findings panel in the side bar: the run's findings (the findings route) by step, filter chips by kind, and a
// click on a finding jumps to its layer and epoch, highlights its nodes and tracks its samples. Faults and class
// findings differ by glyph, fill and colour (Okabe-Ito vermillion and blue), never by colour alone. Every string
// from the logs goes through textContent.

import {
  cleanFindings,
  filterFindings,
  findingNodes,
  findingPatch,
  findingShown,
  groupByStep,
  isFault,
  kindCounts,
  kindLabel,
} from "./findings.js";
import { api, isAbort } from "./model.js";
import { el } from "./views.js";

const GLYPH = { fault: "⚠", info: "◆" };

export class FindingsPanel {
  /** `update(patch)` writes the app's state, `state()` reads it, `restyle()` redraws the highlight. */
  constructor(box, { update, state, restyle }) {
    this.box = box;
    this.update = update;
    this.state = state;
    this.restyle = restyle;
    this.run = null;
    this.findings = [];
    this.errors = {};
    this.kinds = new Set();
    this.active = null;
    this.rows = [];
  }

  /** Fetches the run's findings (an empty list when the route fails: the tab works without them) and draws them. */
  async load(run, signal) {
    let payload = null;
    try {
      payload = await api.findings(run, signal);
    } catch (e) {
      if (isAbort(e)) throw e;
      console.warn("topoact: findings unavailable:", e.message);
    }
    if (run !== this.run) {
      this.kinds = new Set();
      this.active = null;
    }
    this.run = run;
    this.findings = cleanFindings(payload);
    this.errors = (payload && payload.errors) || {};
    this.render();
    return this.findings;
  }

  /** Node indices of `g` to highlight: the active finding's nodes while its layer and epoch are shown. */
  focus(g, state) {
    return findingShown(this.active, this.run, state) ? findingNodes(g, this.active) : null;
  }

  render() {
    const box = this.box;
    box.textContent = "";
    box.hidden = !this.findings.length;
    this.rows = [];
    if (!this.findings.length) return;
    const faults = this.findings.filter((f) => f.fault).length;
    box.appendChild(
      el("div", { cls: "section-title" }, [
        el("span", { text: "Findings" }),
        el("span", {
          cls: "muted",
          text: `${faults} fault${faults === 1 ? "" : "s"} · ${this.findings.length - faults} about classes`,
        }),
      ]),
    );
    const chips = el("div", { cls: "finding-chips", testid: "finding-chips" });
    for (const [kind, count] of kindCounts(this.findings)) {
      const fault = isFault({ kind });
      const chip = el("button", {
        cls: `chip ${fault ? "fault" : "info"}`,
        text: `${GLYPH[fault ? "fault" : "info"]} ${kindLabel(kind)} ${count}`,
        title: this.kinds.has(kind) ? `Show every kind again` : `Show only ${kindLabel(kind)} findings (with the other chosen kinds)`,
        attrs: { "aria-pressed": String(this.kinds.has(kind)), type: "button" },
      });
      chip.dataset.kind = kind;
      chip.addEventListener("click", () => {
        if (this.kinds.has(kind)) this.kinds.delete(kind);
        else this.kinds.add(kind);
        this.render();
      });
      chips.appendChild(chip);
    }
    box.appendChild(chips);
    const list = el("div", { cls: "finding-list", testid: "finding-list" });
    for (const [step, group] of groupByStep(filterFindings(this.findings, this.kinds))) {
      list.appendChild(el("div", { cls: "finding-step", text: `epoch ${step}` }));
      for (const f of group) list.appendChild(this.row(f));
    }
    box.appendChild(list);
    const broken = Object.values(this.errors).reduce((n, steps) => n + Object.keys(steps || {}).length, 0);
    if (broken) {
      const lines = Object.entries(this.errors).flatMap(([layer, steps]) =>
        Object.entries(steps || {}).map(([s, reason]) => `${layer} @ ${s}: ${reason}`),
      );
      box.appendChild(el("div", { cls: "muted finding-errors", text: `${broken} epoch(s) with unreadable findings`, title: lines.join("\n") }));
    }
    this.sync(this.state());
  }

  row(f) {
    const family = f.fault ? "fault" : "info";
    const row = el("div", {
      cls: `finding ${family}`,
      testid: "finding",
      attrs: { role: "button", tabindex: "0" },
      title: "Show this finding: its layer and epoch, its nodes highlighted, its samples tracked (click again: end the highlight)",
    });
    row.dataset.kind = f.kind;
    row.dataset.layer = f.layer;
    row.dataset.step = String(f.step);
    row.append(
      el("div", { cls: "finding-head" }, [
        el("span", { cls: `finding-kind ${family}`, text: `${GLYPH[family]} ${kindLabel(f.kind)}` }),
        el("span", { cls: "finding-layer", text: f.layer }),
        el("span", { cls: "finding-epoch muted", text: `epoch ${f.step}` }),
      ]),
      el("div", { cls: "finding-message", text: f.message }),
    );
    const go = () => this.show(f);
    row.addEventListener("click", go);
    row.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        go();
      }
    });
    this.rows.push([f, row]);
    return row;
  }

  /** Jump to finding `f`: its layer and epoch, then highlight its nodes and track its samples. Showing the active
   * finding again (a second click) ends its highlight. */
  show(f) {
    const again = f === this.active && findingShown(f, this.run, this.state());
    this.active = again ? null : f;
    if (!again) this.update(findingPatch(f));
    this.restyle();
    this.sync(this.state());
  }

  /** Marks the rows about the shown layer and epoch, and the active one. */
  sync(state) {
    for (const [f, row] of this.rows) {
      row.classList.toggle("current", findingShown(f, this.run, state));
      row.classList.toggle("active", f === this.active);
    }
  }
}
