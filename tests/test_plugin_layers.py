"""Layers mode of the TopoAct tab in headless Chromium: the run's layers side by side at one epoch, sharing the
class filter, the search and the epoch, linked by samples, and reopened from the URL.

Uses the session's trained run (layers ``features.3`` and ``fc1``, epochs 0..3); every expectation is checked
against the plugin's own graph route on the same server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._browser import click_node, frame_offset, hover_node, open_topoact, serve_tensorboard
from tests.test_plugin_browser import painted_pixels, route

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LAYERS = ["features.3", "fc1"]


@pytest.fixture(scope="module")
def server(trained_logdir: Path):
    with serve_tensorboard(trained_logdir) as base:
        yield base


def layers_ready(frame, epoch: int) -> list[dict]:
    frame.wait_for_selector(f"body[data-layers-ready='{epoch}:{','.join(LAYERS)}']", timeout=20_000)
    frame.evaluate("() => window.__topoact.settle()")
    return frame.evaluate("() => window.__topoact.layers()")


def expected_focus(graph: dict, keep) -> list[int]:
    return [i for i, n in enumerate(graph["nodes"]) if keep(n)]


def test_layers_mode_shows_the_layers_with_captions_shared_filter_and_linking(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=fc1")
    frame.click("[data-testid=layers-toggle]")
    shown = layers_ready(frame, 3)
    graphs = {layer: route(server, "graph", run="run", layer=layer, epoch=3) for layer in LAYERS}
    # Watch order, input side first, each captioned, each with every node of its graph inside its own view.
    assert [v["layer"] for v in shown] == LAYERS
    for v in shown:
        assert v["caption"] == f"run / {v['layer']} · epoch 3"
        assert v["nodes"] == len(graphs[v["layer"]]["nodes"]) > 0
        assert v["offscreen"] == 0, v
        assert v["width"] > 300  # side by side in a 1400 px page with the side bar
    assert frame.input_value("[data-testid=layers-select-0]") == "features.3"
    assert frame.input_value("[data-testid=layers-select-1]") == "fc1"
    assert painted_pixels(frame, "graph-layer-0") > 500 and painted_pixels(frame, "graph-a") > 500

    # One class filter (the legend of the current layer) fades the same class in every view.
    frame.click("[data-testid=legend-class][data-class='2']")
    for layer in LAYERS:
        focus = frame.evaluate("(l) => window.__topoact.layerFocus(l)", layer)
        assert focus == expected_focus(graphs[layer], lambda n: n["classes"][2] > 0), layer
    frame.click("[data-testid=legend-class][data-class='2']")
    assert frame.evaluate("() => window.__topoact.layerFocus('features.3')") is None

    # The search too: `class:NAME` keeps the nodes whose dominant class it is, a sample id the nodes holding it.
    frame.fill("[data-testid=search]", "class:7")
    for layer in LAYERS:
        focus = frame.evaluate("(l) => window.__topoact.layerFocus(l)", layer)
        dominant = [
            max(range(len(n["classes"])), key=lambda k: (n["classes"][k], -k)) for n in graphs[layer]["nodes"]
        ]
        assert focus == [
            i for i, d in enumerate(dominant) if d == 7 and graphs[layer]["nodes"][i]["classes"][7] > 0
        ]
    sample = graphs["fc1"]["nodes"][0]["members"][0]
    frame.fill("[data-testid=search]", str(sample))
    for layer in LAYERS:
        focus = frame.evaluate("(l) => window.__topoact.layerFocus(l)", layer)
        assert focus == expected_focus(graphs[layer], lambda n: sample in n["members"]), layer
    frame.fill("[data-testid=search]", "")

    # Hovering a node of one layer rings the nodes of the other layer that hold its samples.
    node = max(graphs["fc1"]["nodes"], key=lambda n: len(n["members"]))
    hover_node(page, frame, node["id"], "a")
    frame.wait_for_function("() => window.__topoact.layerLinked('features.3').length > 0")
    members = set(node["members"])
    want = expected_focus(graphs["features.3"], lambda n: members & set(n["members"]))
    assert frame.evaluate("() => window.__topoact.layerLinked('features.3')") == want
    other = max(graphs["features.3"]["nodes"], key=lambda n: len(n["members"]))
    pos = frame.evaluate("(id) => window.__topoact.layerNodePosition('features.3', id)", other["id"])
    ox, oy = frame_offset(frame)
    page.mouse.move(ox + pos["x"], oy + pos["y"])
    members = set(other["members"])
    want = expected_focus(graphs["fc1"], lambda n: members & set(n["members"]))
    frame.wait_for_function(
        "(w) => JSON.stringify(window.__topoact.layerLinked('fc1')) === JSON.stringify(w)", arg=want
    )

    # Selecting a node of the current layer keeps its samples ringed in the other layer once the pointer leaves.
    page.mouse.move(5, 300)
    click_node(page, frame, node["id"], "a")
    members = set(node["members"])
    want = expected_focus(graphs["features.3"], lambda n: members & set(n["members"]))
    frame.wait_for_function(
        "(w) => JSON.stringify(window.__topoact.layerLinked('features.3')) === JSON.stringify(w)", arg=want
    )
    page.mouse.move(5, 300)
    frame.focus("[data-testid=layers-select-0]")
    page.keyboard.press("Escape")  # deselects
    assert frame.evaluate("() => window.__topoact.state.node") is None
    frame.wait_for_function("() => window.__topoact.layerLinked('features.3').length === 0")

    # The epoch slider moves every view.
    frame.fill("[data-testid=epoch-slider]", "1")
    shown = layers_ready(frame, 1)
    assert [v["caption"] for v in shown] == [f"run / {layer} · epoch 1" for layer in LAYERS]
    for v in shown:
        assert v["nodes"] == len(route(server, "graph", run="run", layer=v["layer"], epoch=1)["nodes"])
        assert v["offscreen"] == 0, v

    # Leaving the mode removes the extra view.
    frame.click("[data-testid=layers-toggle]")
    frame.wait_for_function("() => window.__topoact.layers().length === 1")
    assert frame.locator("canvas[data-testid=graph-layer-0]").count() == 0
    assert watch.problems() == []
    page.context.close()


def test_the_url_reopens_layers_mode_with_the_chosen_layers(server, browser):
    extra = "&p.topoact.run=run&p.topoact.layer=features.3&p.topoact.epoch=2&p.topoact.lay=1&p.topoact.lays=fc1,features.3"
    page, frame, watch = open_topoact(browser, server, hash_extra=extra)
    shown = layers_ready(frame, 2)
    assert [(v["layer"], v["caption"]) for v in shown] == [
        (layer, f"run / {layer} · epoch 2") for layer in LAYERS
    ]
    assert all(v["offscreen"] == 0 for v in shown)
    assert frame.evaluate("() => window.__topoact.state.lay") is True
    # Choosing a single layer (the third picker stays empty, the second repeats the first) leaves the default set,
    # and the state written to the URL keeps the mode.
    assert frame.input_value("[data-testid=layers-select-2]") == ""
    page.wait_for_function("() => location.hash.includes('p.topoact.lay=1')")
    assert watch.problems() == []
    page.context.close()


def test_every_panel_stays_readable_at_1280_px(server, browser):
    """At 1,280 x 800, each layer's panel draws its nodes at least 60% as large as the single view of that layer
    does (panels keep a readable width; those that do not fit scroll sideways instead of shrinking)."""
    single = {}
    for layer in LAYERS:
        page, frame, _ = open_topoact(
            browser, server, width=1280, height=800, hash_extra=f"&p.topoact.run=run&p.topoact.layer={layer}"
        )
        frame.evaluate("() => window.__topoact.settle()")
        graph = route(server, "graph", run="run", layer=layer, epoch=3)
        node = max(graph["nodes"], key=lambda n: (n["size"], -n["id"]))
        single[layer] = (
            node["id"],
            frame.evaluate("(id) => window.__topoact.nodePosition(id).r", node["id"]),
        )
        page.context.close()
    page, frame, watch = open_topoact(
        browser,
        server,
        width=1280,
        height=800,
        hash_extra="&p.topoact.run=run&p.topoact.layer=fc1&p.topoact.lay=1",
    )
    shown = layers_ready(frame, 3)
    assert [v["layer"] for v in shown] == LAYERS
    for layer, (node_id, r) in single.items():
        in_panel = frame.evaluate(
            "([l, id]) => window.__topoact.layerNodePosition(l, id).r", [layer, node_id]
        )
        assert in_panel >= 0.6 * r, (layer, in_panel, r)
    assert all(v["offscreen"] == 0 for v in shown)
    assert watch.problems() == []
    page.context.close()
