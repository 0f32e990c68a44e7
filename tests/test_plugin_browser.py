"""The TopoAct tab in a real browser: Debian's headless Chromium, a real ``tensorboard`` process, logs from a real
training run with the callback (``trained_logdir``) plus a second run whose class and run names contain HTML.

Every expectation about what the page shows is checked against the plugin's own JSON routes, fetched from the
same server. Nodes are clicked and hovered with the real mouse at the positions the page reports for them.
"""

from __future__ import annotations

import json
import shutil
import struct
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import pytest

from tests._browser import (
    click_node,
    frame_offset,
    hover_node,
    new_page,
    open_topoact,
    serve_tensorboard,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

XSS_RUN = "<i>xss</i>/version_0"  # as long as a Lightning run name (the demo's digits_cnn/version_0)
DEAD_RUN = "dead"
XSS_CLASSES = ['<img src=x onerror="window.__xss=1">', "<b>bold</b>", "a & b"] + [
    f"d{i}" for i in range(3, 10)
]


@pytest.fixture(scope="module")
def logdir(trained_logdir: Path, tmp_path_factory) -> Path:
    """The trained run, a one-epoch run of the callback whose run and class names hold markup, and a short run
    whose last watched layer is dead (every ReLU off), which the monitor warns about."""
    from tests._training import probe_pair, train_digits
    from topoact_lightning import TopoActMonitor

    out = tmp_path_factory.mktemp("browser_logs")
    shutil.copytree(trained_logdir / "run", out / "run")
    monitor = TopoActMonitor(layers=["fc1"], probe=probe_pair(120), class_names=XSS_CLASSES, thumbnails=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_digits(out, callbacks=[monitor], epochs=1, run=XSS_RUN, limit_train_batches=2)
    dead = TopoActMonitor(layers=["fc1", "dead"], probe=probe_pair(120), thumbnails=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the monitor's health warning is the point; read back from the logs
        train_digits(
            out, callbacks=[dead], epochs=1, run=DEAD_RUN, model=_dead_layer_model(), limit_train_batches=2
        )
    return out


def _dead_layer_model():
    """The digits CNN with a ReLU after fc1 whose input is shifted far below 0: every unit is dead, and stays so."""
    import torch

    from tests._training import DigitsCNN

    class DeadLayer(DigitsCNN):
        def __init__(self):
            super().__init__()
            self.dead = torch.nn.ReLU()

        def forward(self, x):
            return self.fc2(self.dead(self.fc1(self.features(x).flatten(1)) - 1e4))

    return DeadLayer()


@pytest.fixture(scope="module")
def server(logdir: Path):
    with serve_tensorboard(logdir) as base:
        yield base


def route(base: str, name: str, **params) -> dict | list:
    url = f"{base}/data/plugin/topoact/{name}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def painted_pixels(frame, testid: str = "graph-a") -> int:
    """Non-transparent pixels on a graph canvas (the canvas is cleared to transparent before each frame)."""
    return frame.evaluate(
        """(id) => {
            const c = document.querySelector(`canvas[data-testid="${id}"]`);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
            return n;
        }""",
        testid,
    )


def shown_node_ids(frame, view: str = "a") -> list[int]:
    return sorted(int(k) for k in frame.evaluate("(v) => window.__topoact.layout(v)", view))


def wait_epoch(frame, epoch: int) -> None:
    frame.wait_for_selector(f"body[data-epoch='{epoch}']", timeout=15_000)


def continuing(g_old: dict, g_new: dict) -> list[tuple[int, int]]:
    """(old id, new id) of each node of ``g_new`` whose best predecessor in ``g_old`` shares at least half their
    union (Jaccard >= 0.5): the nodes that continue one of the epoch before."""
    old = {n["id"]: set(n["members"]) for n in g_old["nodes"]}
    pairs = []
    for n in g_new["nodes"]:
        m = set(n["members"])
        best = max(old, key=lambda i: len(m & old[i]) / len(m | old[i]))
        if len(m & old[best]) / len(m | old[best]) >= 0.5:
            pairs.append((best, n["id"]))
    return pairs


def assert_layout_follows_members(g_old, g_new, layout_old, layout_new) -> None:
    """Nodes that keep most of their members stay put across an epoch switch: the distance between a continuing
    node's position and its predecessor's is small next to the size of the layout; a layout made from scratch puts
    them anywhere (about the layout's radius apart)."""
    import statistics

    moves = []
    for a, b in continuing(g_old, g_new):
        (x0, y0), (x1, y1) = layout_old[str(a)], layout_new[str(b)]
        moves.append(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)
    xs = [p[0] for p in layout_old.values()]
    ys = [p[1] for p in layout_old.values()]
    radius = max(max(xs) - min(xs), max(ys) - min(ys)) / 2
    assert len(moves) >= 3, "too few stable nodes to judge the layout"
    assert statistics.median(moves) < 0.3 * radius, (statistics.median(moves), radius)


# ----------------------------------------------------------------------------------------------------- loading
@pytest.mark.parametrize("backend", ["rust", "python"])
def test_tab_loads_and_draws_the_latest_graph(backend, server, logdir, browser):
    """Both data back ends: the tab opens without console errors or CSP violations and draws the last epoch."""
    if backend == "python":
        cm = serve_tensorboard(logdir, "--load_fast=false")
        base = cm.__enter__()
    else:
        cm, base = None, server
    try:
        page, frame, watch = open_topoact(browser, base)
        runs = route(base, "runs")
        options = frame.eval_on_selector_all(
            "[data-testid=run-select] option", "os => os.map(o => o.textContent)"
        )
        assert options == [r["run"] for r in runs if r["layers"]]
        state = frame.evaluate("() => window.__topoact.state")
        epochs = route(base, "epochs", run=state["run"], layer=state["layer"])["epochs"]
        assert epochs and state["run"] == runs[0]["run"]
        assert frame.evaluate("() => window.__topoact.epoch") == epochs[-1]
        graph = route(base, "graph", run=state["run"], layer=state["layer"], epoch=epochs[-1])
        assert shown_node_ids(frame) == sorted(n["id"] for n in graph["nodes"])
        assert painted_pixels(frame) > 500
        assert frame.inner_text("[data-testid=epoch-label]").startswith(str(epochs[-1]))
        stats = frame.inner_text("[data-testid=graph-summary]")
        assert f"{len(graph['nodes'])}\nnodes" in stats
        page.wait_for_timeout(300)  # late errors (thumbnails, metrics) would land here
        assert watch.problems() == []
        page.context.close()
    finally:
        if cm is not None:
            cm.__exit__(None, None, None)


def test_empty_logdir_explains_what_to_do(tmp_path, browser):
    """A logdir without TopoAct data: the tab (opened directly) says how to get some, instead of failing."""
    (tmp_path / "empty").mkdir()
    with serve_tensorboard(tmp_path / "empty", wait_for_runs=False) as base:
        page, watch = new_page(browser)
        page.goto(f"{base}/data/plugin_entry.html?name=topoact")
        page.wait_for_selector("[data-testid=status][data-kind=empty]", timeout=15_000)
        text = page.inner_text("[data-testid=status]")
        assert "No TopoAct data yet" in text and "TopoActMonitor" in text
        assert (
            watch.problems(ignore=("/favicon.ico",)) == []
        )  # the bare page asks for one; TensorBoard has none
        page.context.close()


# ------------------------------------------------------------------------------------------------ interaction
def test_epoch_slider_and_play_change_the_graph(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    last = shown_node_ids(frame)
    frame.evaluate("() => window.__topoact.settle()")
    layout3 = frame.evaluate("() => window.__topoact.layout('a')")
    slider = frame.locator("[data-testid=epoch-slider]")
    slider.focus()
    slider.press("ArrowLeft")
    wait_epoch(frame, 2)
    frame.evaluate("() => window.__topoact.settle()")
    layout2 = frame.evaluate("() => window.__topoact.layout('a')")
    assert_layout_follows_members(
        route(server, "graph", run="run", layer="fc1", epoch=3),
        route(server, "graph", run="run", layer="fc1", epoch=2),
        layout3,
        layout2,
    )
    slider.press("Home")
    wait_epoch(frame, 0)
    g0 = route(server, "graph", run="run", layer="fc1", epoch=0)
    assert shown_node_ids(frame) == sorted(n["id"] for n in g0["nodes"])
    g3 = route(server, "graph", run="run", layer="fc1", epoch=3)
    assert [len(n["members"]) for n in g0["nodes"]] != [len(n["members"]) for n in g3["nodes"]]
    assert last == sorted(n["id"] for n in g3["nodes"])
    assert frame.get_attribute("[data-testid=metric-marker]", "data-epoch") == "0"
    assert frame.inner_text("[data-testid=epoch-label]").startswith("0")
    # The parent's URL records the epoch, so the view can be shared.
    page.wait_for_function("() => location.hash.includes('p.topoact.epoch=0')")
    slider.press("ArrowRight")
    wait_epoch(frame, 1)
    frame.click("[data-testid=play]")
    wait_epoch(frame, 3)
    assert frame.inner_text("[data-testid=play]") == "▶"  # stopped by itself at the last epoch
    assert watch.problems() == []
    page.context.close()


def test_node_panel_shows_the_routes_counts_and_thumbnails(server, browser, tmp_path):
    """Click the largest node: the panel's size, class counts and percentages, accuracy and members are those of
    the graph route; member thumbnails load; tracking its members highlights the nodes holding them."""
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    graph = route(server, "graph", run="run", layer="fc1", epoch=3)
    node = max(graph["nodes"], key=lambda n: (n["size"], -n["id"]))
    click_node(page, frame, node["id"])
    panel = frame.locator("[data-testid=node-panel]")
    panel.wait_for(state="visible")
    assert frame.inner_text("[data-testid=panel-title]") == f"Node {node['id']}"
    assert frame.inner_text("[data-testid=panel-size]").startswith(f"{node['size']} (")
    assert frame.inner_text("[data-testid=panel-accuracy]") == f"{100 * node['mean_correct']:.1f}%"
    rows = frame.eval_on_selector_all(
        "[data-testid=panel-class-row]",
        "rows => rows.map(r => [r.dataset.class, ...[...r.querySelectorAll('td')].slice(1, 4).map(td => td.textContent)])",
    )
    labelled = sum(node["classes"])
    expected = sorted(
        (
            (str(k), graph["class_names"][k], str(c), f"{100 * c / labelled:.1f}%")
            for k, c in enumerate(node["classes"])
            if c
        ),
        key=lambda r: -int(r[2]),
    )
    assert sorted(map(tuple, rows)) == sorted(map(tuple, expected))
    assert frame.inner_text("[data-testid=panel-members]") == ", ".join(map(str, node["members"]))
    thumbs = frame.locator("[data-testid=panel-thumbs] img")
    assert thumbs.count() == min(48, node["size"])
    frame.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=panel-thumbs] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    frame.evaluate("() => window.__topoact.settle()")
    page.mouse.move(5, 200)  # off the graph: no tooltip over the picture
    page.wait_for_timeout(200)
    shot = page.screenshot(path=str(tmp_path / "screenshot.png"))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", shot[16:24]) == (1400, 900)

    frame.click("[data-testid=panel-track]")
    frame.wait_for_selector("[data-testid=track-table]")
    assert frame.locator("[data-testid=track-table] tr").count() == 1 + 4  # header + epochs 0..3
    tracked = frame.evaluate("() => [...window.__topoact.view('a').style.tracked].sort((a, b) => a - b)")
    members = set(node["members"])
    holding = sorted(i for i, n in enumerate(graph["nodes"]) if members & set(n["members"]))
    assert tracked == holding
    assert watch.problems() == []
    page.context.close()


def test_class_highlight_search_and_drag(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    graph = route(server, "graph", run="run", layer="fc1", epoch=3)
    focus = "() => { const f = window.__topoact.view('a').style.focus; return f === null ? null : [...f].sort((a, b) => a - b) }"

    frame.click("[data-testid=legend-class][data-class='2']")
    assert frame.evaluate(focus) == [i for i, n in enumerate(graph["nodes"]) if n["classes"][2] > 0]
    frame.click("[data-testid=legend-class][data-class='2']")
    assert frame.evaluate(focus) is None

    node = graph["nodes"][-1]
    frame.fill("[data-testid=search]", f"#{node['id']}")
    assert frame.evaluate(focus) == [len(graph["nodes"]) - 1]
    sample = node["members"][0]
    frame.fill("[data-testid=search]", str(sample))
    assert frame.evaluate(focus) == [i for i, n in enumerate(graph["nodes"]) if sample in n["members"]]
    frame.fill("[data-testid=search]", "")
    assert frame.evaluate(focus) is None

    # Enter on a list of sample ids tracks them: the nodes holding them are ringed, the table lists every epoch.
    a, b = graph["nodes"][0]["members"][0], graph["nodes"][1]["members"][-1]
    frame.fill("[data-testid=search]", f"{a}, s{b}")
    frame.press("[data-testid=search]", "Enter")
    frame.wait_for_selector("[data-testid=track-table]")
    tracked = frame.evaluate("() => [...window.__topoact.view('a').style.tracked].sort((a, b) => a - b)")
    assert tracked == [i for i, n in enumerate(graph["nodes"]) if {a, b} & set(n["members"])]
    assert len(tracked) >= 2 and frame.evaluate("() => window.__topoact.state.track") == [a, b]
    frame.click("[data-testid=track-clear]")
    assert frame.evaluate("() => window.__topoact.view('a').style.tracked") is None

    # The edge threshold hides edges whose Jaccard weight is below it.
    drawn = "() => { const v = window.__topoact.view('a'); v.drawNow(); return v.drawnEdges }"
    assert frame.evaluate(drawn) == len(graph["edges"])
    frame.fill("[data-testid=edge-threshold]", "0.3")
    assert frame.evaluate(drawn) == sum(e["jaccard"] >= 0.3 for e in graph["edges"]) < len(graph["edges"])
    frame.fill("[data-testid=edge-threshold]", "0")

    # The mouse wheel zooms.
    frame.evaluate("() => window.__topoact.settle()")  # the layout has ended and is framed
    k0 = frame.evaluate("() => window.__topoact.view('a').transform.k")
    box = frame.locator("canvas[data-testid=graph-a]").bounding_box()  # page coordinates already
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    frame.wait_for_function("(k) => window.__topoact.view('a').transform.k > k * 1.2", arg=k0)
    frame.click("[data-testid=fit]")  # and Fit brings the whole graph back
    assert abs(frame.evaluate("() => window.__topoact.view('a').transform.k") - k0) < 1e-6 * k0

    # Drag a node with the mouse: it moves, and a drag is not a click (nothing gets selected).
    frame.evaluate("() => window.__topoact.settle()")
    nid = graph["nodes"][0]["id"]
    before = frame.evaluate("(id) => window.__topoact.nodePosition(id)", nid)
    ox, oy = frame_offset(frame)
    page.mouse.move(ox + before["x"], oy + before["y"])
    page.mouse.down()
    page.mouse.move(ox + before["x"] + 90, oy + before["y"] + 60, steps=8)
    page.mouse.up()
    after = frame.evaluate("(id) => window.__topoact.nodePosition(id)", nid)
    assert abs(after["x"] - before["x"] - 90) < 15 and abs(after["y"] - before["y"] - 60) < 15
    assert frame.evaluate("() => window.__topoact.state.node") is None
    assert watch.problems() == []
    page.context.close()


def test_compare_mode_shows_both_epochs_and_links_matches(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    frame.click("[data-testid=compare-toggle]")
    frame.wait_for_selector("body[data-compare-ready]")
    frame.select_option("[data-testid=epoch2-select]", "0")
    frame.wait_for_selector("body[data-compare-ready='3:0']")
    # Forward in time: the route is asked with the earlier graph (B, epoch 0) first.
    cmp = route(server, "compare", run="run", layer="fc1", epoch=0, epoch2=3)
    g0 = route(server, "graph", run="run", layer="fc1", epoch=0)
    assert shown_node_ids(frame, "b") == sorted(n["id"] for n in g0["nodes"])
    assert painted_pixels(frame, "graph-a") > 500 and painted_pixels(frame, "graph-b") > 500
    assert "epoch 3" in frame.inner_text("[data-testid=graph-a-caption]")
    assert "epoch 0" in frame.inner_text("[data-testid=graph-b-caption]")
    counts = dict(
        frame.eval_on_selector_all(
            "[data-testid=compare-counts] .count",
            "cs => cs.map(c => [c.dataset.kind, c.querySelector('b').textContent])",
        )
    )
    for kind in ("matches", "splits", "merges", "births", "deaths"):
        assert counts["matched" if kind == "matches" else kind] == str(len(cmp[kind]))
    # Hover a matched node of A (the later graph: the matches' second column): its matches in B light up.
    a_id = max(cmp["matches"], key=lambda m: m[2])[1]
    frame.evaluate("() => window.__topoact.settle()")
    hover_node(page, frame, a_id, "a")
    frame.wait_for_function("() => window.__topoact.view('b').style.linked !== null")
    linked = frame.evaluate(
        "() => [...window.__topoact.view('b').style.linked].map(i => window.__topoact.view('b').graph.nodes[i].id)"
    )
    assert sorted(linked) == sorted(b for b, a, _ in cmp["matches"] if a == a_id)
    # Another run with another probe set: the server refuses (400) and the page says why, keeping graph A.
    frame.select_option("[data-testid=run2-select]", XSS_RUN)
    frame.wait_for_selector("[data-testid=compare-error]")
    assert "different probe sets" in frame.inner_text("[data-testid=compare-error]")
    assert frame.locator("canvas[data-testid=graph-b]").count() == 0
    assert painted_pixels(frame, "graph-a") > 500
    assert watch.problems(ignore=("status of 400",)) == []
    page.context.close()


def test_markup_in_run_and_class_names_is_shown_as_text(server, browser):
    page, frame, watch = open_topoact(browser, server)
    frame.select_option("[data-testid=run-select]", XSS_RUN)
    frame.wait_for_function(
        "(r) => window.__topoact.state.run === r && document.body.dataset.epoch === '1'", arg=XSS_RUN
    )
    frame.wait_for_function(
        "() => window.__topoact.graph() && window.__topoact.graph().class_names[0].startsWith('<img')"
    )
    legend = frame.eval_on_selector_all(
        "[data-testid=legend-class] .legend-name", "ns => ns.map(n => n.textContent)"
    )
    assert legend == XSS_CLASSES
    graph = route(server, "graph", run=XSS_RUN, layer="fc1", epoch=1)
    node = next(
        n for n in sorted(graph["nodes"], key=lambda n: -n["size"]) if n["classes"][0] or n["classes"][1]
    )
    click_node(page, frame, node["id"])
    frame.wait_for_selector("[data-testid=panel-class-row]")
    names = frame.eval_on_selector_all(
        "[data-testid=panel-class-row] .cls-name", "ns => ns.map(n => n.textContent)"
    )
    assert set(names) & {XSS_CLASSES[0], XSS_CLASSES[1]}
    assert XSS_RUN in frame.inner_text("[data-testid=graph-a-caption]")
    injected = frame.evaluate(
        """() => ({
            imgs: [...document.querySelectorAll('img')].filter(i => !i.closest('[data-testid=panel-thumbs]')).length,
            italics: document.querySelectorAll('i').length,
            bolds: [...document.querySelectorAll('b')].filter(b => b.textContent === 'bold').length,
            xss: window.__xss, parentXss: window.parent.__xss,
        })"""
    )
    assert injected == {"imgs": 0, "italics": 0, "bolds": 0, "xss": None, "parentXss": None}
    assert watch.problems() == []
    page.context.close()


def test_shared_url_restores_the_view(server, browser):
    graph = route(server, "graph", run="run", layer="features.3", epoch=1)
    node_id = graph["nodes"][len(graph["nodes"]) // 2]["id"]
    extra = (
        "&p.topoact.run=run&p.topoact.layer=features.3&p.topoact.epoch=1"
        f"&p.topoact.node={node_id}&p.topoact.color=purity&p.topoact.thr=0.25"
    )
    page, frame, watch = open_topoact(browser, server, hash_extra=extra)
    assert frame.evaluate("() => window.__topoact.epoch") == 1
    assert frame.input_value("[data-testid=layer-select]") == "features.3"
    assert frame.input_value("[data-testid=color-select]") == "purity"
    assert frame.inner_text("[data-testid=edge-threshold-label]") == "0.25"
    assert frame.inner_text("[data-testid=panel-title]") == f"Node {node_id}"
    assert shown_node_ids(frame) == sorted(n["id"] for n in graph["nodes"])
    assert watch.problems() == []
    page.context.close()


def test_reload_refreshes_and_keeps_the_selection(server, browser):
    """TensorBoard's own Reload button reaches the plugin (DataReloaded), which refetches and keeps the view."""
    page, frame, watch = open_topoact(
        browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1&p.topoact.epoch=2"
    )
    graph = route(server, "graph", run="run", layer="fc1", epoch=2)
    node_id = graph["nodes"][0]["id"]
    click_node(page, frame, node_id)
    frame.wait_for_selector("[data-testid=panel-title]")
    renders = frame.evaluate("() => window.__topoact.timings.renders")
    page.click("button.reload-button")
    frame.wait_for_function(
        "(n) => window.__topoact.timings.reloads >= 1 && window.__topoact.timings.renders > n", arg=renders
    )
    assert frame.evaluate("() => [window.__topoact.epoch, window.__topoact.state.node]") == [2, node_id]
    assert frame.inner_text("[data-testid=panel-title]") == f"Node {node_id}"
    assert watch.problems() == []
    page.context.close()


def test_reload_brings_a_new_epoch_into_view(trained_logdir, tmp_path, browser):
    """Training goes on while the tab is open: after TensorBoard's Reload the slider has the new epoch and a view
    that was on the latest epoch moves to it."""
    from tests._tensorboard import later_writer
    from tests._training import read_run
    from topoact_lightning.logformat import summary

    logdir = tmp_path / "live"
    shutil.copytree(trained_logdir / "run", logdir / "run")
    with serve_tensorboard(logdir) as base:
        page, frame, watch = open_topoact(browser, base, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
        assert frame.evaluate("() => window.__topoact.epoch") == 3
        graph = read_run(logdir / "run")["graphs"]["fc1"][3]
        writer = later_writer(logdir / "run")
        summary.write_summary(writer, summary.graph_summary("fc1", graph.to_bytes()), 4)
        writer.close()
        for _ in range(30):  # the server re-reads the logdir every 2 s; press Reload until it has
            page.click("button.reload-button")
            page.wait_for_timeout(500)
            if frame.evaluate("() => window.__topoact.epoch") == 4:
                break
        assert frame.evaluate("() => [window.__topoact.epoch, window.__topoact.epochs]") == [
            4,
            [0, 1, 2, 3, 4],
        ]
        assert frame.inner_text("[data-testid=epoch-label]") == "4 / 4"
        assert watch.problems() == []
        page.context.close()


def test_dark_mode_follows_tensorboard(server, browser):
    page, frame, watch = open_topoact(browser, server, dark=True)
    assert page.evaluate("() => document.body.classList.contains('dark-mode')")
    assert frame.evaluate("() => document.body.classList.contains('dark')")
    bg = frame.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(32, 33, 36)"
    assert watch.problems() == []
    page.context.close()


# ------------------------------------------------------------------------------------- framing and layouts
def nodes_outside(frame, view: str = "a") -> list[int]:
    """Ids of the nodes whose centre lies outside their view's canvas (after the layout has settled)."""
    frame.evaluate("() => window.__topoact.settle()")
    return frame.evaluate(
        """(v) => {
            const c = document.querySelector(`canvas[data-testid="graph-${v}"]`);
            if (!c) return null;
            const r = c.getBoundingClientRect();
            return Object.keys(window.__topoact.layout(v)).map(Number).filter((id) => {
                const p = window.__topoact.nodePosition(id, v);
                return !(p.x >= r.left && p.x <= r.right && p.y >= r.top && p.y <= r.bottom);
            });
        }""",
        view,
    )


def crossings(frame, graph: dict, view: str = "a") -> int:
    """Edge crossings of the drawn layout, counted here from the positions and the graph route's edges."""
    frame.evaluate("() => window.__topoact.settle()")
    pos = {int(k): v for k, v in frame.evaluate("(v) => window.__topoact.layout(v)", view).items()}
    edges = [(e["source"], e["target"]) for e in graph["edges"]]

    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    count = 0
    for i, (a, b) in enumerate(edges):
        for c, d in edges[i + 1 :]:
            if len({a, b, c, d}) < 4:
                continue
            p, q, r, s = pos[a], pos[b], pos[c], pos[d]
            if orient(p, q, r) * orient(p, q, s) < 0 and orient(r, s, p) * orient(r, s, q) < 0:
                count += 1
    return count


def test_every_node_stays_in_view_through_play_switches_and_compare(server, browser):
    """Play through every epoch, switch layer and run, open compare and change B: after each, every node centre
    lies inside its view, in both views."""
    page, frame, watch = open_topoact(
        browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1&p.topoact.epoch=0"
    )
    assert nodes_outside(frame) == []
    frame.click("[data-testid=play]")
    for epoch in (1, 2, 3):
        wait_epoch(frame, epoch)
        assert nodes_outside(frame) == [], f"epoch {epoch}"
    frame.select_option("[data-testid=layer-select]", "features.3")
    frame.wait_for_selector("body[data-layer='features.3']")
    assert nodes_outside(frame) == []
    frame.select_option("[data-testid=run-select]", XSS_RUN)
    frame.wait_for_function("(r) => window.__topoact.graph().run === r", arg=XSS_RUN)
    assert nodes_outside(frame) == []
    frame.select_option("[data-testid=run-select]", "run")
    frame.wait_for_function("() => window.__topoact.graph().run === 'run'")
    frame.click("[data-testid=compare-toggle]")
    frame.wait_for_selector("body[data-compare-ready]")
    assert nodes_outside(frame, "a") == [] and nodes_outside(frame, "b") == []
    frame.select_option("[data-testid=epoch2-select]", "0")
    frame.wait_for_selector("body[data-compare-ready$=':0']")
    assert nodes_outside(frame, "a") == [] and nodes_outside(frame, "b") == []
    layer = frame.evaluate("() => window.__topoact.state.layer")
    other = "fc1" if layer != "fc1" else "features.3"
    frame.select_option("[data-testid=layer2-select]", other)
    frame.wait_for_function("(l) => window.__topoact.state.compare.b.layer === l", arg=other)
    assert nodes_outside(frame, "a") == [] and nodes_outside(frame, "b") == []
    assert watch.problems() == []
    page.context.close()


def test_user_zoom_is_kept_and_hidden_nodes_are_counted(server, browser):
    """After the user zooms in, an epoch step keeps their zoom; the nodes it leaves out are counted on a button
    that fits the graph again."""
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    frame.evaluate("() => window.__topoact.settle()")
    box = frame.locator("canvas[data-testid=graph-a]").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 40)
    page.mouse.wheel(0, -1500)
    frame.wait_for_function("() => !window.__topoact.view('a').autoFit")
    page.wait_for_timeout(400)  # the wheel's zoom transition
    k = frame.evaluate("() => window.__topoact.view('a').transform.k")
    frame.locator("[data-testid=play]").press("ArrowLeft")  # the arrows step epochs from a button too
    wait_epoch(frame, 2)
    hidden = nodes_outside(frame)
    assert frame.evaluate("() => window.__topoact.view('a').transform.k") == k
    assert hidden, "the zoom should leave some nodes outside"
    button = frame.locator("[data-testid=graph-a-offscreen]")
    button.wait_for(state="visible")
    assert button.inner_text().startswith(f"{len(hidden)} node")
    button.click()
    assert nodes_outside(frame) == [] and not button.is_visible()
    assert watch.problems() == []
    page.context.close()


# ---------------------------------------------------------------------------------------------- defaults
def test_tab_opens_on_the_last_watched_layer(server, browser):
    runs = {r["run"]: r["layers"] for r in route(server, "runs")}
    assert runs["run"] == ["features.3", "fc1"] and runs[DEAD_RUN] == ["fc1", "dead"]
    page, frame, watch = open_topoact(browser, server)
    state = frame.evaluate("() => window.__topoact.state")
    assert state["layer"] == runs[state["run"]][-1]
    assert frame.input_value("[data-testid=layer-select]") == state["layer"]
    assert watch.problems() == []
    page.context.close()
    page, frame, watch = open_topoact(browser, server, hash_extra=f"&p.topoact.run={DEAD_RUN}")
    assert frame.evaluate("() => window.__topoact.state.layer") == "dead"
    page.context.close()


def test_compare_defaults_to_the_previous_epoch_forward_in_time(server, browser):
    """Compare opens on B = the epoch before A's, reads "from epoch 2 to epoch 3" with the route's counts for
    (2, 3), follows A's epoch once per change, and rings by the current matching only."""
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    frame.click("[data-testid=compare-toggle]")
    frame.wait_for_selector("body[data-compare-ready='3:2']")
    assert frame.input_value("[data-testid=epoch2-select]") == "2"
    assert frame.inner_text("[data-testid=compare-from]").startswith("From epoch 2")
    assert frame.inner_text("[data-testid=compare-to]").startswith("epoch 3")
    cmp = route(server, "compare", run="run", layer="fc1", epoch=2, epoch2=3)
    counts = dict(
        frame.eval_on_selector_all(
            "[data-testid=compare-counts] .count",
            "cs => cs.map(c => [c.dataset.kind, c.querySelector('b').textContent])",
        )
    )
    assert [counts[k] for k in ("splits", "merges", "births", "deaths")] == [
        str(len(cmp[k])) for k in ("splits", "merges", "births", "deaths")
    ]
    updates = frame.evaluate("() => window.__topoact.compareUpdates()")
    page.keyboard.press("ArrowLeft")
    frame.wait_for_selector("body[data-compare-ready='2:1']")
    page.wait_for_timeout(300)
    assert frame.evaluate("() => window.__topoact.compareUpdates()") == updates + 1
    # The pointer rests on a node of A while B changes: B rings that node's matches in the new comparison.
    frame.evaluate("() => window.__topoact.settle()")
    cmp21 = route(server, "compare", run="run", layer="fc1", epoch=1, epoch2=2)
    a_id = max(cmp21["matches"], key=lambda m: m[2])[1]
    hover_node(page, frame, a_id, "a")
    frame.wait_for_function("() => window.__topoact.view('b').style.linked !== null")
    frame.select_option("[data-testid=epoch2-select]", "0")
    frame.wait_for_selector("body[data-compare-ready='2:0']")
    cmp20 = route(server, "compare", run="run", layer="fc1", epoch=0, epoch2=2)
    linked = frame.evaluate(
        """() => { const c = window.__topoact.view('b'); const l = c.style.linked;
                   return l === null ? [] : [...l].map(i => c.graph.nodes[i].id) }"""
    )
    assert sorted(linked) == sorted(b for b, a, _ in cmp20["matches"] if a == a_id)
    # Zooming one view zooms both (the views share graph coordinates), and the zoom outlives a change of B.
    transforms = "() => ['a', 'b'].map(p => { const v = window.__topoact.view(p); return [v.transform.k, v.transform.x, v.transform.y, v.autoFit] })"
    box = frame.locator("canvas[data-testid=graph-b]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(500)
    a_t, b_t = frame.evaluate(transforms)
    assert a_t == b_t and a_t[3] is False
    frame.select_option("[data-testid=epoch2-select]", "1")
    frame.wait_for_selector("body[data-compare-ready='2:1']")
    assert frame.evaluate(transforms) == [a_t, a_t]
    frame.click("[data-testid=fit]")
    assert nodes_outside(frame, "a") == [] and nodes_outside(frame, "b") == []
    assert watch.problems() == []
    page.context.close()


# ----------------------------------------------------------------------------------------- health, search
def test_a_warned_layer_shows_its_badge(server, browser):
    problems = route(server, "metrics", run=DEAD_RUN, layer="dead")["problems"]
    assert problems, "the monitor should have warned about the dead layer"
    text = next(iter(problems.values()))
    page, frame, watch = open_topoact(browser, server, hash_extra=f"&p.topoact.run={DEAD_RUN}")
    badge = frame.locator("[data-testid=graph-a-health]")
    badge.wait_for(state="visible")
    assert "health warning" in badge.inner_text()
    assert text in badge.get_attribute("title")
    assert text in frame.inner_text("[data-testid=layer-health]")
    options = frame.eval_on_selector_all(
        "[data-testid=layer-select] option", "os => os.map(o => [o.value, o.textContent, o.title])"
    )
    assert options[0] == ["fc1", "fc1", ""]
    assert options[1][:2] == ["dead", "⚠ dead"] and text in options[1][2]
    metrics = frame.eval_on_selector_all("[data-testid=metric-select] option", "os => os.map(o => o.value)")
    assert {"dead_units", "effective_rank", "distance", "accuracy", "mean_loss"} <= set(metrics)
    assert "mean_prediction" not in metrics
    # A healthy layer has no badge.
    frame.select_option("[data-testid=layer-select]", "fc1")
    frame.wait_for_selector("body[data-layer='fc1']")
    assert not badge.is_visible()
    assert watch.problems() == []
    page.context.close()


def test_numeric_class_names_can_be_searched(server, browser):
    """The classes are named "0".."9": "7" is sample 7, "c:7" (or "class:7") the nodes whose dominant class is 7."""
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    graph = route(server, "graph", run="run", layer="fc1", epoch=3)
    seven = graph["class_names"].index("7")
    focus = "() => { const f = window.__topoact.view('a').style.focus; return f === null ? null : [...f].sort((a, b) => a - b) }"

    def dominant(n):
        return max(range(len(n["classes"])), key=lambda k: (n["classes"][k], -k)) if sum(n["classes"]) else -1

    expected = [i for i, n in enumerate(graph["nodes"]) if dominant(n) == seven]
    assert expected
    for query in ("c:7", "class:7"):
        frame.fill("[data-testid=search]", query)
        assert frame.evaluate(focus) == expected
    frame.fill("[data-testid=search]", "7")
    holding = [i for i, n in enumerate(graph["nodes"]) if 7 in n["members"]]
    # Sample 7's nodes; when no node holds it, the search says so and fades nothing.
    assert frame.evaluate(focus) == (holding or None)
    assert frame.locator("[data-testid=search-note]").is_visible() == (not holding)
    assert "class:7" in frame.get_attribute("[data-testid=search]", "title")
    assert watch.problems() == []
    page.context.close()


# -------------------------------------------------------------------------------------- smaller defects
def test_arrow_keys_step_epochs_even_from_the_layer_picker(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    frame.focus("[data-testid=layer-select]")
    page.keyboard.press("ArrowLeft")
    wait_epoch(frame, 2)
    assert frame.evaluate("() => window.__topoact.state.layer") == "fc1"
    frame.focus("[data-testid=search]")  # in a text field the arrows move the caret
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(200)
    assert frame.evaluate("() => window.__topoact.epoch") == 2
    assert watch.problems() == []
    page.context.close()


#: What a select needs beside its text: its padding, and at least this for its arrow.
SELECT_ARROW_PX = 16

# Every control of the toolbars (the main one, the compare bar, the layers bar) shown whole: each select at least
# as wide as its longest option, the search box as wide as its placeholder, no button's text cut, no control past
# the toolbar's right edge. Returns the problems found.
_CUT_OFF_JS = """(arrow) => {
    const ctx = document.createElement('canvas').getContext('2d');
    const px = (v) => parseFloat(v) || 0;
    const cut = [];
    for (const bar of document.querySelectorAll('.toolbar')) {
        if (!bar.offsetParent) continue;
        const right = bar.getBoundingClientRect().right;
        for (const c of bar.querySelectorAll('select, input, button, label, span')) {
            if (!c.offsetParent) continue;
            const cs = getComputedStyle(c);
            ctx.font = cs.font;
            const id = c.dataset.testid || c.textContent.slice(0, 20);
            if (c.getBoundingClientRect().right > right + 0.5) cut.push(`${id}: past the toolbar`);
            if (c.tagName === 'SELECT') {
                const widest = Math.max(...[...c.options].map((o) => ctx.measureText(o.textContent).width));
                if (c.clientWidth < widest + px(cs.paddingLeft) + px(cs.paddingRight) + arrow) cut.push(`${id}: ${c.clientWidth} < ${widest}`);
            } else if (c.tagName === 'INPUT' && c.placeholder) {
                if (c.clientWidth < ctx.measureText(c.placeholder).width + px(cs.paddingLeft) + px(cs.paddingRight)) cut.push(`${id}: placeholder`);
            } else if (c.scrollWidth > c.clientWidth + 0.5 && c.clientWidth > 0) cut.push(`${id}: text cut`);
        }
        if (bar.scrollWidth > bar.clientWidth) cut.push(`${bar.dataset.testid}: overflows`);
    }
    return cut;
}"""


def test_no_control_is_cut_off_at_1280_px_and_the_node_panel_scrolls_into_view(server, browser):
    """At 1,280 px, with a run name as long as Lightning's (``<i>xss</i>/version_0``, like the demo's
    ``digits_cnn/version_0``): every control of the toolbar, the compare bar and the layers bar is shown whole (the
    toolbar wraps to a second row rather than cutting anything)."""
    page, frame, watch = open_topoact(
        browser, server, width=1280, height=720, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1"
    )
    assert XSS_RUN in frame.eval_on_selector_all(
        "[data-testid=run-select] option", "os => os.map(o => o.value)"
    )
    assert frame.evaluate(_CUT_OFF_JS, SELECT_ARROW_PX) == []
    frame.click("[data-testid=compare-toggle]")
    frame.wait_for_selector("body[data-compare-ready]")
    assert frame.evaluate(_CUT_OFF_JS, SELECT_ARROW_PX) == []
    frame.click("[data-testid=layers-toggle]")
    frame.wait_for_selector("body[data-layers-ready]")
    assert frame.evaluate(_CUT_OFF_JS, SELECT_ARROW_PX) == []
    frame.click("[data-testid=layers-toggle]")
    graph = route(server, "graph", run="run", layer="fc1", epoch=3)
    click_node(page, frame, graph["nodes"][0]["id"])
    frame.wait_for_selector("[data-testid=panel-title]")
    frame.wait_for_function(
        """() => { const r = document.querySelector('[data-testid=panel-title]').getBoundingClientRect();
                   return r.top >= 0 && r.bottom <= window.innerHeight }"""
    )
    assert watch.problems() == []
    page.context.close()


def test_chart_range_stays_within_what_the_metric_can_take(server, browser):
    """A constant share (the dead layer's dead_units, 1.0 at every epoch) is charted within [0, 1], with
    several round ticks."""
    page, frame, watch = open_topoact(
        browser,
        server,
        hash_extra=f"&p.topoact.run={DEAD_RUN}&p.topoact.layer=dead&p.topoact.metric=dead_units",
    )
    values = route(server, "metrics", run=DEAD_RUN, layer="dead")["metrics"]["dead_units"]
    assert len(set(values)) == 1
    chart = frame.locator("[data-testid=metric-chart]")
    lo, hi = float(chart.get_attribute("data-lo")), float(chart.get_attribute("data-hi"))
    assert 0 <= lo < values[0] <= hi <= 1
    ticks = frame.eval_on_selector_all(
        "[data-testid=metric-tick]", "ts => ts.map(t => Number(t.textContent))"
    )
    assert len(ticks) >= 3 and all(lo <= t <= hi for t in ticks)
    assert watch.problems() == []
    page.context.close()
