"""Takes the pictures in ``docs/`` from the demo run (``examples/digits_cnn.py``).

    python docs/screenshot.py [--logdir runs/demo] [--out-dir docs] [--size 1400x900] [--only NAME ...]

Trains the demo first when ``--logdir`` holds none, serves it with a real ``tensorboard`` process and opens the
TopoAct tab in Debian's headless Chromium (the tab opens on the last watched layer, ``hidden``, at the last epoch):

- ``screenshot.png`` (the README's picture): the projection panel beside the graph, the largest node clicked so
  the node panel shows and the projection highlights its members, the side bar scrolled back to its top (the
  summary, the legend, the Mapper parameter card and the metric chart);
- ``compare.png``: compare mode, the epoch before on the left and the last epoch on the right, the side bar at the
  comparison's summary;
- ``layers.png`` (at 1280x800 unless ``--size`` says otherwise): layers mode, two panels side by side at a
  readable size, the third reached by scrolling;
- ``tsne.png``: the projection panel waiting for a t-SNE (the request is held at the network for the picture),
  its time ticking, with the way back to PCA.
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

SHOTS = ("screenshot", "compare", "layers", "tsne")


def route(base: str, name: str, **params) -> dict | list:
    url = f"{base}/data/plugin/topoact/{name}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def quiet(page, frame) -> None:
    """Nothing loading, every move ended, the pointer off the graphs (no tooltip over the picture)."""
    frame.evaluate("() => window.__topoact.idle()")
    page.mouse.move(5, 300)
    page.wait_for_timeout(300)


def main_view(page, frame, base: str) -> str:
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
    quiet(page, frame)
    # The tab scrolls the side bar to the node panel; back at its top, the picture shows the summary, the legend,
    # the parameter card and the metric chart above the panel.
    frame.evaluate("() => { document.querySelector('.side').scrollTop = 0 }")
    return f"{state['run']} / {state['layer']}, epoch {state['epoch']}, node {node['id']} selected"


def compare(page, frame, base: str) -> str:
    frame.click("[data-testid=compare-toggle]")
    frame.wait_for_selector("body[data-compare-ready]", timeout=60_000)
    quiet(page, frame)
    # The side bar at the comparison's summary, which reads in the captions' words.
    frame.evaluate("() => document.querySelector('[data-testid=compare-summary]').scrollIntoView()")
    left = frame.inner_text("[data-testid=compare-from]")
    return f"{left} {frame.inner_text('[data-testid=compare-to]')}"


def layers(page, frame, base: str) -> str:
    frame.click("[data-testid=layers-toggle]")
    frame.wait_for_selector("body[data-layers-ready]", timeout=60_000)
    quiet(page, frame)
    return frame.inner_text("[data-testid=layers-hint]")


def tsne(page, frame, base: str) -> str:
    held = []
    page.route("**/data/plugin/topoact/projection?*method=tsne*", lambda r: held.append(r))
    frame.click("[data-testid=projection-toggle]")
    frame.wait_for_selector("body[data-projection-ready$=':pca']", timeout=60_000)
    frame.select_option("[data-testid=projection-method]", "tsne")
    frame.wait_for_selector("[data-testid=projection-progress-text]", timeout=10_000)
    page.wait_for_timeout(2300)  # a few seconds into the wait (idle() would wait for the held request)
    frame.evaluate("() => window.__topoact.settle()")
    page.mouse.move(5, 300)
    return frame.inner_text("[data-testid=projection-progress-text]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, default=ROOT / "runs" / "demo")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    parser.add_argument("--size", help="WIDTHxHEIGHT for every picture (default 1400x900, layers 1280x800)")
    parser.add_argument("--only", nargs="*", choices=SHOTS, default=list(SHOTS))
    args = parser.parse_args()
    if not list(args.logdir.glob("digits_cnn/version_*/events.out.tfevents.*")):
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "digits_cnn.py"), "--logdir", str(args.logdir)],
            check=True,
        )
    takes = {"screenshot": main_view, "compare": compare, "layers": layers, "tsne": tsne}
    problems = []
    with serve_tensorboard(args.logdir) as base, chromium() as browser:
        for name in args.only:
            size = args.size or ("1280x800" if name == "layers" else "1400x900")
            width, height = (int(x) for x in size.split("x"))
            page, frame, watch = open_topoact(browser, base, width=width, height=height)
            what = takes[name](page, frame, base)
            out = args.out_dir / f"{name}.png"
            page.screenshot(path=str(out))
            print(f"wrote {out} at {size}: {what}")
            problems += watch.problems()
            page.context.close()  # (a request held for the picture goes with it)
    if problems:
        sys.exit(f"the pages reported problems: {problems}")


if __name__ == "__main__":
    main()
