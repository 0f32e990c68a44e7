"""The projection panel of the TopoAct tab in headless Chromium, against real ``tensorboard`` processes on both data
back ends: linked highlighting both ways (a node, a class, a search -> its points; a box or a lasso of points ->
the nodes holding them), the URL reopening the panel, the epoch slider keeping it in step, and a layer without
stored activations disabling it with the reason.

Uses the session's trained run (layers ``features.3`` and ``fc1``, epochs 0..3, stored activations) plus a run
``bare`` logged without them; every expectation is computed from the plugin's own graph and projection routes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests._browser import click_node, frame_offset, open_topoact, serve_tensorboard
from tests.test_plugin_browser import route
from tests.test_plugin_remap import with_bare_run

pytestmark = [pytest.mark.slow, pytest.mark.browser]

OPEN = "&p.topoact.run=run&p.topoact.layer=fc1&p.topoact.proj=1"


@pytest.fixture(scope="module")
def logdir(trained_logdir, tmp_path_factory) -> Path:
    return with_bare_run(trained_logdir, tmp_path_factory.mktemp("projection_browser"), steps=2)


@pytest.fixture(scope="module", params=[[], ["--load_fast=false"]], ids=["rust", "python"])
def server(logdir, request):
    with serve_tensorboard(logdir, *request.param) as base:
        yield base


def ready(frame, layer: str, epoch: int, method: str = "pca") -> dict:
    frame.wait_for_selector(f"body[data-projection-ready='{layer}:{epoch}:{method}']", timeout=60_000)
    frame.evaluate("() => window.__topoact.settle()")
    return frame.evaluate("() => window.__topoact.projection()")


def highlighted(frame, want) -> list[int] | None:
    """The projection's highlighted samples, once they are ``want`` (or the test's timeout says what they were)."""
    frame.wait_for_function(
        "(w) => JSON.stringify(window.__topoact.projection().highlighted) === JSON.stringify(w)", arg=want
    )
    return frame.evaluate("() => window.__topoact.projection().highlighted")


def focused_ids(frame, want) -> list[int] | None:
    frame.wait_for_function(
        "(w) => JSON.stringify(window.__topoact.focused()) === JSON.stringify(w)", arg=want
    )
    return frame.evaluate("() => window.__topoact.focused()")


def escape(page, frame) -> None:
    """Esc inside the tab's frame (the keyboard goes where the focus is)."""
    frame.focus("[data-testid=projection-method]")
    page.keyboard.press("Escape")


def lasso(page, frame, polygon: list[tuple[float, float]]) -> None:
    """Shift+drag through the vertices of ``polygon`` (iframe client coordinates) with the real mouse."""
    ox, oy = frame_offset(frame)
    page.keyboard.down("Shift")
    page.mouse.move(ox + polygon[0][0], oy + polygon[0][1])
    page.mouse.down()
    for x, y in polygon[1:]:
        page.mouse.move(ox + x, oy + y)
    page.mouse.up()
    page.keyboard.up("Shift")


def holding(graph: dict, samples) -> list[int]:
    samples = set(samples)
    return sorted(n["id"] for n in graph["nodes"] if samples & set(n["members"]))


def drawn_fit(positions, proj: dict) -> tuple[float, float]:
    """How the drawn points (client pixels) follow the route's ``x``/``y``: the uniform scale (y up) and shift that
    fit best, and the largest distance in pixels that remains."""
    drawn = np.array(positions, dtype=float)
    given = np.column_stack([proj["x"], proj["y"]]) * [1.0, -1.0]
    drawn -= drawn.mean(axis=0)
    given -= given.mean(axis=0)
    scale = float((drawn * given).sum() / (given * given).sum())
    return scale, float(np.linalg.norm(drawn - scale * given, axis=1).max())


def inside_polygon(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    inside = False
    for (ax, ay), (bx, by) in zip(poly, poly[-1:] + poly[:-1], strict=True):
        if (ay > y) != (by > y) and x < (bx - ax) * (y - ay) / (by - ay) + ax:
            inside = not inside
    return inside


def clear_box(positions, x0: float, y0: float, x1: float, y1: float):
    """A box near the given one whose edges pass no closer than a pixel to any point (an exact expectation)."""
    for shift in range(0, 40):
        bx0, bx1, by0, by1 = x0 + shift * 0.7, x1 + shift * 0.7, y0 + shift * 0.3, y1 + shift * 0.3
        near = any(
            (abs(px - e) < 1.0 and by0 - 1 <= py <= by1 + 1) for px, py in positions for e in (bx0, bx1)
        ) or any((abs(py - e) < 1.0 and bx0 - 1 <= px <= bx1 + 1) for px, py in positions for e in (by0, by1))
        if not near:
            return bx0, by0, bx1, by1
    raise AssertionError("no clear box found")


def test_a_node_a_class_and_a_search_highlight_exactly_their_points(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra=OPEN + "&p.topoact.epoch=3")
    shown = ready(frame, "fc1", 3)
    proj = route(server, "projection", run="run", layer="fc1", epoch=3)
    graph = route(server, "graph", run="run", layer="fc1", epoch=3)
    assert shown["points"] == len(proj["x"]) == graph["n_samples"]
    assert shown["caption"] == "fc1 · epoch 3 · PCA" and shown["alignedTo"] == 2
    assert shown["highlighted"] is None and shown["width"] > 300
    # Every point inside the panel.
    box = frame.evaluate(
        "() => { const r = document.querySelector('[data-testid=projection]').getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; }"
    )
    positions = frame.evaluate("() => window.__topoact.pointPositions()")
    assert all(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in positions)

    node = max(graph["nodes"], key=lambda n: len(n["members"]))
    click_node(page, frame, node["id"])
    assert highlighted(frame, sorted(node["members"])) == sorted(node["members"])
    page.mouse.move(5, 300)
    escape(page, frame)
    highlighted(frame, None)

    frame.click("[data-testid=legend-class][data-class='2']")
    assert highlighted(frame, [i for i, k in enumerate(proj["labels"]) if k == 2])
    frame.click("[data-testid=legend-class][data-class='2']")
    frame.fill("[data-testid=search]", "s17")
    assert highlighted(frame, [17]) == [17]
    frame.fill("[data-testid=search]", "")
    highlighted(frame, None)
    assert watch.problems() == []
    page.context.close()


def test_a_box_and_a_lasso_of_points_highlight_the_nodes_holding_them(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra=OPEN + "&p.topoact.epoch=3")
    ready(frame, "fc1", 3)
    graph = route(server, "graph", run="run", layer="fc1", epoch=3)
    positions = frame.evaluate("() => window.__topoact.pointPositions()")
    xs, ys = sorted(p[0] for p in positions), sorted(p[1] for p in positions)
    n = len(positions)
    x0, y0, x1, y1 = clear_box(positions, xs[n // 5], ys[n // 5], xs[n // 2], ys[n // 2])
    inside = [i for i, (x, y) in enumerate(positions) if x0 <= x <= x1 and y0 <= y <= y1]
    assert 0 < len(inside) < n
    ox, oy = frame_offset(frame)
    page.mouse.move(ox + x0, oy + y0)
    page.mouse.down()
    page.mouse.move(ox + (x0 + x1) / 2, oy + (y0 + y1) / 2, steps=4)
    page.mouse.move(ox + x1, oy + y1, steps=4)
    page.mouse.up()
    assert highlighted(frame, inside) == inside
    assert focused_ids(frame, holding(graph, inside)) == holding(graph, inside)
    assert frame.evaluate("() => window.__topoact.projection().caption").endswith(f"{len(inside)} selected")

    # A click on empty space clears the selection, and the graph's focus with it.
    corner = (
        (box := frame.locator("[data-testid=projection]").bounding_box())["x"] + 3,
        box["y"] + box["height"] - 3,
    )
    page.mouse.click(*corner)
    highlighted(frame, None)
    focused_ids(frame, None)

    # A lasso (shift+drag): a triangle over the left half of the cloud.
    left, right = xs[0] - 2, xs[n // 2]
    top, bottom = ys[0] - 2, ys[-1] + 2
    triangle = [(left, top), (right, (top + bottom) / 2), (left, bottom)]
    lasso(page, frame, triangle)
    lassoed = [i for i, (x, y) in enumerate(positions) if inside_polygon(x, y, triangle)]
    assert 0 < len(lassoed) < n
    assert highlighted(frame, lassoed) == lassoed
    assert focused_ids(frame, holding(graph, lassoed)) == holding(graph, lassoed)
    # Closing the panel ends the selection (nothing would say why the graph is focused); reopened, it is clear.
    frame.click("[data-testid=projection-toggle]")
    focused_ids(frame, None)
    frame.click("[data-testid=projection-toggle]")
    ready(frame, "fc1", 3)
    assert frame.evaluate("() => window.__topoact.projection().highlighted") is None
    lasso(page, frame, triangle)
    highlighted(frame, lassoed)
    # Selecting a node of the graph replaces the projection's selection.
    node = next(m for m in graph["nodes"] if m["id"] == holding(graph, lassoed)[0])
    click_node(page, frame, node["id"])
    highlighted(frame, sorted(node["members"]))
    escape(page, frame)
    highlighted(frame, None)
    assert watch.problems() == []
    page.context.close()


def test_the_url_reopens_the_panel_and_the_slider_keeps_it_in_step(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra=OPEN + "&p.topoact.epoch=1")
    shown = ready(frame, "fc1", 1)
    assert shown["on"] and shown["alignedTo"] == 0
    assert frame.get_attribute("[data-testid=projection-toggle]", "aria-pressed") == "true"
    before = frame.evaluate("() => window.__topoact.pointPositions()")
    frame.fill("[data-testid=epoch-slider]", "2")
    shown = ready(frame, "fc1", 2)
    assert shown["alignedTo"] == 1 and shown["caption"] == "fc1 · epoch 2 · PCA"
    assert frame.evaluate("() => window.__topoact.epoch") == 2
    after = frame.evaluate("() => window.__topoact.pointPositions()")
    assert len(after) == len(before)
    # Each epoch's points are drawn where the route put them (aligned onto the epoch before): one scale, y up.
    for positions, epoch in ((before, 1), (after, 2)):
        scale, off = drawn_fit(positions, route(server, "projection", run="run", layer="fc1", epoch=epoch))
        assert scale > 0 and off < 1.0, (epoch, scale, off)
    assert drawn_fit(after, route(server, "projection", run="run", layer="fc1", epoch=1))[1] > 1.0
    # t-SNE from the panel's selector: computed on the server, kept in the URL.
    frame.select_option("[data-testid=projection-method]", "tsne")
    shown = ready(frame, "fc1", 2, "tsne")
    assert shown["caption"] == "fc1 · epoch 2 · t-SNE"
    page.wait_for_function("() => location.hash.includes('p.topoact.projm=tsne')")
    assert "p.topoact.proj=1" in page.evaluate("() => location.hash")
    # Another layer at the same epoch follows.
    frame.select_option("[data-testid=layer-select]", "features.3")
    ready(frame, "features.3", 2, "tsne")
    # Closing it gives the graph the whole width back.
    frame.click("[data-testid=projection-toggle]")
    frame.wait_for_function("() => !window.__topoact.projection().on")
    assert watch.problems() == []
    page.context.close()


def test_a_layer_without_stored_activations_disables_the_panel_with_the_reason(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra="&p.topoact.run=bare&p.topoact.layer=fc1")
    toggle = "[data-testid=projection-toggle]"
    assert frame.is_disabled(toggle)
    assert "No stored activations for fc1" in frame.get_attribute(toggle, "title")
    assert watch.problems() == []
    page.context.close()
    page, frame, watch2 = open_topoact(
        browser, server, hash_extra="&p.topoact.run=bare&p.topoact.layer=fc1&p.topoact.proj=1"
    )
    frame.wait_for_selector("body[data-projection-ready='disabled:fc1']")
    shown = frame.evaluate("() => window.__topoact.projection()")
    assert shown["points"] == 0 and "store_activations" in shown["note"]
    assert not frame.is_disabled(toggle)  # open from the URL: it can still be closed
    frame.click(toggle)
    frame.wait_for_function("() => !window.__topoact.projection().on")
    assert frame.is_disabled(toggle)
    assert watch.problems() == [] and watch2.problems() == []
    page.context.close()


def test_a_slow_t_sne_shows_its_time_and_can_be_left(server, browser):
    """While a t-SNE is computed (held here at the network, so the wait is as long as the test needs), the panel
    says what it waits for and for how long, ticking; the tab stays usable; moving to another epoch waits for that
    epoch's instead; Cancel goes back to PCA at once."""
    page, frame, watch = open_topoact(browser, server, hash_extra=OPEN + "&p.topoact.epoch=3")
    ready(frame, "fc1", 3)
    held = []
    page.route("**/data/plugin/topoact/projection?*method=tsne*", lambda r: held.append(r))
    frame.select_option("[data-testid=projection-method]", "tsne")
    text = frame.locator("[data-testid=projection-progress-text]")
    text.wait_for(state="visible")
    first = text.inner_text()
    assert first.startswith("Computing the t-SNE of fc1 at epoch 3") and first.endswith(" s")
    frame.wait_for_function(  # the elapsed time ticks
        "(t) => document.querySelector('[data-testid=projection-progress-text]').textContent !== t", arg=first
    )
    assert frame.evaluate("() => window.__topoact.projection().method") == "pca"  # the last points stay
    # The rest of the tab answers: a click selects a node and opens its panel meanwhile.
    graph = route(server, "graph", run="run", layer="fc1", epoch=3)
    click_node(page, frame, graph["nodes"][0]["id"])
    frame.wait_for_selector("[data-testid=panel-title]")
    # Another epoch: the wait is for that epoch's t-SNE now.
    frame.focus("[data-testid=projection-method]")
    page.keyboard.press("ArrowLeft")
    frame.wait_for_function(
        "() => document.querySelector('[data-testid=projection-progress-text]').textContent.includes('epoch 2')"
    )
    assert len(held) == 2
    # Cancel: PCA again, no wait.
    frame.click("[data-testid=projection-progress-cancel]")
    ready(frame, "fc1", 2)
    assert not frame.locator("[data-testid=projection-progress]").is_visible()
    assert frame.evaluate("() => window.__topoact.state.projm") == "pca"
    assert watch.problems() == []
    for r in held:
        r.abort()
    page.context.close()
