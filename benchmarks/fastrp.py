"""FastRP vs the Rust ``fastrp`` package vs plain scipy; very sparse projections vs sklearn.

Part ``fastrp``: planted-community DC-SBM graphs (communities of 50 nodes, average degree 10),
dim 128, 4 powers. Every method runs in its own subprocess (after the graph is built there),
so wall time and peak memory (``ru_maxrss`` growth over the loaded graph) do not interfere.
Quality: community AUC (cosine similarity of same-community pairs against random pairs) and
macro-F1 of a logistic regression on the embeddings of 20 communities (half of the nodes train).
node2vec is not run: no PyPI node2vec installs without a different torch (pyproject pins 2.13).

Part ``random_projection``: ``transform`` of a 10^5 x 10^5 sparse matrix (10^6 non-zeros) to
256 dimensions, ours vs sklearn ``SparseRandomProjection`` (same density, same output).
Writes benchmarks/results/fastrp{,_rp}.{json,png}; ``--report`` writes docs/results/fastrp.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
import torch

from bayesparse.benchmarking import (
    load_results,
    markdown_table,
    result_path,
    write_report,
    write_results,
)
from bayesparse.datasets.graphs import make_planted_graph
from bayesparse.models.fastrp import FastRP
from bayesparse.models.random_projection import VerySparseRandomProjection

WEIGHTS = (0.0, 0.0, 1.0, 6.0)
BETA = -0.5
DIM = 128


def _scipy_fastrp(a: sp.csr_matrix, seed: int) -> np.ndarray:
    """The authors' algorithm in plain scipy/numpy (single-threaded products)."""
    n = a.shape[0]
    d = np.asarray(a.sum(1)).ravel()
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    m = (sp.diags(inv) @ a).astype(np.float32)
    rng = np.random.default_rng(seed)
    s = np.sqrt(n)
    r = sp.random(n, DIM, density=1 / s, random_state=rng, format="csr", dtype=np.float32)
    r.data = np.where(r.data < 0.5, -1.0, 1.0).astype(np.float32)
    scale = np.where(d > 0, np.where(d > 0, d, 1.0) ** BETA, 0.0).astype(np.float32)
    cur = np.asarray((sp.diags(scale) @ r).todense())
    out = np.zeros_like(cur)
    for w in WEIGHTS:
        cur = m @ cur
        if w:
            out += w * cur / np.maximum(np.linalg.norm(cur, axis=1, keepdims=True), 1e-30)
    return (out - out.mean(0)) / np.maximum(out.std(0), 1e-30)


def _embed(method: str, a: sp.csr_matrix, seed: int) -> np.ndarray:
    if method == "ours":
        return FastRP(DIM, WEIGHTS, BETA, random_state=seed).fit_transform(a)
    if method == "rust":
        import fastrp

        return fastrp.fit_csr(a.indptr, a.indices, a.data, a.shape[0], DIM,
                              weights=[0.0, *WEIGHTS], seed=seed, undirected=False)
    return _scipy_fastrp(a, seed)


def _quality(e: np.ndarray, y: np.ndarray, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, roc_auc_score

    rng = np.random.default_rng(seed)
    x = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-30)
    order = np.argsort(y, kind="stable")
    starts = np.searchsorted(y[order], y[order])
    sizes = np.bincount(y)[y[order]]
    i = rng.integers(0, y.size, 20_000)
    j = order[starts[i] + (rng.random(20_000) * sizes[i]).astype(int)]
    i = order[i]
    same = np.sum(x[i] * x[j], 1)
    k, l_ = rng.integers(0, y.size, (2, 20_000))
    rand = np.sum(x[k] * x[l_], 1)
    auc = roc_auc_score(np.r_[np.ones(same.size), np.zeros(rand.size)], np.r_[same, rand])
    comms = rng.choice(y.max() + 1, 20, replace=False)
    nodes = np.flatnonzero(np.isin(y, comms))
    train = rng.random(nodes.size) < 0.5
    clf = LogisticRegression(max_iter=500).fit(e[nodes[train]], y[nodes[train]])
    f1 = f1_score(y[nodes[~train]], clf.predict(e[nodes[~train]]), average="macro")
    return {"community_auc": float(auc), "macro_f1": float(f1)}


def _one(method: str, n: int, seed: int) -> dict:
    a, y = make_planted_graph(n, avg_degree=10, random_state=seed)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    e = _embed(method, a, seed)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    return {"method": method, "n_nodes": n, "nnz": int(a.nnz), "wall_s": wall,
            "peak_mb": peak / 1024, **_quality(np.asarray(e), y, seed)}


def part_fastrp(quick: bool) -> None:
    sizes = [2_000] if quick else [10_000, 100_000, 1_000_000]
    cases = []
    for n in sizes:
        for method in ("ours", "rust", "scipy"):
            # -P: this script's folder must not shadow the Rust package, also named fastrp.
            proc = subprocess.run([sys.executable, "-P", __file__, "--one", method, str(n)],
                                  capture_output=True, text=True, check=True)
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            print(row, flush=True)
            cases.append(row)
        rust = next(c for c in cases if c["n_nodes"] == n and c["method"] == "rust")
        for c in cases:
            if c["n_nodes"] == n:
                c["time_vs_rust"] = c["wall_s"] / rust["wall_s"]
    write_results("fastrp", {"dim": DIM, "weights": WEIGHTS, "beta": BETA, "avg_degree": 10,
                             "community_size": 50, "torch_threads": torch.get_num_threads()},
                  cases)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for method in ("ours", "rust", "scipy"):
        rows = [c for c in cases if c["method"] == method]
        ax[0].loglog([c["n_nodes"] for c in rows], [c["wall_s"] for c in rows], "o-", label=method)
        ax[1].semilogx([c["n_nodes"] for c in rows], [c["community_auc"] for c in rows], "o-",
                       label=method)
    ax[0].set(xlabel="nodes", ylabel="wall time (s)")
    ax[1].set(xlabel="nodes", ylabel="community AUC")
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(result_path("fastrp", "png"), dpi=120)


def part_random_projection(quick: bool) -> None:
    from sklearn.random_projection import SparseRandomProjection

    n, nnz, k = (10**4, 10**5, 64) if quick else (10**5, 10**6, 256)
    x = sp.random(n, n, density=nnz / n**2, random_state=0, format="csr")
    ours = VerySparseRandomProjection(k, random_state=0).fit(x)
    peer = SparseRandomProjection(k, random_state=0).fit(x)
    t_ours = min(_timed(lambda: ours.transform(x)) for _ in range(3))
    t_peer = min(_timed(lambda: peer.transform(x)) for _ in range(3))
    cases = [{"n": n, "nnz": nnz, "n_components": k, "ours_s": t_ours, "sklearn_s": t_peer,
              "speedup": t_peer / t_ours}]
    print(cases, flush=True)
    write_results("fastrp_rp", {"torch_threads": torch.get_num_threads()}, cases)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["ours", "sklearn"], [t_ours, t_peer])
    ax.set(ylabel="transform wall time (s)", title=f"{n}x{n}, {nnz} nnz -> {k}")
    fig.tight_layout()
    fig.savefig(result_path("fastrp_rp", "png"), dpi=120)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report() -> None:
    fr = load_results("fastrp")
    rp = load_results("fastrp_rp")
    md = ["# FastRP and very sparse random projections: results\n",
          f"Commit {fr['environment'].get('commit')}; parameters {fr['params']}.\n",
          "## FastRP: ours vs Rust `fastrp` vs plain scipy\n",
          markdown_table(fr["cases"], ["n_nodes", "nnz", "method", "wall_s", "time_vs_rust",
                                       "peak_mb", "community_auc", "macro_f1"]),
          "\n## Very sparse random projection: transform vs sklearn\n",
          markdown_table(rp["cases"], ["n", "nnz", "n_components", "ours_s", "sklearn_s",
                                       "speedup"])]
    print(write_report("fastrp", "\n".join(md)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--part", choices=["fastrp", "random_projection"])
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one[0], int(args.one[1]), 0)))
        return
    if args.report:
        report()
        return
    if args.part in (None, "fastrp"):
        part_fastrp(args.quick)
    if args.part in (None, "random_projection"):
        part_random_projection(args.quick)


if __name__ == "__main__":
    main()
