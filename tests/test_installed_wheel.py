"""The package as users get it: built by the standard ``build`` front end, installed from its wheel (not editable)
into a fresh virtual environment outside the checkout, then used as the README says.

``scripts/test`` installs the checkout in editable mode, where every module imports whatever the packaging says; a
wheel holds only what ``pyproject.toml`` puts in it (a hand-written package list once left ``monitor.findings``
out, and no editable test could see it). Here: the sdist and the wheel are built from a clean copy of the
checkout, and a second wheel from the sdist, as pip does where no wheel fits; both wheels must hold every module
of the source tree (found by walking it) and the built front end; the metadata must be what an index accepts.
Then, in a new venv holding only torch and the wheel, from a directory that is not the checkout: the README's
quick start for 2 epochs on scikit-learn's digits, :class:`LogReader` on its logs, and a real ``tensorboard``
listing the TopoAct tab and serving a graph.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import topoact_lightning
from tests._tensorboard import fetch, tensorboard_process

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: Each importable package and the directory its source is in.
SOURCES = {
    "topoact_lightning": ROOT / "topoact_lightning",
    "topoact_tensorboard": ROOT / "tb_plugin" / "topoact_tensorboard",
}
#: The built front end and its licences: what the tab needs at run time (users have no Node.js).
FRONT_END = ("topoact_tensorboard/static/index.js", "topoact_tensorboard/static/THIRD_PARTY_LICENSES.txt")
#: What a developer's checkout holds that a fresh clone does not: left out of the copy the dists are built from.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    "runs", "lightning_logs",
)  # fmt: skip


def package_files() -> set[str]:
    """Every file of the packages as a path inside an installed tree: each module, and every file of ``static/``."""
    found = set()
    for name, root in SOURCES.items():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            rel = Path(dirpath).relative_to(root)
            for f in filenames:
                if f.endswith(".py") or rel.parts[:1] == ("static",):
                    found.add((Path(name) / rel / f).as_posix())
    return found


def run(cmd: list, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    return result.stdout


def only(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def outside_env() -> dict[str, str]:
    """This process's environment without what could let the checkout or this venv leak into another Python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path
    wheel_from_sdist: Path


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> Dists:
    work = tmp_path_factory.mktemp("dists")
    # A clean copy: setuptools reuses a build/ directory it finds, so a stale one in a developer's checkout
    # could put a file in the wheel that the packaging no longer would.
    tree = work / "tree"
    shutil.copytree(ROOT, tree, ignore=NOT_IN_A_CLONE)
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", work / "from-tree", tree], cwd=work)
    sdist = only(work / "from-tree", "*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked", filter="data")
    unpacked = only(work / "unpacked", "topoact_lightning-*")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", work / "from-sdist", unpacked], cwd=work)
    return Dists(sdist, only(work / "from-tree", "*.whl"), only(work / "from-sdist", "*.whl"))


def test_the_wheels_hold_every_module_and_the_built_front_end(dists):
    expected = package_files()
    assert set(FRONT_END) <= expected, "the walk of the source tree missed the built front end"
    for wheel in (dists.wheel, dists.wheel_from_sdist):
        with zipfile.ZipFile(wheel) as z:
            names = {n for n in z.namelist() if ".dist-info/" not in n}
            assert z.read(FRONT_END[0]) == (ROOT / "tb_plugin" / FRONT_END[0]).read_bytes()
            entry_points = z.read(
                f"topoact_lightning-{topoact_lightning.__version__}.dist-info/entry_points.txt"
            )
        assert sorted(expected - names) == [], (
            f"{wheel.name} (built from {wheel.parent.name}) lacks these files"
        )
        assert sorted(names - expected) == [], f"{wheel.name} holds files that are not the packages'"
        assert "topoact = topoact_tensorboard.loader:TopoActLoader" in entry_points.decode()
    with tarfile.open(dists.sdist) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {f"tb_plugin/{f}" for f in FRONT_END} <= in_sdist


def test_the_metadata_is_what_an_index_accepts(dists):
    from packaging.metadata import Metadata
    from trove_classifiers import classifiers

    with zipfile.ZipFile(dists.wheel) as z:
        wheel_metadata = z.read(f"topoact_lightning-{topoact_lightning.__version__}.dist-info/METADATA")
    with tarfile.open(dists.sdist) as tar:
        sdist_metadata = tar.extractfile(f"{dists.sdist.name.removesuffix('.tar.gz')}/PKG-INFO").read()
    readme = (ROOT / "README.md").read_text()
    for where, raw in (("wheel", wheel_metadata), ("sdist", sdist_metadata)):
        meta = Metadata.from_email(raw, validate=True)  # raises on any field the core metadata spec refuses
        assert (meta.name, str(meta.version)) == ("topoact-lightning", topoact_lightning.__version__), where
        assert meta.description_content_type == "text/markdown", where
        assert meta.description.strip() == readme.strip(), where
        assert [c for c in meta.classifiers or [] if c not in classifiers] == [], (
            f"unknown classifiers ({where})"
        )
        required = {r.name for r in meta.requires_dist if r.marker is None}
        assert {"torch", "pytorch-lightning", "tensorboard", "scikit-learn", "kmapper", "numpy"} <= required


def quick_start() -> str:
    """The README's five lines, as printed there, for 2 epochs instead of 20."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Add it to your training \(five lines\)\s+```python\n(.*?)```", readme, re.S)
    assert block, "the README's quick start moved: update this test"
    code = block.group(1)
    assert "max_epochs=20" in code
    return code.replace("max_epochs=20", "max_epochs=2")


#: What the quick start leaves to the reader: a model with the layers it names, digits as tensors and loaders.
SETUP = textwrap.dedent(
    """
    import json, sys
    import torch
    from lightning.pytorch import LightningModule
    from sklearn.datasets import load_digits
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    digits = load_digits()
    x = torch.tensor(digits.images[:, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    x_train, y_train, x_val, y_val = x[:1400], y[:1400], x[1400:], y[1400:]
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True)
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=256)


    class Net(LightningModule):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 32), nn.ReLU()
            )
            self.fc1 = nn.Linear(32, 10)

        def forward(self, x):
            return self.fc1(self.features(x))

        def training_step(self, batch, batch_idx):
            return nn.functional.cross_entropy(self(batch[0]), batch[1])

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", nn.functional.cross_entropy(self(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)


    model = Net()
    """
)

#: After training: where the packages were imported from, and what LogReader reads back.
CHECK = textwrap.dedent(
    """
    import topoact_lightning, topoact_tensorboard
    from topoact_lightning import LogReader
    from topoact_tensorboard.plugin import TopoActPlugin  # what TensorBoard's loader imports for the tab

    log = LogReader("logs/lightning_logs/version_0")
    print(json.dumps({
        "files": [topoact_lightning.__file__, topoact_tensorboard.__file__],
        "prefix": sys.prefix,
        "layers": log.layers,
        "steps": {layer: log.steps(layer) for layer in log.layers},
        "nodes": log.graph("fc1", 2).n_nodes,
        "labels": len(log.labels),
    }))
    """
)


@pytest.mark.timeout(1800)  # a venv with torch from scratch, a training run and a server, on two busy cores
def test_the_installed_wheel_trains_reads_and_serves(dists, tmp_path_factory):
    home = tmp_path_factory.mktemp("user")
    assert ROOT not in home.parents
    try:
        use_the_installed_wheel(dists.wheel, home)
    finally:
        shutil.rmtree(home / "venv", ignore_errors=True)  # about 1 GB with torch: not left in the temp dir


def use_the_installed_wheel(wheel: Path, home: Path) -> None:
    venv, env = home / "venv", outside_env()
    run([sys.executable, "-m", "venv", venv], cwd=home, env=env)
    python = venv / "bin" / "python"
    # torch first, at the CI pin (a CPU wheel here): left to the wheel's own `torch>=2.1`, pip would fetch a CUDA
    # build. --no-compile: byte-compiling every module of torch and the rest took two thirds of the install
    # (about 2 minutes of 3 on two busy cores), and Python compiles what it imports anyway.
    pip = [python, "-m", "pip", "install", "-q", "--no-compile"]
    run([*pip, "-r", ROOT / "requirements-ci.txt"], cwd=home, env=env)
    run([*pip, f"{wheel}[demo]"], cwd=home, env=env)

    work = home / "work"
    work.mkdir()
    (work / "train.py").write_text(SETUP + quick_start() + CHECK)
    out = json.loads(run([python, "train.py"], cwd=work, env=env).strip().splitlines()[-1])
    for f in out["files"]:  # the wheel's copy, never the checkout's
        assert Path(f).is_relative_to(out["prefix"]) and not Path(f).is_relative_to(ROOT), f
    assert out["layers"] == ["features.3", "fc1"]
    assert out["steps"] == {"features.3": [0, 1, 2], "fc1": [0, 1, 2]}
    assert out["nodes"] > 0 and out["labels"] == 1797 - 1400  # the probe: all of x_val[:1000]

    with tensorboard_process(
        work / "logs", command=[str(venv / "bin" / "tensorboard")], env=env, cwd=work
    ) as tb:
        status, _, body = fetch(tb.base + "/data/plugins_listing")
        assert status == 200
        tab = json.loads(body).get("topoact")
        assert tab is not None, f"no TopoAct tab: {body[:300]!r}"
        assert tab["enabled"] is True and tab["tab_name"] == "TopoAct"
        plugin = tb.base + "/data/plugin/topoact/"
        run_name = "lightning_logs/version_0"

        def graph():
            status, _, body = fetch(plugin + f"graph?run={run_name}&layer=fc1&epoch=2")
            return json.loads(body) if status == 200 else None

        served = tb.wait_for(graph, "the run's last graph")
        assert served["epoch"] == 2 and len(served["nodes"]) == out["nodes"]
        status, _, body = fetch(plugin + "params")  # built from the engine's table, in the installed copy
        assert status == 200 and json.loads(body)["parameters"]["n_intervals"]["min"] == 1
        status, ctype, body = fetch(plugin + "static/index.js")
        assert status == 200 and ctype.startswith("text/javascript")
        assert body == (ROOT / "tb_plugin" / FRONT_END[0]).read_bytes()
