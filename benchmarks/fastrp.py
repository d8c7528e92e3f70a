"""FastRP vs the Rust ``fastrp`` package vs plain scipy; very sparse projections vs sklearn.

Part ``fastrp``: planted-community DC-SBM graphs (communities of 50 nodes, average degree 10;
10k, 100k and 1M nodes), dim 128, 4 powers with weights (0, 0, 1, 6), β = −0.5 (the Rust
package has no β and no per-power normalisation; it gets ``weights=[0, 0, 0, 1, 6]``). Every
run is its own subprocess that loads the graph, warms each method up on a 1000-node subgraph
(the Rust extension, or numba's cached kernels, threaded ones included) and then times one
embedding: wall time and peak memory (RSS high-water mark above the RSS with the graph
loaded). Ours and Rust alternate (their order flips every repetition) so the load of the
shared machine hits both alike; the ratio ``time_vs_rust`` is taken per repetition and its
median reported. Quality: community AUC (cosine similarity of same-community pairs against
random pairs) and macro-F1 of a logistic regression on the embeddings of 20 communities (half
of their nodes train).
node2vec is not run: the PyPI ``node2vec`` package needs gensim, which downgrades numpy to
1.26 in this environment.

Part ``random_projection``: ``transform`` to 256 dimensions, ours vs sklearn
``SparseRandomProjection`` (same density, same distribution), alternating, median ratio, of a
10^5 x 10^5 sparse matrix (10^6 non-zeros; with numba's threads and with one thread, and with
``dense_output=True``) and of a dense 4000 x 10^4 array; each case also checks that our output
equals scipy's product with our components bit for bit.
Writes fastrp{,_rp}.{json,png} into ``results_dir()``; ``--report`` writes
docs/results/fastrp.md from the recorded JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from bayesparse.benchmarking import (
    load_results,
    markdown_table,
    result_path,
    write_report,
    write_results,
)

WEIGHTS = (0.0, 0.0, 1.0, 6.0)
BETA = -0.5
DIM = 128
METHODS = ("ours", "rust", "scipy")


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
        from bayesparse.models.fastrp import FastRP

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


def _save_graph(path: Path, n: int) -> int:
    from bayesparse.datasets.graphs import make_planted_graph

    a, y = make_planted_graph(n, avg_degree=10, random_state=0)
    np.savez(path, indptr=a.indptr, indices=a.indices, data=a.data, labels=y)
    return int(a.nnz)


def _warm_up(method: str, a: sp.csr_matrix, seed: int) -> None:
    """Load compiled code before timing: the Rust extension, or numba's cached kernels, the
    threaded ones included (a small graph alone would only run the single-threaded ones)."""
    if method != "ours":
        _embed(method, a, seed)
        return
    import bayesparse.models.fastrp as module

    threshold = module.PARALLEL_MIN_WORK
    try:
        for module.PARALLEL_MIN_WORK in (threshold, 0):
            _embed(method, a, seed)
    finally:
        module.PARALLEL_MIN_WORK = threshold


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _one(method: str, graph: str, seed: int) -> dict:
    """One timed embedding in this process; peak memory is the RSS high-water mark above the
    RSS with the graph loaded (Linux: the mark is reset through /proc/self/clear_refs)."""
    z = np.load(graph)
    y = z["labels"]
    a = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(y.size, y.size))
    _warm_up(method, a[:1000][:, :1000], seed)
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kb("VmRSS")
    start = time.perf_counter()
    e = _embed(method, a, seed)
    wall = time.perf_counter() - start
    peak = _status_kb("VmHWM") - base
    return {"method": method, "n_nodes": int(y.size), "nnz": int(a.nnz), "seed": seed,
            "wall_s": wall, "peak_mb": peak / 1024, **_quality(np.asarray(e), y, seed)}


def _run(method: str, graph: Path, seed: int, fresh: bool = True) -> dict:
    """One timed embedding, in a fresh subprocess unless ``fresh`` is False (quick mode)."""
    if fresh:
        proc = subprocess.run([sys.executable, __file__, "--one", method, str(graph),
                               str(seed)], capture_output=True, text=True, check=True)
        row = json.loads(proc.stdout.strip().splitlines()[-1])
    else:
        row = _one(method, str(graph), seed)
    print(row, flush=True)
    return row


def part_fastrp(quick: bool) -> None:
    import numba
    import torch

    sizes = [2_000] if quick else [10_000, 100_000, 1_000_000]
    reps = {2_000: 1, 10_000: 5, 100_000: 3, 1_000_000: 3}
    cases, summary = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            graph = Path(tmp) / f"graph_{n}.npz"
            nnz = _save_graph(graph, n)
            rows = []
            for rep in range(reps[n]):
                pair = ("ours", "rust") if rep % 2 == 0 else ("rust", "ours")
                rows += [_run(m, graph, rep, not quick) for m in pair]
            rows.append(_run("scipy", graph, 0, not quick))
            for r in rows:
                r["time_vs_rust"] = r["wall_s"] / next(
                    q["wall_s"] for q in rows if q["method"] == "rust" and q["seed"] == r["seed"])
            cases += rows
            for m in METHODS:
                mine = [r for r in rows if r["method"] == m]
                summary.append({"n_nodes": n, "nnz": nnz, "method": m, "runs": len(mine), **{
                    k: float(np.median([r[k] for r in mine]))
                    for k in ("wall_s", "time_vs_rust", "peak_mb", "community_auc", "macro_f1")}})
    write_results("fastrp", {"dim": DIM, "weights": WEIGHTS, "beta": BETA, "avg_degree": 10,
                             "community_size": 50, "numba_threads": numba.get_num_threads(),
                             "torch_threads": torch.get_num_threads(),
                             "load_avg_1min": os.getloadavg()[0]},
                  cases, summary=summary)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for m in METHODS:
        rows = [c for c in summary if c["method"] == m]
        ax[0].loglog([c["n_nodes"] for c in rows], [c["wall_s"] for c in rows], "o-", label=m)
        ax[1].semilogx([c["n_nodes"] for c in rows], [c["community_auc"] for c in rows], "o-",
                       label=m)
    ax[0].set(xlabel="nodes", ylabel="median wall time (s)")
    ax[1].set(xlabel="nodes", ylabel="community AUC")
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(result_path("fastrp", "png"), dpi=120)
    plt.close(fig)


def part_random_projection(quick: bool) -> None:
    import numba
    from sklearn.random_projection import SparseRandomProjection

    from bayesparse.models.random_projection import VerySparseRandomProjection

    rng = np.random.default_rng(0)
    n, nnz, k, reps = (10**4, 10**5, 64, 5) if quick else (10**5, 10**6, 256, 21)
    sparse_x = sp.random(n, n, density=nnz / n**2, random_state=rng, format="csr")
    n_dense, d_dense = (500, 2000) if quick else (4000, 10**4)
    dense_x = rng.normal(size=(n_dense, d_dense))
    threads = numba.get_num_threads()
    setups = [("sparse", sparse_x, False, threads), ("sparse", sparse_x, False, 1),
              ("sparse, dense_output", sparse_x, True, threads),
              ("dense", dense_x, False, threads)]
    cases = []
    for name, x, dense_output, n_threads in setups:
        numba.set_num_threads(n_threads)
        try:
            cases.append(_compare_projection(name, x, k, dense_output, n_threads,
                                             reps if name == "sparse" else max(reps // 2, 5),
                                             VerySparseRandomProjection, SparseRandomProjection))
        finally:
            numba.set_num_threads(threads)
        print(cases[-1], flush=True)
    write_results("fastrp_rp", {"load_avg_1min": os.getloadavg()[0]}, cases)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = [f"{c['case']}\n{c['threads']} thread(s)" for c in cases]
    ax.bar(labels, [c["speedup"] for c in cases])
    ax.axhline(1.5, color="k", ls="--", lw=1, label="target 1.5x (sparse)")
    ax.set(ylabel="sklearn time / ours (median)", title=f"transform to {k} dimensions")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(result_path("fastrp_rp", "png"), dpi=120)
    plt.close(fig)


def _compare_projection(name: str, x, k: int, dense_output: bool, threads: int, reps: int,
                        ours_cls, peer_cls) -> dict:
    """Ours vs sklearn's transform on ``x``, alternating, after a warm-up of both; checks that
    ours equals scipy's product with our components. ``idle_threads``: the mean number of
    threads our product may use before each run (helpers start only on idle cores)."""
    from bayesparse.sparse.spgemm import _idle

    ours = ours_cls(k, dense_output=dense_output, random_state=0).fit(x)
    peer = peer_cls(k, dense_output=dense_output, random_state=0).fit(x)
    got = ours.transform(x)
    want = x @ ours.components_.to_scipy().T.tocsr()
    if sp.issparse(got):
        identical = all(np.array_equal(getattr(got, f), getattr(want, f))
                        for f in ("indptr", "indices", "data"))
    else:
        want = want.toarray() if sp.issparse(want) else np.asarray(want)
        identical = bool(np.array_equal(got, want))
    peer.transform(x)
    t_ours, t_peer, used = [], [], []
    for rep in range(reps):
        used.append(_idle(threads))
        first, second = (ours, peer) if rep % 2 == 0 else (peer, ours)
        a, b = _timed(lambda: first.transform(x)), _timed(lambda: second.transform(x))
        t_ours.append(a if first is ours else b)
        t_peer.append(b if first is ours else a)
    nnz = x.nnz if sp.issparse(x) else x.size
    return {"case": name, "n": x.shape[0], "d": x.shape[1], "nnz": int(nnz), "n_components": k,
            "threads": threads, "idle_threads": float(np.mean(used)), "runs": reps,
            "ours_s": float(np.median(t_ours)),
            "sklearn_s": float(np.median(t_peer)),
            "speedup": float(np.median(np.array(t_peer) / np.array(t_ours))),
            "equals_scipy": identical}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report() -> None:
    fr = load_results("fastrp")
    rp = load_results("fastrp_rp")
    env = fr["environment"]
    md = ["# FastRP and very sparse random projections: results\n",
          f"Commit {env.get('commit')} ({env.get('cpu_count')} cores shared with other jobs; "
          f"1-min load average {fr['params'].get('load_avg_1min', 0):.1f} at the end); "
          f"parameters {fr['params']}.\n",
          "## FastRP: ours vs Rust `fastrp` vs plain scipy\n",
          "Medians over the runs (ours and Rust alternating in fresh processes); "
          "`time_vs_rust` is the median of the per-repetition ratios.\n",
          markdown_table(fr["summary"], ["n_nodes", "nnz", "method", "runs", "wall_s",
                                         "time_vs_rust", "peak_mb", "community_auc",
                                         "macro_f1"]),
          "\n![FastRP wall time and AUC](../../benchmarks/results/fastrp.png)\n",
          "\n## Very sparse random projection: transform vs sklearn\n",
          "`speedup` is the median over alternating runs of sklearn's time over ours; "
          "`equals_scipy`: our output has the arrays of scipy's `X @ R.T` bit for bit; "
          "`threads`: numba's thread count, `idle_threads`: the mean number the product could "
          "use (helper threads start only on idle cores). "
          f"1-min load average {rp['params'].get('load_avg_1min', 0):.1f} at the end.\n",
          markdown_table(rp["cases"], ["case", "n", "d", "nnz", "n_components", "threads",
                                       "idle_threads", "runs", "ours_s", "sklearn_s", "speedup",
                                       "equals_scipy"]),
          "\n![transform speed-up over sklearn](../../benchmarks/results/fastrp_rp.png)\n"]
    print(write_report("fastrp", "\n".join(md)))


def main() -> None:
    # This script is also named fastrp: its folder must not shadow the Rust package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--part", choices=["fastrp", "random_projection"])
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "GRAPH", "SEED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one[0], args.one[1], int(args.one[2]))))
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
