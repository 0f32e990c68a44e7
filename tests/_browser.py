"""Helpers for driving the TopoAct tab in a real ``tensorboard`` process with Debian's headless Chromium.

Used by ``tests/test_plugin_browser.py`` and ``benchmarks/bench_plugin_browser.py``. Chromium is launched through
Playwright with ``executable_path`` (never ``playwright install``: the machine has no network).

Example::

    with serve_tensorboard(logdir) as base, chromium() as browser:
        page, frame, watch = open_topoact(browser, base)
        frame.wait_for_selector("body[data-ready='1']")
        assert not watch.problems()
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests._tensorboard import fetch, tensorboard_process

CHROMIUM = os.environ.get("TOPOACT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def serve_tensorboard(logdir: Path, *args: str, wait_for_runs: bool = True) -> Iterator[str]:
    """A ``tensorboard`` subprocess serving ``logdir`` on a free port; yields its base URL.

    Waits until the TopoAct plugin answers, and with ``wait_for_runs`` until it lists at least one run (so
    both data back ends have loaded the logs). ``args`` are extra flags, e.g. ``"--load_fast=false"``.
    """
    with tensorboard_process(logdir, "--reload_interval", "2", *args) as tb:

        def ready() -> bool:
            status, _, body = fetch(tb.base + "/data/plugin/topoact/runs", timeout=5.0)
            return status == 200 and (not wait_for_runs or body.strip() not in (b"", b"[]"))

        tb.wait_for(ready, "the TopoAct runs")
        yield tb.base


@contextlib.contextmanager
def chromium(headless: bool = True):
    """A Chromium browser (Playwright, sync API) started from Debian's executable."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=headless, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageWatch:
    """Console errors, uncaught exceptions, failed requests and CSP violations seen by a page (all frames)."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def problems(self, ignore: tuple[str, ...] = ()) -> list[str]:
        found = [
            *(f"console: {m}" for m in self.console_errors),
            *(f"exception: {m}" for m in self.page_errors),
            *(f"CSP: {m}" for m in self.csp_violations),
            *(f"request: {m}" for m in self.failed_requests),
        ]
        return [m for m in found if not any(i in m for i in ignore)]


# Reports CSP violations of any frame to the page's console, where PageWatch collects them.
_CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI + ' in ' + e.sourceFile);
}, true);
"""


def new_page(browser, *, width: int = 1400, height: int = 900, dark: bool = False):
    """A fresh page (own context) with console, exception, request and CSP listeners attached."""
    context = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme="dark" if dark else "light",
        device_scale_factor=1,
    )
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()
    watch = PageWatch()

    def on_console(msg):
        if msg.type == "error":
            where = (msg.location or {}).get("url", "")
            text = f"{msg.text} [{where}]" if where else msg.text
            (watch.csp_violations if text.startswith("CSP violation") else watch.console_errors).append(text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))
    page.on(
        "requestfailed",
        lambda req: watch.failed_requests.append(f"{req.url} ({req.failure})"),
    )
    return page, watch


def topoact_frame(page, timeout: float = 30.0):
    """The plugin's iframe (``data/plugin_entry.html?name=topoact``), once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "plugin_entry.html" in frame.url and "topoact" in frame.url:
                return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"no TopoAct iframe; frames: {[f.url for f in page.frames]}")


def open_topoact(
    browser, base: str, *, hash_extra: str = "", dark: bool = False, width: int = 1400, height: int = 900
):
    """Opens TensorBoard on the TopoAct tab; returns ``(page, frame, watch)`` once the first graph is drawn."""
    page, watch = new_page(browser, dark=dark, width=width, height=height)
    page.goto(f"{base}/#topoact{hash_extra}")
    frame = topoact_frame(page)
    frame.wait_for_selector("body[data-ready='1']", timeout=30_000)
    return page, frame, watch


def frame_offset(frame) -> tuple[float, float]:
    """Page coordinates of the iframe's top-left corner (to turn iframe client coordinates into page ones)."""
    box = frame.frame_element().bounding_box()
    return box["x"], box["y"]


def click_node(page, frame, node_id: int, view: str = "a") -> None:
    """Clicks node ``node_id`` with the real mouse, at the position the page reports for it."""
    frame.evaluate("() => window.__topoact.settle()")
    pos = frame.evaluate("([id, v]) => window.__topoact.nodePosition(id, v)", [node_id, view])
    if pos is None:
        raise AssertionError(f"node {node_id} is not drawn in view {view}")
    ox, oy = frame_offset(frame)
    page.mouse.click(ox + pos["x"], oy + pos["y"])


def hover_node(page, frame, node_id: int, view: str = "a") -> None:
    pos = frame.evaluate("([id, v]) => window.__topoact.nodePosition(id, v)", [node_id, view])
    if pos is None:
        raise AssertionError(f"node {node_id} is not drawn in view {view}")
    ox, oy = frame_offset(frame)
    page.mouse.move(ox + pos["x"], oy + pos["y"])
