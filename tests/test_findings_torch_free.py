"""The findings run where torch cannot be imported, as in the graph process (their examples: test_doctests.py)."""

from __future__ import annotations

import pytest
from test_layout import _run


@pytest.mark.slow
def test_findings_run_in_the_torch_free_graph_process():
    result = _run(
        """
        import numpy as np
        from topoact_lightning.engine.mapper import Mapper
        from topoact_lightning.monitor.findings import FindingTracker

        x = np.ones((120, 8))
        tracker = FindingTracker()
        graph = Mapper(n_intervals=4).fit(np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32),
                                          labels=np.arange(120) % 3).graph_
        found = tracker.observe(0, "fc", x, loss=1.0, graph=graph)
        assert [f.kind for f in found if f.is_fault] == ["constant"], found
        assert "torch" not in sys.modules
        """
    )
    assert result.returncode == 0, result.stderr
