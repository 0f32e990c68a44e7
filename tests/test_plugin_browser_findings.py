"""The findings panel in a real browser (Debian's headless Chromium, a real ``tensorboard`` process).

The logs are the trained digits run's real graphs (``trained_logdir``), rewritten with annotations in the
callback's format: class findings computed from each graph by ``topoact_lightning.monitor.findings`` (confusion with
lowered thresholds, separation, suspect labels, deduplicated by its tracker) and two fault findings made from synthetic activations
(a dead ``features.3`` at step 0, a constant ``fc1`` at step 2). Expectations are checked against the findings
route of the same server.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tensorboard.context import RequestContext
from torch.utils.tensorboard import SummaryWriter

from tests._browser import open_topoact, serve_tensorboard
from tests._training import DIGITS_LAYERS
from tests.test_plugin_browser import route
from tests.test_plugin_routes import make_app
from topoact_lightning.logformat import summary
from topoact_lightning.monitor.findings import (
    FindingThresholds,
    FindingTracker,
    class_findings,
    fault_findings,
    separation_findings,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

RUN = "findings"
#: The digits separate well after 3 epochs: lower confusion thresholds give a few pairs to show.
THRESHOLDS = FindingThresholds(confusion_node_share=0.05, confusion_min_share=0.02, confusion_top=3)
#: Fault findings to inject: (step, layer) -> activations whose detectors report them.
FAULTS = {(0, "features.3"): np.zeros((300, 16)), (2, "fc1"): np.ones((300, 32))}


def write_findings_run(trained: Path, out: Path) -> None:
    """The trained run's graphs and thumbnails under ``out/findings``, each step annotated with its findings."""
    _, plugin = make_app(trained)
    ctx, store = RequestContext(), plugin.store
    tracker = FindingTracker()
    writer = SummaryWriter(os.path.join(out, RUN))
    summary.write_summary(writer, summary.thumbnails_summary(store.thumbnails(ctx, "", "run")), 0)
    steps = [e.step for e in store.logs.epochs(ctx, "", "run", DIGITS_LAYERS[0])]
    for step in steps:
        for position, layer in enumerate(DIGITS_LAYERS):
            graph = store.graph(ctx, "", "run", layer, step).graph
            found = fault_findings(step, layer, FAULTS[step, layer]) if (step, layer) in FAULTS else []
            found += separation_findings(step, layer, graph, THRESHOLDS) + class_findings(
                step, layer, graph, THRESHOLDS
            )
            new = tracker.add(found)
            annotations = {
                "diagnostics": {},
                "problem": "; ".join(f.message for f in new if f.is_fault) or None,
                "findings": [{**f.to_dict(), "fault": f.is_fault} for f in new],
            }
            summary.write_summary(
                writer, summary.graph_summary(layer, graph.to_bytes(), annotations, position), step
            )
    writer.close()


@pytest.fixture(scope="module")
def server(trained_logdir: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("findings_logs")
    write_findings_run(trained_logdir, out)
    with serve_tensorboard(out) as base:
        yield base


def rows(frame) -> list[list[str]]:
    return frame.eval_on_selector_all(
        "[data-testid=finding]",
        "rs => rs.filter(r => r.offsetParent !== null).map(r => [r.dataset.step, r.dataset.layer, r.dataset.kind, "
        "r.querySelector('.finding-message').textContent])",
    )


def test_findings_panel(server, browser, tmp_path):
    body = route(server, "findings", run=RUN)
    findings = body["findings"]
    assert body["errors"] == {}
    kinds = {f["kind"] for f in findings}
    assert {"dead", "constant", "confusion", "separation"} <= kinds, kinds
    page, frame, watch = open_topoact(browser, server)
    frame.wait_for_selector("[data-testid=finding]")
    # Listed by step, the newest first, each step's faults first; each row's text as the route sent it.
    listed = sorted(enumerate(findings), key=lambda p: (-p[1]["step"], not p[1]["fault"], p[0]))
    assert rows(frame) == [[str(f["step"]), f["layer"], f["kind"], f["message"]] for _, f in listed]
    headings = frame.eval_on_selector_all(".finding-step", "hs => hs.map(h => h.textContent)")
    assert headings == [f"epoch {s}" for s in sorted({f["step"] for f in findings}, reverse=True)]
    chips = frame.eval_on_selector_all(
        "[data-testid=finding-chips] .chip",
        "cs => cs.map(c => [c.dataset.kind, c.classList.contains('fault')])",
    )
    assert chips[:2] == [["dead", True], ["constant", True]] and all(not fault for _, fault in chips[2:])
    frame.evaluate("() => window.__topoact.idle()")
    page.screenshot(path=str(tmp_path / "findings_panel.png"))

    # The kind filter hides the others; pressing the chip again shows every kind.
    frame.click("[data-testid=finding-chips] .chip[data-kind=confusion]")
    shown = rows(frame)
    assert shown and {r[2] for r in shown} == {"confusion"}
    assert len(shown) == sum(f["kind"] == "confusion" for f in findings)

    # A confusion finding elsewhere: jump to its layer and epoch, only its nodes stay bright.
    target = next(f for f in findings if f["kind"] == "confusion" and f["step"] != 3)
    frame.click(
        f"[data-testid=finding][data-kind=confusion][data-step='{target['step']}'][data-layer='{target['layer']}']"
    )
    frame.wait_for_selector(f"body[data-epoch='{target['step']}'][data-layer='{target['layer']}']")
    frame.wait_for_function("() => window.__topoact.focused() !== null")
    assert frame.evaluate("() => window.__topoact.focused()") == sorted(target["details"]["nodes"])
    assert frame.evaluate("() => window.__topoact.state.layer") == target["layer"]
    frame.evaluate("() => window.__topoact.idle()")
    page.screenshot(path=str(tmp_path / "findings_confusion.png"))
    # Moving to another epoch ends the highlight (node ids belong to one graph).
    other = next(e for e in frame.evaluate("() => window.__topoact.epochs") if e != target["step"])
    frame.evaluate("(e) => window.__topoact.app.set({epoch: e})", other)
    frame.wait_for_selector(f"body[data-epoch='{other}']")
    assert frame.evaluate("() => window.__topoact.focused()") is None
    frame.click("[data-testid=finding-chips] .chip[data-kind=confusion]")
    assert len(rows(frame)) == len(findings)

    # A fault finding: its layer carries the badge, with the finding's message in the tooltip.
    dead = next(f for f in findings if f["kind"] == "dead")
    frame.click(f"[data-testid=finding][data-kind=dead][data-layer='{dead['layer']}']")
    frame.wait_for_selector(f"body[data-epoch='{dead['step']}'][data-layer='{dead['layer']}']")
    badge = frame.locator("[data-testid=graph-a-health]")
    badge.wait_for(state="visible")
    assert "dead" in badge.inner_text()
    assert dead["message"] in badge.get_attribute("title")
    options = frame.eval_on_selector_all(
        "[data-testid=layer-select] option", "os => os.map(o => o.textContent)"
    )
    assert options == [f"⚠ {layer}" for layer in DIGITS_LAYERS]  # both layers have a fault finding

    # Suspect labels (when the probe has any): their samples are tracked.
    suspects = [
        f for f in findings if isinstance(f["details"].get("samples"), list) and f["details"]["samples"]
    ]
    if suspects:
        s = suspects[0]
        frame.click(
            f"[data-testid=finding][data-kind='{s['kind']}'][data-step='{s['step']}'][data-layer='{s['layer']}']"
        )
        frame.wait_for_function(
            "(n) => window.__topoact.state.track.length === n", arg=len(s["details"]["samples"][:500])
        )
        assert frame.evaluate("() => window.__topoact.state.track") == s["details"]["samples"][:500]
    # The toolbar stays one row at 1,280 px.
    page.set_viewport_size({"width": 1280, "height": 900})
    heights = frame.eval_on_selector(
        ".toolbar:not(.compare-bar)", "t => [t.offsetHeight, t.scrollWidth <= t.clientWidth]"
    )
    assert heights[0] < 40 and heights[1], heights
    assert watch.problems() == []
    page.context.close()
