"""Takes the README's picture, ``docs/screenshot.png``, from the demo run (``examples/digits_cnn.py``).

    python docs/screenshot.py [--logdir runs/demo] [--out docs/screenshot.png]

Trains the demo first when ``--logdir`` holds none, serves it with a real ``tensorboard`` process, opens the TopoAct
tab in Debian's headless Chromium at 1400x900 (the tab opens on the last watched layer, ``hidden``, at the last
epoch), opens the projection panel beside the graph, clicks the largest node so the node panel shows and the
projection highlights its members, scrolls the side bar back to its top (the Mapper parameter card, the summary,
the legend and the metric chart), and saves the page.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._browser import chromium, click_node, open_topoact, serve_tensorboard  # noqa: E402


def route(base: str, name: str, **params) -> dict | list:
    url = f"{base}/data/plugin/topoact/{name}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, default=ROOT / "runs" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args()
    if not list(args.logdir.glob("digits_cnn/version_*/events.out.tfevents.*")):
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "digits_cnn.py"), "--logdir", str(args.logdir)],
            check=True,
        )
    with serve_tensorboard(args.logdir) as base, chromium() as browser:
        page, frame, watch = open_topoact(browser, base)
        state = frame.evaluate("() => window.__topoact.state")
        graph = route(base, "graph", run=state["run"], layer=state["layer"], epoch=state["epoch"])
        node = max(graph["nodes"], key=lambda n: (n["size"], -n["id"]))
        frame.click("[data-testid=projection-toggle]")
        frame.wait_for_selector(
            f"body[data-projection-ready='{state['layer']}:{state['epoch']}:pca']", timeout=60_000
        )
        frame.evaluate("() => window.__topoact.idle()")
        click_node(page, frame, node["id"])
        frame.wait_for_selector("[data-testid=panel-thumbs] img")
        frame.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=panel-thumbs] img')].every(i => i.complete)"
        )
        frame.evaluate("() => window.__topoact.idle()")
        # The tab scrolls the side bar to the node panel; back at its top, the picture shows the parameter card,
        # the summary, the legend and the metric chart above the panel.
        frame.evaluate("() => { document.querySelector('.side').scrollTop = 0 }")
        page.mouse.move(5, 300)  # no tooltip over the picture
        page.wait_for_timeout(300)
        page.screenshot(path=str(args.out))
        if watch.problems():
            sys.exit(f"the page reported problems: {watch.problems()}")
    print(
        f"wrote {args.out} ({state['run']} / {state['layer']}, epoch {state['epoch']}, node {node['id']} selected)"
    )


if __name__ == "__main__":
    main()
