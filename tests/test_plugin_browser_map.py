"""The tab reads like a map, in headless Chromium against a real ``tensorboard`` on both data back ends: compare
mode reads left to right in time, stepping through epochs keeps the frame and moves continuing nodes little, an
epoch is laid out the same way however it is reached, and a search that finds nothing says so.

Uses the session's re-mapping logs and servers (``remap_logdir``, ``remap_server`` in conftest): the trained run
``run`` (layers ``features.3`` and ``fc1``, epochs 0..3). Expectations come from the plugin's own routes.
"""

from __future__ import annotations

import statistics

import pytest

from tests._browser import open_topoact
from tests.test_plugin_browser import continuing, nodes_outside, route, wait_epoch

pytestmark = [pytest.mark.slow, pytest.mark.browser]

OPEN = "&p.topoact.run=run&p.topoact.layer=fc1"
#: The issue's target: matched nodes move less than this on screen from one epoch to the next.
MAX_MEDIAN_MOVE_PX = 30


@pytest.fixture
def server(remap_server: str) -> str:
    return remap_server


def drawn(frame) -> dict[int, tuple[float, float]]:
    """Every node of view A at its place on screen (iframe coordinates), by id, once every move has ended."""
    frame.evaluate("() => window.__topoact.settle()")
    return {
        int(k): (p["x"], p["y"])
        for k, p in frame.evaluate(
            """() => Object.fromEntries(Object.keys(window.__topoact.layout('a'))
                .map((id) => [id, window.__topoact.nodePosition(Number(id))]))"""
        ).items()
    }


def transform(frame) -> list[float]:
    return frame.evaluate("() => { const t = window.__topoact.view('a').transform; return [t.k, t.x, t.y]; }")


def test_stepping_through_epochs_keeps_the_frame_and_moves_continuing_nodes_little(server, browser):
    """The frame target, at 1,280 x 800: from the first epoch to the last with the arrow key, the camera never
    moves, every node stays in view, and nodes that continue one of the epoch before move a median of less than
    30 px on screen."""
    page, frame, watch = open_topoact(
        browser, server, width=1280, height=800, hash_extra=f"{OPEN}&p.topoact.epoch=0"
    )
    epochs = frame.evaluate("() => window.__topoact.epochs")
    graphs = {e: route(server, "graph", run="run", layer="fc1", epoch=e) for e in epochs}
    before, frame0 = drawn(frame), transform(frame)
    assert nodes_outside(frame) == []
    medians = {}
    frame.focus("[data-testid=play]")
    for prev, e in zip(epochs, epochs[1:], strict=False):
        page.keyboard.press("ArrowRight")
        wait_epoch(frame, e)
        now = drawn(frame)
        assert nodes_outside(frame) == [], f"epoch {e}"
        assert transform(frame) == frame0, f"the frame moved at epoch {e}"
        pairs = continuing(graphs[prev], graphs[e])
        if len(pairs) >= 3:
            moves = [
                ((now[b][0] - before[a][0]) ** 2 + (now[b][1] - before[a][1]) ** 2) ** 0.5 for a, b in pairs
            ]
            medians[e] = statistics.median(moves)
        before = now
    assert medians, "no step with enough continuing nodes to judge"
    assert max(medians.values()) < MAX_MEDIAN_MOVE_PX, medians
    assert watch.problems() == []
    page.context.close()


def test_an_epoch_is_laid_out_the_same_however_it_is_reached(server, browser):
    """fc1 at the last epoch: opened by URL, reached by stepping from the first epoch, or by switching from the
    other layer, the same positions (a layout follows the epoch axis, never the user's path)."""
    last = route(server, "epochs", run="run", layer="fc1")["epochs"][-1]

    def layout(frame) -> dict:
        frame.evaluate("() => window.__topoact.settle()")
        return frame.evaluate("() => window.__topoact.layout('a')")

    page, frame, watch = open_topoact(browser, server, hash_extra=OPEN)
    direct = layout(frame)
    assert watch.problems() == []
    page.context.close()

    page, frame, watch = open_topoact(browser, server, hash_extra=f"{OPEN}&p.topoact.epoch=0")
    frame.focus("[data-testid=play]")
    for e in route(server, "epochs", run="run", layer="fc1")["epochs"][1:]:
        page.keyboard.press("ArrowRight")
        wait_epoch(frame, e)
    assert layout(frame) == direct
    assert watch.problems() == []
    page.context.close()

    page, frame, watch = open_topoact(
        browser, server, hash_extra="&p.topoact.run=run&p.topoact.layer=features.3"
    )
    frame.select_option("[data-testid=layer-select]", "fc1")
    frame.wait_for_function(
        "(e) => window.__topoact.graph().layer === 'fc1' && window.__topoact.epoch === e", arg=last
    )
    assert layout(frame) == direct
    assert sorted(map(int, direct)) == sorted(
        n["id"] for n in route(server, "graph", run="run", layer="fc1", epoch=last)["nodes"]
    )
    assert watch.problems() == []
    page.context.close()


def test_compare_reads_left_to_right_in_time(server, browser):
    """Compare puts the earlier graph on the left, whichever side holds it, and its captions and summary name the
    two sides in the same words, in the same order; another layer at the same epoch reads A then B."""
    page, frame, watch = open_topoact(browser, server, hash_extra=OPEN)

    def left_right():
        a = frame.locator("canvas[data-testid=graph-a]").bounding_box()
        b = frame.locator("canvas[data-testid=graph-b]").bounding_box()
        return ("b", "a") if b["x"] < a["x"] else ("a", "b")

    def captions():
        return [frame.inner_text(f"[data-testid=graph-{v}-caption-text]") for v in left_right()]

    def summary():
        return frame.inner_text("[data-testid=compare-from]"), frame.inner_text("[data-testid=compare-to]")

    frame.click("[data-testid=compare-toggle]")
    frame.wait_for_selector("body[data-compare-ready='3:2']")  # B defaults to the epoch before A's
    assert left_right() == ("b", "a")
    assert captions() == ["From epoch 2 · run / fc1", "To epoch 3 · run / fc1"]
    assert summary() == ("From epoch 2", "epoch 3")
    counts = frame.eval_on_selector_all(
        "[data-testid=compare-counts] .count",
        "cs => Object.fromEntries(cs.map(c => [c.dataset.kind, c.querySelector('b').textContent]))",
    )
    cmp = route(server, "compare", run="run", layer="fc1", epoch=2, epoch2=3)
    assert [counts[k] for k in ("splits", "merges", "births", "deaths")] == [
        str(len(cmp[k])) for k in ("splits", "merges", "births", "deaths")
    ]

    # B later than A: A on the left.
    frame.select_option("[data-testid=epoch2-select]", "3")
    frame.focus("[data-testid=play]")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    frame.wait_for_selector("body[data-compare-ready='1:3']")
    assert left_right() == ("a", "b")
    assert captions() == ["From epoch 1 · run / fc1", "To epoch 3 · run / fc1"]
    assert summary() == ("From epoch 1", "epoch 3")

    # Another layer at the same epoch: A, then B, each named in full.
    frame.select_option("[data-testid=layer2-select]", "features.3")
    frame.select_option("[data-testid=epoch2-select]", "1")
    frame.wait_for_function(
        "() => window.__topoact.state.compare?.b?.layer === 'features.3' && window.__topoact.state.compare.b.epoch === 1"
    )
    frame.wait_for_selector("body[data-compare-ready='1:1']")
    assert left_right() == ("a", "b")
    assert captions() == ["From run / fc1 · epoch 1", "To run / features.3 · epoch 1"]
    assert summary() == ("From run / fc1 · epoch 1", "run / features.3 · epoch 1")
    assert nodes_outside(frame, "a") == [] and nodes_outside(frame, "b") == []
    assert watch.problems() == []
    page.context.close()


def test_a_search_without_a_match_says_so_and_keeps_the_view(server, browser):
    page, frame, watch = open_topoact(browser, server, hash_extra=OPEN)
    note = frame.locator("[data-testid=search-note]")
    assert not note.is_visible()
    frame.fill("[data-testid=search]", "eight")  # the classes are named "0".."9"
    note.wait_for(state="visible")
    assert note.inner_text() == "no match"
    assert frame.evaluate("() => window.__topoact.focused()") is None  # nothing faded
    frame.fill("[data-testid=search]", "#9999")
    assert note.is_visible() and frame.evaluate("() => window.__topoact.focused()") is None
    frame.fill("[data-testid=search]", "c:7")
    note.wait_for(state="hidden")
    assert frame.evaluate("() => window.__topoact.focused()")  # the nodes of class 7 stay bright
    assert watch.problems() == []
    page.context.close()
