"""The committed bundle ``static/index.js`` is built from the committed front-end sources.

``tb_plugin/frontend/build.mjs`` writes a SHA-256 of its inputs (``src/**``, ``package.json``,
``package-lock.json``) into the bundle's banner; this recomputes it in Python, so no Node.js is needed to notice a
source change committed without ``npm run build``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent.parent / "tb_plugin" / "frontend"
BUNDLE = FRONTEND.parent / "topoact_tensorboard" / "static" / "index.js"


def sources_hash(root: Path = FRONTEND) -> str:
    """The hash build.mjs computes: ``path NUL content NUL`` for each file under src/ (sorted), then the manifests."""
    files = sorted(p.relative_to(root).as_posix() for p in (root / "src").rglob("*") if p.is_file())
    h = hashlib.sha256()
    for name in [*files, "package.json", "package-lock.json"]:
        h.update(name.encode() + b"\0")
        h.update((root / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def bundle_hash(bundle: Path = BUNDLE) -> str | None:
    m = re.search(r"^// sources-sha256: ([0-9a-f]{64})$", bundle.read_text(encoding="utf-8")[:2000], re.M)
    return m.group(1) if m else None


def test_bundle_was_rebuilt_from_the_sources():
    assert bundle_hash() == sources_hash(), (
        "tb_plugin/topoact_tensorboard/static/index.js is not built from the current tb_plugin/frontend sources: "
        "run `cd tb_plugin/frontend && npm ci && npm run build` and commit the bundle"
    )


def test_a_changed_source_changes_the_hash(tmp_path):
    import shutil

    copy = tmp_path / "frontend"
    shutil.copytree(FRONTEND, copy, ignore=shutil.ignore_patterns("node_modules"))
    before = sources_hash(copy)
    (copy / "src" / "state.js").write_text((copy / "src" / "state.js").read_text() + "\n// edit\n")
    assert sources_hash(copy) != before


def test_the_front_end_restates_no_parameter_rule():
    """The parameter card's limits and options come from the server (the ``params`` route), stated once in the
    engine and the plugin: no front-end source lists the engine's lenses or metrics, or a request cap."""
    from topoact_tensorboard.arguments import MAX_REQUEST_INTERVALS, MAX_REQUEST_MIN_SAMPLES

    from topoact_lightning.engine.distances import METRICS
    from topoact_lightning.engine.lenses import LENSES

    for path in sorted((FRONTEND / "src").glob("*.js")):
        code = "\n".join(
            line
            for line in path.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith(("//", "*", "/*"))
        )
        lenses = [name for name in LENSES if f'"{name}"' in code]
        assert len(lenses) <= 1, (
            f"{path.name} lists the lenses {lenses}"
        )  # "pca" alone is a projection method
        assert not [m for m in METRICS if f'"{m}"' in code], path.name
        # (A cap restated would sit beside the parameter; milliseconds per second elsewhere are no cap.)
        for cap in {MAX_REQUEST_INTERVALS, MAX_REQUEST_MIN_SAMPLES} if "intervals" in code else ():
            assert not re.search(rf"\b{cap}\b", code), f"{path.name} states the cap {cap}"
