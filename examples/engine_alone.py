"""The Mapper engine on its own: activations saved to a ``.npy`` file -> a Mapper graph -> KeplerMapper's HTML
page, a GraphML file for networkx/Gephi, and the graph's metrics. No Lightning, no TensorBoard.

Step 1 stands in for "activations you already have": it trains a tiny MLP on scikit-learn's digits with plain
PyTorch and saves the hidden layer's activations of all 1,797 digits (and their labels) as ``.npy`` files. Pass
``--activations your.npy`` (and optionally ``--labels your_labels.npy``) to map your own matrix instead.

    python examples/engine_alone.py --logdir runs/engine_alone
    # open runs/engine_alone/mapper.html in a browser (the page loads d3 from a CDN)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def save_activations(out_dir: Path, epochs: int, seed: int = 0) -> tuple[Path, Path]:
    """Train a 64-32-10 MLP on digits and save its hidden (post-ReLU) activations and the labels."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # a model this small runs slower when threads synchronise on every tiny op
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    hidden = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
    model = nn.Sequential(hidden, nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(128):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    with torch.no_grad():
        acts = hidden(x).numpy()
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"tiny MLP: training accuracy {accuracy:.3f} after {epochs} epochs")
    out_dir.mkdir(parents=True, exist_ok=True)
    acts_path, labels_path = out_dir / "activations.npy", out_dir / "labels.npy"
    np.save(acts_path, acts)
    np.save(labels_path, digits.target)
    return acts_path, labels_path


def graphml_ready(graph):
    """A copy of ``graph`` (networkx) whose attributes GraphML can store: member lists become strings."""
    g = graph.copy()
    for _, attrs in g.nodes(data=True):
        for key, value in list(attrs.items()):
            if isinstance(value, (list, tuple)):
                attrs[key] = " ".join(map(str, value))
            elif value is None or (isinstance(value, float) and np.isnan(value)):
                del attrs[key]
    return g


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logdir", default="runs/engine_alone", help="output directory (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs of the tiny MLP (default: 30; 2 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="a tiny run for tests")
    parser.add_argument("--activations", type=Path, help="map this (n_samples, n_features) .npy instead")
    parser.add_argument("--labels", type=Path, help="optional (n_samples,) .npy of class indices")
    parser.add_argument("--n-intervals", type=int, default=12, help="cover intervals (default: %(default)s)")
    parser.add_argument("--overlap", type=float, default=0.4, help="cover overlap (default: %(default)s)")
    parser.add_argument(
        "--eps",
        default="auto",
        help='DBSCAN radius, or "auto" to pick it from the data (default: %(default)s)',
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.eps != "auto":
        try:
            args.eps = float(args.eps)
        except ValueError:
            parser.error(f'--eps must be a positive number or "auto", got {args.eps!r}')
    if args.epochs is None:
        args.epochs = 2 if args.quick else 30
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.labels is not None and args.activations is None:
        parser.error("--labels goes with --activations")
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    out_dir = Path(args.logdir)
    start = time.perf_counter()

    if args.activations is None:
        acts_path, labels_path = save_activations(out_dir, args.epochs, args.seed)
    else:
        acts_path, labels_path = args.activations, args.labels
        out_dir.mkdir(parents=True, exist_ok=True)

    # From here on only the saved files are used: this is all the engine needs.
    from topoact_lightning import Mapper

    X = np.load(acts_path)
    labels = np.load(labels_path) if labels_path is not None else None
    class_names = [str(c) for c in range(int(labels.max()) + 1)] if labels is not None else None
    mapper = Mapper(
        lens="l2norm",
        n_intervals=args.n_intervals,
        overlap=args.overlap,
        eps=args.eps,
        random_state=args.seed,
    )
    graph = mapper.fit(X, labels=labels, class_names=class_names).graph_
    print(
        f"Mapper graph: {graph.n_nodes} nodes, {graph.n_edges} edges from {X.shape[0]} x {X.shape[1]} activations "
        f"in {sum(mapper.timings_.values()):.2f} s "
        f"(DBSCAN eps {mapper.eps_:.3g}{', chosen automatically' if args.eps == 'auto' else ''})"
    )

    metrics = graph.metrics()
    width = max(map(len, metrics))
    for name, value in metrics.items():
        print(f"  {name:<{width}}  {value:.3f}")

    import kmapper

    html_path = out_dir / "mapper.html"
    # KeplerMapper divides by each feature's spread for its tooltips; dead ReLU units have none.
    with np.errstate(divide="ignore", invalid="ignore"):
        kmapper.KeplerMapper(verbose=0).visualize(
            graph.to_kmapper(),
            path_html=str(html_path),
            title=f"Mapper graph of {acts_path.name} (lens: L2 norm)",
            color_values=labels if labels is not None else graph.lens,
            color_function_name=["class" if labels is not None else "lens"],
            custom_tooltips=labels,
            X=X,
            lens=graph.lens.reshape(-1, 1),
            lens_names=["L2 norm"],
        )

    import networkx as nx

    nxg = graph.to_networkx()
    graphml_path = out_dir / "mapper.graphml"
    nx.write_graphml(graphml_ready(nxg), graphml_path)
    largest = max(nx.connected_components(nxg), key=len) if nxg.number_of_nodes() else set()
    print(
        f"networkx: {nxg.number_of_nodes()} nodes, {nxg.number_of_edges()} edges, "
        f"{nx.number_connected_components(nxg)} components (the largest has {len(largest)} nodes)"
    )
    print(f"wrote {html_path} (KeplerMapper page) and {graphml_path} in {time.perf_counter() - start:.1f} s")
    return metrics


if __name__ == "__main__":
    main()
