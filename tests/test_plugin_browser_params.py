"""The tab's Mapper parameter card in headless Chromium, against a real ``tensorboard`` on both data back ends.

The session's re-mapping logs (``remap_logdir`` in conftest: the trained run with its stored activations, ``bare``
without any, ``nostore`` with the trained run's ``fc1`` graphs and no activations) and its ``tensorboard`` per data
back end (``remap_server``). Every expected graph is the engine's: ``Mapper`` with the logged parameters so overridden, run
on ``LogReader(run).activations(layer, step)``; the server's messages are fetched from the same server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests._browser import hover_node, new_page, open_topoact, topoact_frame
from tests.test_plugin_remap import expected_graph
from tests.test_plugin_routes import synthetic_graph
from topoact_lightning import LogReader

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LAYER = "fc1"
#: Differs from what the monitor logged (overlap 0.3, automatic eps), so the graphs change.
PRESET = "Overlap-50-Epsilon-Fixed"
#: The browser logs the refused request itself ("Failed to load resource: ... status of 400").
REFUSAL_LOG = "status of 400"


@pytest.fixture(scope="module")
def logdir(remap_logdir: Path) -> Path:
    return remap_logdir


@pytest.fixture(scope="module")
def log(logdir: Path) -> LogReader:
    return LogReader(logdir / "run")


@pytest.fixture
def server(remap_server: str) -> str:
    """The session's ``tensorboard`` on these logs, for each data back end."""
    return remap_server


def preset_graph(log: LogReader, step: int):
    """What Overlap-50-Epsilon-Fixed shows at ``step``: overlap 0.5, the eps of the layer's latest logged graph."""
    eps = log.graph(LAYER, log.steps(LAYER)[-1]).params["eps"]
    return expected_graph(log, LAYER, step, overlap=0.5, eps=eps)


def shown(frame) -> dict:
    """The graph on screen: its node count as drawn, its members, whether it is re-mapped, and its params."""
    frame.evaluate("() => window.__topoact.settle()")
    return frame.evaluate(
        """() => { const g = window.__topoact.graph(); return {
            drawn: window.__topoact.nodeCount(), members: g.nodes.map((n) => n.members),
            remapped: Boolean(g.remapped), params: g.params, epoch: window.__topoact.epoch }; }"""
    )


def wait_remapped(frame, epoch: int, overlap: float) -> dict:
    frame.wait_for_function(
        """([e, o]) => { const t = window.__topoact; const g = t && t.graph(); return g && t.epoch === e && g.remapped
            && g.params.overlap === o && !document.querySelector('[data-testid=params]').dataset.busy; }""",
        arg=[epoch, overlap],
        timeout=30_000,
    )
    return shown(frame)


def server_message(base: str, **params) -> str:
    url = f"{base}/data/plugin/topoact/graph?{urllib.parse.urlencode(params)}"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=30)
    assert e.value.code == 400
    return e.value.read().decode().strip()


def test_a_preset_remaps_every_epoch_as_the_engine_says_and_the_url_reopens_it(server, browser, log):
    steps = log.steps(LAYER)
    page, frame, watch = open_topoact(
        browser, server, hash_extra=f"&p.topoact.run=run&p.topoact.layer={LAYER}"
    )
    assert frame.input_value("[data-testid=params-preset]") == "As logged"
    assert frame.locator("[data-testid=remap-summary]").count() == 0
    logged = {s: log.graph(LAYER, s) for s in steps}
    assert shown(frame)["drawn"] == logged[steps[-1]].n_nodes

    frame.select_option("[data-testid=params-preset]", PRESET)
    got = wait_remapped(frame, steps[-1], 0.5)
    want = {s: preset_graph(log, s) for s in (steps[0], steps[-1])}
    assert got["drawn"] == want[steps[-1]].n_nodes
    assert got["members"] == [m.tolist() for m in want[steps[-1]].members]
    assert got["params"]["eps_rule"] == "fixed"
    # The preset does change the graphs (else this test would prove nothing).
    assert any(want[s].n_nodes != logged[s].n_nodes for s in want)
    summary_text = frame.inner_text("[data-testid=graph-summary]")
    assert f"{want[steps[-1]].n_nodes}\nnodes" in summary_text
    assert "Re-mapped from stored activations" in summary_text and "overlap 0.5" in summary_text
    assert "fixed for the layer" in summary_text

    # Another epoch, same preset and the same eps: the slider shows a comparable evolution.
    frame.fill("[data-testid=epoch-slider]", "0")
    got0 = wait_remapped(frame, steps[0], 0.5)
    assert got0["drawn"] == want[steps[0]].n_nodes
    assert got0["members"] == [m.tolist() for m in want[steps[0]].members]
    assert got0["params"]["eps"] == got["params"]["eps"]
    # The chart's metrics are the re-mapped graphs' too.
    frame.wait_for_function(
        "(n) => window.__topoact.state.metrics && window.__topoact.state.metrics.metrics.nodes[0] === n",
        arg=want[steps[0]].n_nodes,
    )

    # The parent's URL keeps the parameters: reopening it shows the same preset and graph.
    page.wait_for_function(
        "(e) => location.hash.includes('p.topoact.eps=fixed') && location.hash.includes(`p.topoact.epoch=${e}`)",
        arg=steps[0],
    )
    url = page.url
    assert "p.topoact.overlap=0.5" in url
    page2, watch2 = new_page(browser)
    page2.goto(url)
    frame2 = topoact_frame(page2)
    again = wait_remapped(frame2, steps[0], 0.5)
    assert again["members"] == got0["members"]
    assert frame2.input_value("[data-testid=params-preset]") == PRESET
    assert frame2.evaluate("() => window.__topoact.state.eps") == "fixed"
    assert watch.problems() == [] and watch2.problems() == []
    page2.context.close()
    page.context.close()


def test_a_refused_value_shows_the_servers_message_and_keeps_the_graph(server, browser, log):
    step = log.steps(LAYER)[-1]
    page, frame, watch = open_topoact(
        browser, server, hash_extra=f"&p.topoact.run=run&p.topoact.layer={LAYER}"
    )
    frame.fill("[data-testid=params-intervals]", "7")
    good = wait_remapped(frame, step, log.graph(LAYER, step).params["overlap"])
    assert good["members"] == [m.tolist() for m in expected_graph(log, LAYER, step, n_intervals=7).members]
    assert frame.input_value("[data-testid=params-preset]") == "Custom"

    page.wait_for_function("() => location.hash.includes('p.topoact.intervals=7')")
    frame.fill("[data-testid=params-intervals]", "0")
    message = server_message(server, run="run", layer=LAYER, epoch=step, n_intervals=0)
    assert "n_intervals" in message
    frame.wait_for_selector("[data-testid=params-error]", timeout=20_000)
    assert frame.inner_text("[data-testid=params-error]") == message
    after = shown(frame)
    assert after["members"] == good["members"] and after["params"]["n_intervals"] == 7
    assert frame.locator("[data-testid=status]").is_hidden()
    # The refused value leaves the state and the URL: they hold the parameters of the graph on screen again,
    # while the field keeps what was typed beside the server's reason.
    assert frame.evaluate("() => window.__topoact.state.intervals") == "7"
    assert frame.input_value("[data-testid=params-intervals]") == "0"
    page.wait_for_timeout(300)  # the URL is written 150 ms after a change
    assert "p.topoact.intervals=7" in page.url and "p.topoact.intervals=0" not in page.url
    # A refused eps too (the server's rule: a positive number, auto or fixed): unticking "auto" makes the eps
    # shown a given number, which is accepted; -1 is not, and goes.
    frame.uncheck("[data-testid=params-eps-auto]")
    frame.wait_for_function(
        "() => { const g = window.__topoact.graph(); return g.params.eps_rule === 'given' && !window.__topoact.state.remapError; }",
        timeout=30_000,
    )
    given = frame.evaluate("() => window.__topoact.state.eps")
    frame.fill("[data-testid=params-eps]", "-1")
    frame.wait_for_function(
        "() => (window.__topoact.state.remapError || '').includes('eps')",
        timeout=20_000,
    )
    page.wait_for_timeout(300)
    assert frame.evaluate("() => window.__topoact.state.eps") == given
    assert f"p.topoact.eps={given}" in page.url and "p.topoact.eps=-1" not in page.url

    # A good value again clears the message.
    frame.fill("[data-testid=params-intervals]", "9")
    got = frame.wait_for_function(
        "() => { const g = window.__topoact.graph(); return g.params.n_intervals === 9 && g; }",
        timeout=30_000,
    )
    assert got
    frame.wait_for_selector("[data-testid=params-error]", state="detached", timeout=5_000)
    assert frame.locator("[data-testid=params-message]").is_hidden()
    assert watch.problems(ignore=(REFUSAL_LOG,)) == []
    page.context.close()


def test_the_card_is_disabled_with_its_reason_without_stored_activations(server, browser):
    # Parameters in the URL are ignored for a run that cannot be re-mapped: its logged graph is shown.
    page, frame, watch = open_topoact(
        browser,
        server,
        hash_extra="&p.topoact.run=bare&p.topoact.layer=fc1&p.topoact.eps=fixed&p.topoact.overlap=0.5",
    )
    reason = frame.inner_text("[data-testid=params-reason]")
    assert reason == "Re-mapping needs stored activations: this run was logged with store_activations=False."
    for control in ("preset", "intervals", "overlap", "eps", "eps-auto", "min-samples", "lens"):
        assert frame.is_disabled(f"[data-testid=params-{control}]"), control
    g = shown(frame)
    assert not g["remapped"] and g["drawn"] == synthetic_graph(0).n_nodes
    # Back on the trained run, the card is enabled and the URL's parameters apply.
    frame.select_option("[data-testid=run-select]", "run")
    frame.wait_for_function(
        "() => window.__topoact.graph() && window.__topoact.graph().remapped", timeout=30_000
    )
    assert frame.is_enabled("[data-testid=params-preset]")
    assert frame.input_value("[data-testid=params-preset]") == PRESET
    assert frame.locator("[data-testid=params-reason]").count() == 0
    assert watch.problems() == []
    page.context.close()


def test_every_view_on_screen_uses_the_parameters(server, browser, log):
    """Compare mode's B and Layers mode's other layer are re-mapped with the card's parameters too (a fixed eps
    being each layer's own)."""
    a, b = log.steps(LAYER)[-1], log.steps(LAYER)[-2]
    extra = f"&p.topoact.run=run&p.topoact.layer={LAYER}&p.topoact.cmp=1&p.topoact.overlap=0.5&p.topoact.eps=fixed"
    page, frame, watch = open_topoact(browser, server, hash_extra=extra)
    frame.wait_for_selector(f"body[data-compare-ready='{a}:{b}']", timeout=30_000)
    got = frame.evaluate(
        "() => { const g = window.__topoact.view('b').graph; return [g.remapped, g.nodes.map((n) => n.members)]; }"
    )
    assert got == [True, [m.tolist() for m in preset_graph(log, b).members]]
    assert frame.evaluate("() => window.__topoact.nodeCount('b')") == preset_graph(log, b).n_nodes
    # Each caption says its graph is not the logged one, the earlier (B) on the left.
    captions = [frame.inner_text(f"[data-testid=graph-{v}-caption-text]") for v in ("b", "a")]
    assert captions == [
        f"From epoch {b} · run / {LAYER} · re-mapped",
        f"To epoch {a} · run / {LAYER} · re-mapped",
    ]

    frame.click("[data-testid=layers-toggle]")
    other = "features.3"
    frame.wait_for_selector(f"body[data-layers-ready='{a}:{other},{LAYER}']", timeout=30_000)
    eps = log.graph(other, log.steps(other)[-1]).params["eps"]
    want = expected_graph(log, other, a, overlap=0.5, eps=eps)
    got = frame.evaluate(
        "(l) => { const g = window.__topoact.state.layers.panels.find((p) => p.layer === l).graph; "
        "return [g.remapped, g.params.eps, g.nodes.map((n) => n.members)]; }",
        other,
    )
    assert got == [True, eps, [m.tolist() for m in want.members]]
    shown = frame.evaluate("() => window.__topoact.layers()")
    assert [v["caption"] for v in shown] == [
        f"run / {layer} · epoch {a} · re-mapped" for layer in (other, LAYER)
    ]
    assert watch.problems() == []
    page.context.close()


def test_compare_with_a_side_without_stored_activations_shows_logged_graphs_on_both(server, browser, log):
    """B (``nostore``) cannot be re-mapped: A, B and the comparison are then all the logged graphs, so the route's
    node ids are those on screen (hover links and the summary describe the graphs shown); closing compare re-maps A."""
    a, b = log.steps(LAYER)[-1], log.steps(LAYER)[-2]
    logged_a = [m.tolist() for m in log.graph(LAYER, a).members]
    # The preset changes A's graph (else showing the logged one would prove nothing).
    assert [m.tolist() for m in preset_graph(log, a).members] != logged_a
    extra = (
        f"&p.topoact.run=run&p.topoact.layer={LAYER}&p.topoact.cmp=1&p.topoact.run2=nostore"
        f"&p.topoact.epoch2={b}&p.topoact.overlap=0.5&p.topoact.eps=fixed"
    )
    page, frame, watch = open_topoact(browser, server, hash_extra=extra)
    frame.wait_for_selector(f"body[data-compare-ready='{a}:{b}']", timeout=30_000)
    frame.evaluate("() => window.__topoact.settle()")
    got = frame.evaluate(
        """() => { const s = window.__topoact.state; const m = (g) => g.nodes.map((n) => n.members);
            return { a: m(s.graph), aRemapped: Boolean(s.graph.remapped), b: m(s.compare.graph),
                     bRemapped: Boolean(s.compare.graph.remapped), cmp: s.compare.cmp,
                     drawn: [window.__topoact.nodeCount("a"), window.__topoact.nodeCount("b")] }; }"""
    )
    assert got["a"] == logged_a and not got["aRemapped"]
    assert got["b"] == [m.tolist() for m in log.graph(LAYER, b).members] and not got["bRemapped"]
    # The comparison the page holds is the route's for the two logged graphs, and describes the graphs drawn.
    cmp = got["cmp"]
    query = {"run": cmp["a"]["run"], "layer": cmp["a"]["layer"], "epoch": cmp["a"]["epoch"]}
    query.update(run2=cmp["b"]["run"], layer2=cmp["b"]["layer"], epoch2=cmp["b"]["epoch"])
    with urllib.request.urlopen(
        f"{server}/data/plugin/topoact/compare?{urllib.parse.urlencode(query)}", timeout=30
    ) as r:
        assert cmp == json.loads(r.read())
    by_epoch = {cmp["a"]["epoch"]: cmp["a"]["nodes"], cmp["b"]["epoch"]: cmp["b"]["nodes"]}
    assert [by_epoch[a], by_epoch[b]] == got["drawn"] == [len(got["a"]), len(got["b"])]
    # The card says why its parameters do not apply, and the captions do not claim a re-mapped graph.
    reason = frame.inner_text("[data-testid=params-reason]")
    assert reason.startswith(f"Compared with nostore / {LAYER}: Re-mapping needs stored activations")
    assert frame.is_disabled("[data-testid=params-preset]")
    captions = [frame.inner_text(f"[data-testid=graph-{v}-caption-text]") for v in ("b", "a")]
    assert captions == [f"From nostore / {LAYER} · epoch {b}", f"To run / {LAYER} · epoch {a}"]

    # Hovering a node of A rings in B exactly the route's matches of the node under the pointer.
    a_col = 0 if cmp["a"]["run"] == "run" else 1  # the route lists the earlier graph (here B) first
    matched = sorted({m[a_col] for m in cmp["matches"]})
    assert matched
    hover_node(page, frame, matched[0], "a")
    frame.wait_for_function("() => window.__topoact.view('a').hovered !== null")
    rings = frame.evaluate(
        """() => { const a = window.__topoact.view('a'); const v = window.__topoact.view('b');
            return { hovered: a.graph.nodes[a.hovered].id,
                     linked: v.style.linked ? [...v.style.linked].map((i) => v.graph.nodes[i].id) : [] }; }"""
    )
    want = sorted(m[1 - a_col] for m in cmp["matches"] if m[a_col] == rings["hovered"])
    assert sorted(rings["linked"]) == want

    # Without compare the parameters apply to A again.
    frame.click("[data-testid=compare-toggle]")
    again = wait_remapped(frame, a, 0.5)
    assert again["members"] == [m.tolist() for m in preset_graph(log, a).members]
    assert frame.is_enabled("[data-testid=params-preset]")
    assert watch.problems() == []
    page.context.close()


def test_a_failed_remap_is_an_error_not_a_refusal_and_refetches_nothing_else(server, browser, log):
    """Only a 400 is a refused parameter set: a 503 for the re-mapped graph (injected: the route is real otherwise)
    goes to the error status, not the card, and the chart's metrics are not asked for the failed parameters."""
    step = log.steps(LAYER)[-1]
    page, frame, watch = open_topoact(
        browser, server, hash_extra=f"&p.topoact.run=run&p.topoact.layer={LAYER}"
    )
    frame.wait_for_function("() => window.__topoact.graph() && window.__topoact.state.metrics")
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.route(
        "**/data/plugin/topoact/graph?*n_intervals=11*",
        lambda route: route.fulfill(status=503, body="the graph worker is busy"),
    )
    frame.fill("[data-testid=params-intervals]", "11")
    frame.wait_for_selector("[data-testid=status][data-kind=error]", timeout=20_000)
    assert "HTTP 503" in frame.inner_text("[data-testid=status]")
    assert frame.locator("[data-testid=params-error]").count() == 0
    assert not shown(frame)["remapped"]
    assert any("/graph?" in u and "n_intervals=11" in u for u in asked)
    assert not [u for u in asked if "/metrics?" in u and "n_intervals=11" in u]

    # A value the server takes shows its graph and its metrics.
    frame.fill("[data-testid=params-intervals]", "7")
    good = wait_remapped(frame, step, log.graph(LAYER, step).params["overlap"])
    assert good["params"]["n_intervals"] == 7
    assert frame.locator("[data-testid=status]").is_hidden()
    frame.wait_for_function(
        "() => window.__topoact.state.metrics && window.__topoact.state.metrics.metrics.nodes.length > 0"
    )
    assert any("/metrics?" in u and "n_intervals=7" in u for u in asked)
    assert watch.problems(ignore=("status of 503",)) == []
    page.context.close()


def test_the_metric_selector_re_maps_with_the_servers_metrics(server, browser, log):
    """The card's metric selector offers the metrics the server states (the params route) and re-maps with the one
    chosen, as the engine would; the URL keeps it."""
    step = log.steps(LAYER)[-1]
    page, frame, watch = open_topoact(
        browser, server, hash_extra=f"&p.topoact.run=run&p.topoact.layer={LAYER}"
    )
    offered = frame.eval_on_selector_all("[data-testid=params-metric] option", "os => os.map(o => o.value)")
    with urllib.request.urlopen(f"{server}/data/plugin/topoact/params", timeout=30) as r:
        assert offered == json.loads(r.read())["parameters"]["metric"]["options"]
    assert frame.input_value("[data-testid=params-metric]") == log.graph(LAYER, step).params["metric"]
    other = next(m for m in offered if m != log.graph(LAYER, step).params["metric"])
    frame.select_option("[data-testid=params-metric]", other)
    got = wait_remapped(frame, step, log.graph(LAYER, step).params["overlap"])
    want = expected_graph(log, LAYER, step, metric=other)
    assert got["params"]["metric"] == other
    assert got["members"] == [m.tolist() for m in want.members]
    # The metric changes the graph (else this would prove nothing), and the URL reopens it.
    assert [m.tolist() for m in log.graph(LAYER, step).members] != got["members"]
    page.wait_for_function("(m) => location.hash.includes(`p.topoact.dist=${m}`)", arg=other)
    assert "metric " + other in frame.inner_text("[data-testid=remap-summary]")
    assert watch.problems() == []
    page.context.close()


def test_the_colour_choice_survives_an_empty_re_map_and_says_why(server, browser, log):
    """A re-map whose graph has no nodes cannot show the colour chosen: the tab says so and keeps the choice (in
    the state, the selector and the URL), which applies again once a graph can show it."""
    step = log.steps(LAYER)[-1]
    page, frame, watch = open_topoact(
        browser, server, hash_extra=f"&p.topoact.run=run&p.topoact.layer={LAYER}&p.topoact.color=purity"
    )
    assert frame.input_value("[data-testid=color-select]") == "purity"
    frame.fill("[data-testid=params-min-samples]", "1000")  # more than the probe holds: every sample is noise
    frame.wait_for_function(
        "() => { const g = window.__topoact.graph(); return g && g.remapped && g.nodes.length === 0; }",
        timeout=30_000,
    )
    assert frame.evaluate("() => window.__topoact.state.color") == "purity"
    assert frame.input_value("[data-testid=color-select]") == "purity"
    option = frame.eval_on_selector("[data-testid=color-select]", "s => s.selectedOptions[0].textContent")
    assert "not in this graph" in option
    note = frame.inner_text("[data-testid=color-note]")
    assert "purity" in note and "no nodes" in note
    page.wait_for_function("() => location.hash.includes('p.topoact.min_samples=1000')")
    assert "p.topoact.color=purity" in page.url
    # Back to the logged graphs: the choice applies again, with no note.
    frame.select_option("[data-testid=params-preset]", "As logged")
    frame.wait_for_function(
        "(e) => { const g = window.__topoact.graph(); return g && !g.remapped && window.__topoact.epoch === e; }",
        arg=step,
        timeout=30_000,
    )
    assert frame.evaluate("() => window.__topoact.view('a').style.colorMode") == "purity"
    assert frame.locator("[data-testid=color-note]").count() == 0
    assert "p.topoact.color=purity" in page.url
    assert watch.problems() == []
    page.context.close()
