"""SparseTensor products vs raw torch.sparse and scipy.sparse: the wrapper's overhead.

10^5 x 10^5 matrices with 10^6 non-zeros; dense operands with k = 1, 16, 64 columns, both
sides (``S @ X`` and ``X @ S``), float32 and float64. Each case times adjacent pairs of samples
(ours then raw, raw then ours, …); the overhead is the median per-pair CPU-time ratio, which
load from other processes hits alike on both sides.
Writes benchmarks/results/sparse.{json,png}; ``--report`` writes docs/results/sparse.md from
the recorded JSON.
"""

from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from bayesparse.benchmarking import (
    load_results,
    markdown_table,
    result_path,
    write_report,
    write_results,
)
from bayesparse.sparse import random_pattern


def _sample(fn, number: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call over ``number`` calls."""
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(number):
        fn()
    return (time.process_time() - c0) / number, (time.perf_counter() - w0) / number


def paired(ours, raw, pairs: int, sample_s: float = 0.04) -> dict:
    """Overhead of ``ours`` over ``raw`` from adjacent, order-alternated samples.

    The median of per-pair CPU-time ratios resists load from other processes (both samples of a
    pair see the same load); the best wall time of each is reported as well.
    """
    start = time.perf_counter()
    raw()
    number = max(1, int(sample_s / max(time.perf_counter() - start, 1e-9)))
    ratios, best_ours, best_raw = [], float("inf"), float("inf")
    for i in range(pairs):
        order = (ours, raw) if i % 2 == 0 else (raw, ours)
        first, second = (_sample(f, number) for f in order)
        o, r = (first, second) if i % 2 == 0 else (second, first)
        ratios.append(o[0] / r[0])
        best_ours, best_raw = min(best_ours, o[1]), min(best_raw, r[1])
    return {"overhead": float(np.median(ratios)) - 1, "ours_s": best_ours, "raw_s": best_raw,
            "wall_overhead": best_ours / best_raw - 1}


COLUMNS = ["dtype", "k", "backend", "product", "overhead", "wall_overhead", "ours_s", "raw_s"]


def report() -> None:
    """docs/results/sparse.md from the recorded JSON."""
    res = load_results("sparse")
    p, env = res["params"], res.get("environment", {})
    commit = env.get("commit") or "unknown"
    text = (
        "# SparseTensor product overhead\n\n"
        f"`SparseTensor @` against raw torch.sparse / scipy.sparse on the same matrix: "
        f"{p['n']}x{p['n']}, {p['nnz']} non-zeros, {p['repeat']} sample pairs, "
        f"{p['torch_threads']} torch thread(s); {res['method']}. "
        f"Target: {res['target']}. Worst case: {res['worst_overhead']:+.1%}. "
        f"Commit `{commit}`.\n\n"
        + markdown_table(res["cases"], COLUMNS)
        + "\n![overhead per case](../../benchmarks/results/sparse.png)\n"
    )
    print(write_report("sparse", text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="2000 x 2000, few repeats: a few seconds, a smoke run")
    parser.add_argument("--report", action="store_true",
                        help="write docs/results/sparse.md from the recorded JSON and exit")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: OpenMP spin-waits blur CPU time on a "
                             "shared machine; the wrapper's cost is per call, not per thread)")
    args = parser.parse_args()
    if args.report:
        report()
        return
    torch.set_num_threads(args.threads)
    n, nnz, repeat = (2000, 2 * 10**4, 2) if args.quick else (10**5, 10**6, 31)
    sample_s = 0.005 if args.quick else 0.04
    pat = random_pattern((n, n), nnz / n**2, random_state=0)
    rng = np.random.default_rng(0)
    cases = []
    for dtype in (torch.float32, torch.float64):
        s = pat.with_values(torch.from_numpy(rng.normal(size=pat.nnz)).to(dtype))
        raw_torch = s.to_torch("csr")
        raw_torch_t = s.T.to_torch("csr")
        raw_scipy = s.to_scipy()
        for k in (1, 16, 64):
            xt = torch.from_numpy(rng.normal(size=(n, k))).to(dtype)
            if k == 1:
                xt = xt[:, 0]
            xn = xt.numpy()
            lt = xt.T.contiguous() if k > 1 else xt
            ln = lt.numpy()
            raw_left = (lambda: torch.mv(raw_torch_t, lt)) if k == 1 else (
                lambda: torch.mm(raw_torch_t, lt.T).T)
            raw_right = (lambda: torch.mv(raw_torch, xt)) if k == 1 else (
                lambda: torch.mm(raw_torch, xt))
            torch.testing.assert_close(s @ xt, raw_right())
            torch.testing.assert_close(lt @ s, raw_left())
            pairs = {
                ("torch", "S@X"): (lambda: s @ xt, raw_right),
                ("torch", "X@S"): (lambda: lt @ s, raw_left),
                ("scipy", "S@X"): (lambda: s @ xn, lambda: raw_scipy @ xn),
                ("scipy", "X@S"): (lambda: ln @ s, lambda: ln @ raw_scipy),
            }
            for (backend, side), (ours, raw) in pairs.items():
                cases.append({"dtype": str(dtype).removeprefix("torch."), "k": k,
                              "backend": backend, "product": side,
                              **paired(ours, raw, repeat, sample_s)})
    worst = max(c["overhead"] for c in cases)
    params = {"n": n, "nnz": pat.nnz, "repeat": repeat, "quick": args.quick,
              "torch_threads": torch.get_num_threads()}
    write_results("sparse", params, cases, worst_overhead=worst,
                  target="overhead < 10% in every case",
                  method="median CPU-time ratio of adjacent, order-alternated sample pairs")
    print(markdown_table(cases, ["dtype", "k", "backend", "product", "overhead",
                               "wall_overhead"]))
    print(f"worst overhead {worst:+.1%} (target < +10%)")

    fig, ax = plt.subplots(figsize=(9, 4))
    labels = [f"{c['backend']} {c['product']}\n{c['dtype']} k={c['k']}" for c in cases]
    ax.bar(range(len(cases)), [100 * c["overhead"] for c in cases],
           color=["C0" if c["backend"] == "torch" else "C1" for c in cases])
    ax.axhline(10, color="red", ls="--", label="target +10%")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(cases)), labels, rotation=90, fontsize=6)
    ax.set_ylabel("overhead vs raw (%)")
    ax.set_title(f"SparseTensor matmul overhead (median CPU-time ratio), {n}x{n}, "
                 f"nnz={pat.nnz}, {repeat} sample pairs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(result_path("sparse", "png"), dpi=120)


if __name__ == "__main__":
    main()
