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
    (copy / "src" / "model.js").write_text((copy / "src" / "model.js").read_text() + "\n// edit\n")
    assert sources_hash(copy) != before


def test_the_parameter_cards_lenses_are_the_engines():
    """``params.js`` lists the built-in lenses by hand (the bundle has no Python to ask): the same list as the
    engine's, in the same order, so the lens selector offers exactly what the server accepts."""
    from topoact_lightning.engine.lenses import LENSES

    source = (FRONTEND / "src" / "params.js").read_text(encoding="utf-8")
    m = re.search(r"export const LENSES = Object\.freeze\(\[([^\]]*)\]\)", source)
    assert m is not None
    assert re.findall(r'"([^"]+)"', m.group(1)) == list(LENSES)
