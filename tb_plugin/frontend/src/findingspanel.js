// The findings panel in the side bar: the run's findings (the findings route) by step, filter chips by kind, and a
// click on a finding jumps to its layer and epoch, highlights its nodes and tracks its samples. The findings, the
// chosen chips (`fkinds`) and the active finding (`factive`) live in the store; the panel only draws them. Faults
// and class findings differ by glyph, fill and colour (Okabe-Ito vermillion and blue), never by colour alone. Every
// string from the logs goes through textContent.

import {
  filterFindings,
  findingPatch,
  findingShown,
  groupByStep,
  isFault,
  kindCounts,
  kindLabel,
} from "./findings.js";
import { el } from "./dom.js";

const GLYPH = { fault: "⚠", info: "◆" };

export class FindingsPanel {
  /** `app` gives the store: read with `app.store.get()`, written only with `app.set`. */
  constructor(box, app) {
    this.box = box;
    this.app = app;
    this.rows = [];
  }

  /** Redraws the list when the findings or the chosen kinds change; marks the current and active rows otherwise. */
  render(state, changed) {
    if (["findings", "fkinds"].some((k) => changed.has(k))) this.draw(state);
    else if (["factive", "run", "layer", "epoch"].some((k) => changed.has(k))) this.sync(state);
  }

  draw(state) {
    const box = this.box;
    box.textContent = "";
    const all = state.findings ? state.findings.list : [];
    const kinds = new Set(state.fkinds);
    box.hidden = !all.length;
    this.rows = [];
    if (!all.length) return;
    const faults = all.filter((f) => f.fault).length;
    box.appendChild(
      el("div", { cls: "section-title" }, [
        el("span", { text: "Findings" }),
        el("span", {
          cls: "muted",
          text: `${faults} fault${faults === 1 ? "" : "s"} · ${all.length - faults} about classes`,
        }),
      ]),
    );
    const chips = el("div", { cls: "finding-chips", testid: "finding-chips" });
    for (const [kind, count] of kindCounts(all)) {
      const fault = isFault({ kind });
      const chip = el("button", {
        cls: `chip ${fault ? "fault" : "info"}`,
        text: `${GLYPH[fault ? "fault" : "info"]} ${kindLabel(kind)} ${count}`,
        title: kinds.has(kind) ? `Show every kind again` : `Show only ${kindLabel(kind)} findings (with the other chosen kinds)`,
        attrs: { "aria-pressed": String(kinds.has(kind)), type: "button" },
      });
      chip.dataset.kind = kind;
      chip.addEventListener("click", () => {
        const chosen = new Set(kinds);
        if (chosen.has(kind)) chosen.delete(kind);
        else chosen.add(kind);
        this.app.set({ fkinds: [...chosen] });
      });
      chips.appendChild(chip);
    }
    box.appendChild(chips);
    const list = el("div", { cls: "finding-list", testid: "finding-list" });
    for (const [step, group] of groupByStep(filterFindings(all, kinds))) {
      list.appendChild(el("div", { cls: "finding-step", text: `epoch ${step}` }));
      for (const f of group) list.appendChild(this.row(f, all.indexOf(f)));
    }
    box.appendChild(list);
    const errors = state.findings.errors || {};
    const broken = Object.values(errors).reduce((n, steps) => n + Object.keys(steps || {}).length, 0);
    if (broken) {
      const lines = Object.entries(errors).flatMap(([layer, steps]) =>
        Object.entries(steps || {}).map(([s, reason]) => `${layer} @ ${s}: ${reason}`),
      );
      box.appendChild(el("div", { cls: "muted finding-errors", text: `${broken} epoch(s) with unreadable findings`, title: lines.join("\n") }));
    }
    this.sync(state);
  }

  row(f, index) {
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
    const go = () => this.show(f, index);
    row.addEventListener("click", go);
    row.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        go();
      }
    });
    this.rows.push([f, row, index]);
    return row;
  }

  /** Jump to finding `f` (at `index` of the list): its layer and epoch, then highlight its nodes and track its
   * samples. Showing the active finding again (a second click) ends its highlight. */
  show(f, index) {
    const s = this.app.store.get();
    const again = s.factive === index && findingShown(f, s.findings.run, s);
    this.app.set(again ? { factive: null } : { ...findingPatch(f), factive: index });
  }

  /** Marks the rows about the shown layer and epoch, and the active one. */
  sync(state) {
    const run = state.findings ? state.findings.run : null;
    for (const [f, row, index] of this.rows) {
      row.classList.toggle("current", findingShown(f, run, state));
      row.classList.toggle("active", index === state.factive);
    }
  }
}
