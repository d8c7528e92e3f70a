"""Tour step: FastRP embeddings of a planted-community graph, PCA-projected, by community."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from bayesparse.datasets.graphs import make_planted_graph
from bayesparse.models.fastrp import FastRP
from bayesparse.tour import TourRow

NAME = "fastrp"
ORDER = 80


def run(out: Path) -> list[TourRow]:
    a, y = make_planted_graph(20_000, avg_degree=10, random_state=0)
    start = time.perf_counter()
    emb = FastRP(128, random_state=0).fit_transform(a)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    comms = rng.choice(y.max() + 1, 8, replace=False)
    nodes = np.flatnonzero(np.isin(y, comms))
    train = rng.random(nodes.size) < 0.5
    clf = LogisticRegression(max_iter=500).fit(emb[nodes[train]], y[nodes[train]])
    f1 = f1_score(y[nodes[~train]], clf.predict(emb[nodes[~train]]), average="macro")
    xy = PCA(2, random_state=0).fit_transform(emb[nodes])
    fig, ax = plt.subplots(figsize=(5, 4))
    for c in comms:
        sel = y[nodes] == c
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8, label=str(c))
    ax.set_title("FastRP of a 20k-node planted graph: 8 communities (PCA)")
    ax.legend(fontsize=6, title="community", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "fastrp_embedding_pca.png", dpi=110)
    plt.close(fig)
    return [TourRow("fastrp", f"20k nodes, {a.nnz} nnz, dim 128",
                    f"macro-F1 {f1:.3f} on 8 communities (50% train)", seconds)]
