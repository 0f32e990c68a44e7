"""The findings route: the monitor's findings read back from the graph steps' annotations (issue 15).

The logs are written by hand with :func:`summary.graph_summary`, with annotations in the callback's format
(``{"diagnostics", "problem", "findings": [Finding.to_dict() + {"fault"}]}``): several kinds on two layers at
several steps, a run written before findings existed, and a run with malformed entries and blobs.
"""

from __future__ import annotations

import os

import pytest
from torch.utils.tensorboard import SummaryWriter

from tests.test_plugin_routes import BASE, make_app, synthetic_graph
from topoact_lightning.logformat import summary
from topoact_lightning.monitor.findings import Finding

REVERSED = ["z_first", "a_last"]  # watch order against the alphabet


def finding(step, layer, kind, message, **details) -> dict:
    f = Finding(step, layer, kind, message, details)
    return {**f.to_dict(), "fault": f.is_fault}


#: (run, layer, step) -> findings written in that step's annotations.
FINDINGS = {
    ("new", "z_first", 0): [
        finding(0, "z_first", "dead", "90% of its units never fire", share=0.9, units=[0, 1])
    ],
    ("new", "a_last", 0): [
        finding(
            0, "a_last", "confusion", "classes 'zero' and 'two' share 2 node(s)", classes=[0, 2], nodes=[1, 3]
        ),
    ],
    ("new", "a_last", 1): [
        finding(
            1,
            "a_last",
            "suspect_labels",
            "2 probe sample(s) sit only in nodes pure in another class",
            samples=[4, 9],
            nodes=[2],
        ),
        finding(1, "a_last", "separation", "class 'two' has a branch of its own", nodes=[0], **{"class": 2}),
    ],
    ("new", "z_first", 2): [finding(2, "z_first", "exploding", "its activation norm grew 1e3x since step 0")],
}


def write(writer, layer, step, position, annotations=None, graph_bytes=None) -> None:
    data = graph_bytes if graph_bytes is not None else synthetic_graph(step).to_bytes()
    summary.write_summary(writer, summary.graph_summary(layer, data, annotations, position), step)


def write_findings_logs(logdir) -> None:
    writer = SummaryWriter(os.path.join(logdir, "new"))
    for step in range(3):
        for position, layer in enumerate(REVERSED):
            fs = FINDINGS.get(("new", layer, step), [])
            problem = "; ".join(f["message"] for f in fs if f["fault"]) or None
            write(writer, layer, step, position, {"diagnostics": {}, "problem": problem, "findings": fs})
    writer.close()
    # Written before findings existed: annotations without them, and a version-1 step with the graph alone.
    writer = SummaryWriter(os.path.join(logdir, "old"))
    write(writer, "fc", 0, 0, {"diagnostics": {}, "problem": None})
    summary.write_summary(
        writer,
        summary.blob_summary(
            summary.graph_tag("fc"), [synthetic_graph(1).to_bytes()], summary.encode_metadata("graph", "fc")
        ),
        1,
    )
    writer.close()
    # Malformed entries beside good ones, findings that are not a list, and an annotations blob that is not JSON.
    writer = SummaryWriter(os.path.join(logdir, "bad"))
    good = finding(0, "fc", "constant", "its units output one value")
    counted = finding(0, "fc", "confusion", "classes share nodes", classes=[0, 1], samples=12, nodes=[0])
    bad_entries = [
        good,
        counted,  # a count under "samples" is not a list of ids: fine
        "not an object",
        {"kind": "from_the_future", "message": "?"},
        {"message": "no kind"},
        {"kind": "dead"},
        {"kind": "dead", "message": "x", "details": [1]},
        {"kind": "confusion", "message": "x", "details": {"nodes": [1, -2]}},
        {"kind": "confusion", "message": "x", "details": {"samples": ["1", "2"]}},
        {"kind": "confusion", "message": "x", "details": {"nodes": [True]}},
    ]
    write(writer, "fc", 0, 0, {"findings": bad_entries})
    write(writer, "fc", 1, 0, {"findings": {"kind": "dead"}})
    metadata = summary.encode_metadata("graph", "fc", 0)
    summary.write_summary(
        writer,
        summary.blob_summary(summary.graph_tag("fc"), [synthetic_graph(2).to_bytes(), b"{nope"], metadata),
        2,
    )
    summary.write_summary(
        writer,
        summary.blob_summary(
            summary.graph_tag("fc"),
            [
                b"not a graph",
                summary.encode_annotations({"findings": [finding(3, "fc", "dead", "dead at 3")]}),
            ],
            metadata,
        ),
        3,
    )
    # JSON nested deeper than Python's recursion limit: json raises RecursionError, not a decode error.
    deep = b"[" * 100_000 + b"]" * 100_000
    summary.write_summary(
        writer,
        summary.blob_summary(summary.graph_tag("fc"), [synthetic_graph(4).to_bytes(), deep], metadata),
        4,
    )
    writer.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("findings")
    write_findings_logs(str(logdir))
    return make_app(logdir)


def get(client, query: str):
    r = client.get(BASE + "findings?" + query)
    return r.status_code, (r.get_json() if r.status_code == 200 else r.get_data(as_text=True))


def test_findings_by_step_then_watch_order(app):
    status, body = get(app[0], "run=new")
    assert status == 200
    assert body["run"] == "new" and body["layers"] == REVERSED and body["errors"] == {}
    got = [(f["step"], f["layer"], f["kind"], f["fault"]) for f in body["findings"]]
    assert got == [
        (0, "z_first", "dead", True),
        (0, "a_last", "confusion", False),
        (1, "a_last", "suspect_labels", False),
        (1, "a_last", "separation", False),
        (2, "z_first", "exploding", True),
    ]
    suspect = body["findings"][2]
    assert suspect["message"].startswith("2 probe sample(s)")
    assert suspect["details"]["samples"] == [4, 9] and suspect["details"]["nodes"] == [2]
    assert body["findings"][1]["details"]["classes"] == [0, 2]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("run=new&layer=a_last", ["confusion", "suspect_labels", "separation"]),
        ("run=new&kind=dead", ["dead"]),
        ("run=new&kind=dead,exploding", ["dead", "exploding"]),
        ("run=new&kind=confusion&layer=z_first", []),
        ("run=new&layer=&kind=", ["dead", "confusion", "suspect_labels", "separation", "exploding"]),
    ],
)
def test_filters(app, query, expected):
    status, body = get(app[0], query)
    assert status == 200, body
    assert [f["kind"] for f in body["findings"]] == expected


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("run=new&kind=deadd", 400, "'deadd'"),
        ("run=new&kind=dead,<b>", 400, "'<b>'"),
        ("run=new&kind=,", 400, "comma-separated"),
        ("layer=fc", 400, "missing parameter 'run'"),
        ("run=nope", 404, "no TopoAct data for run 'nope'"),
        ("run=new&layer=fc", 404, "has no TopoAct graphs of layer 'fc'"),
    ],
)
def test_bad_requests(app, query, status, says):
    got, body = get(app[0], query)
    assert got == status and says in body, body


def test_old_logs_have_no_findings(app):
    status, body = get(app[0], "run=old")
    assert status == 200
    assert body == {"run": "old", "layers": ["fc"], "findings": [], "errors": {}}


def test_malformed_entries_are_skipped_and_listed(app):
    status, body = get(app[0], "run=bad")
    assert status == 200
    assert [(f["step"], f["kind"], f["message"]) for f in body["findings"]] == [
        (0, "constant", "its units output one value"),
        (0, "confusion", "classes share nodes"),
        (3, "dead", "dead at 3"),  # its graph is unreadable, its annotations are not
    ]
    errs = body["errors"]["fc"]
    assert set(errs) == {"0", "1", "2", "4"}
    assert "RecursionError" in errs["4"]
    reasons = errs["0"].split("; ")
    assert len(reasons) == 8
    assert "finding 2 is malformed: a finding must be a JSON object" in reasons[0]
    assert "unknown kind 'from_the_future'" in reasons[1] and "no kind" in reasons[2]
    assert "without a message" in reasons[3] and "details of a 'dead' finding" in reasons[4]
    assert all("list of non-negative integer ids" in r for r in reasons[5:])
    assert errs["1"] == "its findings are not a list"
    assert "annotations of layer 'fc' at epoch 2 in run 'bad' are unreadable" in errs["2"]


def test_unreadable_annotations_leave_the_graph_readable(app):
    for epoch in (2, 4):  # not JSON; JSON nested too deep for Python
        r = app[0].get(BASE + f"graph?run=bad&layer=fc&epoch={epoch}")
        assert r.status_code == 200 and r.get_json()["annotations"] == {}


def test_annotations_are_read_once_without_decoding_graphs(app):
    client, plugin = app
    plugin.store.graphs.clear()
    plugin.store.annotation_dicts.clear()
    get(client, "run=new")
    misses = plugin.store.annotation_dicts.misses
    assert len(plugin.store.graphs) == 0  # no graph decoded
    get(client, "run=new&kind=dead")
    assert plugin.store.annotation_dicts.misses == misses  # cached
