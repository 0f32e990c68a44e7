// The side bar's panels drawn from the state: the legend, the selected node's details, the comparison summary
// and the tracked samples' table. Every user string (run, layer and class names) goes through textContent.

import { classColor, continuousScale } from "./colors.js";
import { el, fmt, pct } from "./dom.js";

/**
 * Class swatches (click one to highlight its nodes) or the colour ramp of a continuous mode; first, when the
 * user's colour choice cannot apply to this graph, `note` saying so (colors.js effectiveColor).
 */
export function renderLegend(container, g, mode, activeClass, onToggleClass, note = null) {
  container.textContent = "";
  if (!g) return;
  if (note) container.appendChild(el("div", { cls: "legend-note", testid: "color-note", text: note }));
  if (mode === "classes" || mode === "dominant") {
    const n = g.class_names.length;
    if (!n) {
      container.appendChild(el("div", { cls: "muted", text: "No class labels were logged." }));
      return;
    }
    const list = el("div", { cls: "legend-classes" });
    g.class_names.forEach((name, k) => {
      const b = el("button", {
        cls: `legend-item${activeClass === k ? " active" : ""}`,
        testid: "legend-class",
        title: "Highlight the nodes holding this class",
      });
      b.dataset.class = String(k);
      const sw = el("span", { cls: "swatch" });
      sw.style.background = classColor(k, n);
      b.append(sw, el("span", { cls: "legend-name", text: name }));
      b.addEventListener("click", () => onToggleClass(activeClass === k ? null : k));
      list.appendChild(b);
    });
    container.appendChild(list);
    return;
  }
  const s = continuousScale(g, mode);
  const bar = el("div", { cls: "legend-ramp" });
  const stops = Array.from({ length: 11 }, (_, i) => s.interp(i / 10));
  bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
  container.append(
    bar,
    el("div", { cls: "legend-ends" }, [el("span", { text: fmt(s.lo) }), el("span", { text: fmt(s.hi) })]),
  );
}

/**
 * The clicked node's details: size, class composition (counts and percentages), accuracy, loss, lens, purity,
 * member ids and, when the run logged them, thumbnails of the member inputs.
 */
export function renderNodePanel(container, g, index, { thumbnailUrl, onTrack, onClose, maxThumbs = 48 }) {
  container.textContent = "";
  if (!g || index === null || index === undefined || !g.nodes[index]) {
    container.hidden = true;
    return;
  }
  container.hidden = false;
  const n = g.nodes[index];
  const head = el("div", { cls: "panel-head" }, [
    el("strong", { text: `Node ${n.id}`, testid: "panel-title" }),
    el("span", { cls: "muted", text: ` cover element ${n.cover}` }),
  ]);
  const close = el("button", { cls: "icon", text: "×", title: "Close", testid: "panel-close" });
  close.addEventListener("click", onClose);
  head.appendChild(close);
  container.appendChild(head);

  const rows = [
    ["samples", `${n.size} (${pct(n.size / (g.n_samples || 1))} of ${g.n_samples})`, "size"],
    ["accuracy", pct(n.mean_correct), "accuracy"],
    ["mean loss", fmt(n.mean_loss), "loss"],
    ["mean lens", fmt(n.mean_lens), "lens"],
    ["purity", fmt(n.purity), "purity"],
  ];
  const table = el("table", { cls: "kv" });
  for (const [k, v, id] of rows) {
    table.appendChild(el("tr", {}, [el("th", { text: k }), el("td", { text: v, testid: `panel-${id}` })]));
  }
  container.appendChild(table);

  if (Array.isArray(n.classes) && n.labelled > 0) {
    container.appendChild(el("div", { cls: "section-title", text: "Class composition" }));
    const comp = el("table", { cls: "composition", testid: "panel-classes" });
    const order = n.classes.map((c, k) => [c, k]).filter(([c]) => c > 0).sort((a, b) => b[0] - a[0]);
    for (const [c, k] of order) {
      const sw = el("span", { cls: "swatch" });
      sw.style.background = classColor(k, g.class_names.length);
      const bar = el("span", { cls: "bar" });
      bar.style.width = `${(100 * c) / n.labelled}%`;
      bar.style.background = classColor(k, g.class_names.length);
      const tr = el("tr", { testid: "panel-class-row" }, [
        el("td", {}, [sw]),
        el("td", { cls: "cls-name", text: g.class_names[k] ?? String(k) }),
        el("td", { cls: "num", text: String(c), testid: "panel-class-count" }),
        el("td", { cls: "num", text: pct(c / n.labelled) }),
        el("td", { cls: "bar-cell" }, [bar]),
      ]);
      tr.dataset.class = String(k);
      comp.appendChild(tr);
    }
    container.appendChild(comp);
  }

  const members = n.members;
  container.appendChild(el("div", { cls: "section-title", text: `Members (${members.length})` }));
  const shown = members.slice(0, 300).join(", ");
  container.appendChild(
    el("div", {
      cls: "members",
      testid: "panel-members",
      text: members.length > 300 ? `${shown}, … and ${members.length - 300} more` : shown,
    }),
  );
  const track = el("button", { text: "Track these samples across epochs", testid: "panel-track" });
  track.addEventListener("click", () => onTrack(members));
  container.appendChild(track);

  if (thumbnailUrl) {
    const grid = el("div", { cls: "thumbs", testid: "panel-thumbs" });
    for (const s of members.slice(0, maxThumbs)) {
      const img = el("img", { attrs: { alt: `sample ${s}`, loading: "lazy", width: "40", height: "40" } });
      img.title = `sample ${s}`;
      img.src = thumbnailUrl(s);
      grid.appendChild(img);
    }
    container.appendChild(grid);
    if (members.length > maxThumbs) {
      container.appendChild(el("div", { cls: "muted", text: `first ${maxThumbs} of ${members.length} shown` }));
    }
  }
}

/**
 * The comparison read forward in time, in the captions' words (modes.js compareWords): "From epoch 2 to epoch 3",
 * then counts and lists of splits, merges, births and deaths. `cmp` is the route's answer for (left, right): the
 * earlier graph first. Hovering an entry lights its nodes up in both views (`onHoverEvent(leftIds, rightIds)`).
 */
export function renderCompareSummary(container, cmp, words, onHoverEvent) {
  container.textContent = "";
  if (!cmp) return;
  container.appendChild(
    el("div", { cls: "compare-title", testid: "compare-title" }, [
      el("span", { text: `From ${words.from}`, testid: "compare-from" }),
      el("span", { text: " to " }),
      el("span", { text: words.to, testid: "compare-to" }),
      words.where ? el("div", { cls: "muted", text: words.where }) : null,
    ]),
  );
  const counts = [
    ["matched", cmp.matches.length],
    ["splits", cmp.splits.length],
    ["merges", cmp.merges.length],
    ["births", cmp.births.length],
    ["deaths", cmp.deaths.length],
    ["distance", fmt(cmp.distance)],
  ];
  const row = el("div", { cls: "compare-counts", testid: "compare-counts" });
  for (const [k, v] of counts) {
    const c = el("span", { cls: "count" }, [el("b", { text: String(v) }), el("span", { text: ` ${k}` })]);
    c.dataset.kind = k;
    row.appendChild(c);
  }
  container.appendChild(row);
  const list = el("ul", { cls: "events" });
  const item = (text, from, into) => {
    const li = el("li", { text });
    li.addEventListener("mouseenter", () => onHoverEvent(from, into));
    li.addEventListener("mouseleave", () => onHoverEvent(null, null));
    list.appendChild(li);
  };
  const cap = 8;
  const ids = (list) => list.map((i) => `#${i}`).join(", ");
  for (const s of cmp.splits.slice(0, cap)) item(`split: #${s.from} → ${ids(s.into)}`, [s.from], s.into);
  for (const s of cmp.merges.slice(0, cap)) item(`merge: ${ids(s.from)} → #${s.into}`, s.from, [s.into]);
  const some = (list) => `${ids(list.slice(0, 12))}${list.length > 12 ? " …" : ""}`;
  if (cmp.births.length) item(`born by ${words.to}: ${some(cmp.births)}`, [], cmp.births);
  if (cmp.deaths.length) item(`gone after ${words.from}: ${some(cmp.deaths)}`, cmp.deaths, []);
  container.appendChild(list);
}

/** Where the tracked samples sit at every epoch (node counts per epoch, from the track route). */
export function renderTrack(container, samples, data, currentEpoch, { onClear, onPick }) {
  container.textContent = "";
  if (!samples.length) {
    container.hidden = true;
    return;
  }
  container.hidden = false;
  const head = el("div", { cls: "panel-head" }, [
    el("strong", { text: `Tracking ${samples.length} sample${samples.length > 1 ? "s" : ""}` }),
  ]);
  const clear = el("button", { cls: "icon", text: "×", title: "Stop tracking", testid: "track-clear" });
  clear.addEventListener("click", onClear);
  head.appendChild(clear);
  container.appendChild(head);
  const preview = samples.slice(0, 20).join(", ") + (samples.length > 20 ? ", …" : "");
  container.appendChild(el("div", { cls: "muted", text: `samples ${preview}` }));
  if (!data) {
    container.appendChild(el("div", { cls: "muted", text: "loading…" }));
    return;
  }
  const table = el("table", { cls: "track", testid: "track-table" });
  table.appendChild(el("tr", {}, [el("th", { text: "epoch" }), el("th", { text: "nodes holding them" })]));
  for (const e of data.epochs) {
    const perSample = data.nodes[String(e)] || data.nodes[e] || {};
    const nodes = new Set();
    for (const list of Object.values(perSample)) for (const i of list || []) nodes.add(i);
    const sorted = [...nodes].sort((a, b) => a - b);
    const text = sorted.length ? `${sorted.length}: ${sorted.slice(0, 10).join(", ")}${sorted.length > 10 ? " …" : ""}` : "none";
    const tr = el("tr", { cls: e === currentEpoch ? "current" : "" }, [el("td", { text: String(e) }), el("td", { text })]);
    tr.addEventListener("click", () => onPick(e));
    table.appendChild(tr);
  }
  container.appendChild(table);
}
