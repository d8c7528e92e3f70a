"""SDR theory vs simulation, and SparseyMemory vs 1-nearest-neighbour.

Part ``sdr_theory``: false-match rates of a segment (s synapses, threshold θ) against random
codes (a of n active), and the union false-match rate of a segment storing M patterns, from
the closed forms of ``bayesparse.theory.sdr`` and from the Monte Carlo simulator, over
n ∈ {1024, 2048, 4096, 16384}, a ∈ {16, 32, 64}, s ∈ {16, 24}, θ ∈ {2..5}, M ∈ {1, 4}.
Part ``sdr_sparsey``: recall accuracy vs number stored and vs input noise, the saturation vs its
estimate, store/recall time per item at 1k, 10k and 100k stored (vs sklearn 1-NN query time),
and single-pass classification of binarized sklearn digits and of MNIST-1D (generated locally,
scalar-encoded) by best-match recall, vs sklearn 1-NN accuracy and time.
Writes results/sdr_theory.{json,png} and results/sdr_sparsey.{json,png}.
"""

from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from bayesparse.benchmarking import (
    load_results,
    markdown_table,
    result_path,
    write_report,
    write_results,
)
from bayesparse.models import SparseyMemory
from bayesparse.models.sdr_encoders import binary_image_encode, scalar_encode
from bayesparse.sparse import SparseTensor
from bayesparse.sparse.codes import add_noise
from bayesparse.theory import simulate_union_false_match, union_false_match_probability


def sdr_theory(quick: bool) -> None:
    trials = 5_000 if quick else 100_000
    grid_n = [1024, 16384] if quick else [1024, 2048, 4096, 16384]
    cases = []
    for n in grid_n:
        for a in (16, 32, 64):
            for s in (16, 24):
                for theta in (2, 3, 4, 5):
                    for m in (1, 4):
                        exact = union_false_match_probability(n, a, s, theta, m)
                        sim = simulate_union_false_match(n, a, s, theta, m, n_trials=trials,
                                                         random_state=len(cases))
                        resolved = exact * trials >= 400  # relative s.e. of the estimate <= 5%
                        cases.append({
                            "n": n, "a": a, "s": s, "theta": theta, "m": m, "exact": exact,
                            "plug_in": union_false_match_probability(n, a, s, theta, m,
                                                                     method="plug-in"),
                            "simulated": sim.probability, "stderr": sim.stderr,
                            "rel_error": abs(sim.probability - exact) / exact,
                            "resolved": resolved,
                        })
    checked = [c for c in cases if c["resolved"] and c["exact"] > 1e-6]
    summary = {"n_cases": len(cases), "n_checked": len(checked),
               "max_rel_error_checked": max(c["rel_error"] for c in checked),
               "n_within_10pct": sum(c["rel_error"] <= 0.1 for c in checked)}
    write_results("sdr_theory", {"n_trials": trials, "quick": quick}, cases, summary=summary)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, m in zip(axes, (1, 4)):
        for i, n in enumerate(grid_n):
            rows = [c for c in cases if c["n"] == n and c["a"] == 64 and c["s"] == 24
                    and c["m"] == m]
            th = [c["theta"] for c in rows]
            ax.semilogy(th, [c["exact"] for c in rows], "-", color=f"C{i}", label=f"n={n}")
            ax.semilogy(th, [max(c["simulated"], 1e-9) for c in rows], "o", color=f"C{i}")
        ax.set_xlabel("threshold θ")
        ax.set_ylabel("false-match probability")
        ax.set_title(f"a=64, s=24, M={m}: closed form (lines) vs simulation (dots)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(result_path("sdr_theory", "png"), dpi=110)
    plt.close(fig)
    print(summary)


def _random_items(n: int, a: int, count: int, seed: int) -> SparseTensor:
    rng = np.random.default_rng(seed)
    keys = rng.random((count, n))
    return SparseTensor.from_rows(list(np.sort(np.argpartition(keys, a, axis=1)[:, :a], 1)), n)


def _dense(codes: SparseTensor) -> np.ndarray:
    return codes.to_dense().numpy().astype(np.int8)


def _accuracy_curves(quick: bool) -> tuple[list[dict], list[dict]]:
    n, a, q, k = 1000, 20, 32, 64
    sizes = [100, 300] if quick else [250, 500, 1000, 2000, 4000]
    by_size = []
    for count in sizes:
        items = _random_items(n, a, count, seed=count)
        mem = SparseyMemory(n, n_cms=q, cells_per_cm=k, random_state=0).store_batch(items)
        noisy = add_noise(items, a // 10, random_state=1)
        by_size.append({
            "n_stored": count, "clean": float((mem.recall_batch(items) == np.arange(count)).mean()),
            "noise_10pct": float((mem.recall_batch(noisy) == np.arange(count)).mean()),
            "saturation": mem.saturation_,
            "expected_saturation": float(mem.expected_saturation(count, a / n)),
            "capacity_estimate": mem.capacity_estimate(a / n, 0.5),
        })
    count = sizes[-1] if quick else 1000
    items = _random_items(n, a, count, seed=7)
    mem = SparseyMemory(n, n_cms=q, cells_per_cm=k, random_state=0).store_batch(items)
    by_noise = []
    for flips in (0, 2, 4, 6, 8, 10):
        noisy = add_noise(items, flips, random_state=flips)
        by_noise.append({"n_stored": count, "noise": flips / a,
                         "recall": float((mem.recall_batch(noisy) == np.arange(count)).mean())})
    return by_size, by_noise


def _timing(quick: bool) -> list[dict]:
    # Sparse inputs and K=256 keep 100k items below saturation (about 0.3 expected).
    n, a, q, k, window = 10_000, 10, 32, 256, 500
    marks = [1000, 3000] if quick else [1000, 10_000, 100_000]
    mem = SparseyMemory(n, n_cms=q, cells_per_cm=k, random_state=0)
    rng = np.random.default_rng(0)
    stored = []
    rows = []
    for mark in marks:
        while mem.n_stored_ < mark - window:
            batch = [np.sort(rng.choice(n, a, replace=False)) for _ in range(1000)]
            batch = batch[: mark - window - mem.n_stored_]
            stored.extend(batch)
            mem.store_batch(SparseTensor.from_rows(batch, n))
        new = [np.sort(rng.choice(n, a, replace=False)) for _ in range(window)]
        X = _dense(SparseTensor.from_rows(new, n))
        t0 = time.perf_counter()
        mem.store_batch(X)
        t_store = (time.perf_counter() - t0) / window
        stored.extend(new)
        t0 = time.perf_counter()
        got = mem.recall_batch(X)
        t_recall = (time.perf_counter() - t0) / window
        knn_X = SparseTensor.from_rows(stored, n).to_scipy()
        knn = KNeighborsClassifier(n_neighbors=1, algorithm="brute").fit(
            knn_X, np.arange(len(stored)))
        t0 = time.perf_counter()
        knn.predict(X)
        t_knn = (time.perf_counter() - t0) / window
        rows.append({"n_stored": mem.n_stored_, "store_s_per_item": t_store,
                     "recall_s_per_item": t_recall, "knn_query_s_per_item": t_knn,
                     "recall_accuracy_last_window": float(
                         (got == np.arange(mark - window, mark)).mean()),
                     "saturation": mem.saturation_})
    return rows


def _classify(name: str, X_train, y_train, X_test, y_test, mem_kwargs: dict) -> dict:
    t0 = time.perf_counter()
    mem = SparseyMemory(X_train.shape[1], random_state=0, **mem_kwargs).store_batch(X_train)
    t_store = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = y_train[mem.recall_batch(X_test)]
    t_recall = time.perf_counter() - t0
    t0 = time.perf_counter()
    knn = KNeighborsClassifier(n_neighbors=1).fit(X_train, y_train)
    knn_pred = knn.predict(X_test)
    t_knn = time.perf_counter() - t0
    return {"dataset": name, "n_train": len(y_train), "n_test": len(y_test),
            "sparsey_accuracy": float((pred == y_test).mean()),
            "knn_accuracy": float((knn_pred == y_test).mean()),
            "sparsey_store_s": t_store, "sparsey_recall_s": t_recall, "knn_s": t_knn,
            "saturation": mem.saturation_}


def _datasets(quick: bool) -> list[dict]:
    digits = load_digits()
    X = _dense(binary_image_encode(digits.data, threshold=7.0))
    Xtr, Xte, ytr, yte = train_test_split(X, digits.target, test_size=0.2, random_state=0)
    if quick:
        Xtr, ytr, Xte, yte = Xtr[:300], ytr[:300], Xte[:100], yte[:100]
    out = [_classify("digits (binarized 8x8)", Xtr, ytr, Xte, yte,
                     {"n_cms": 16, "cells_per_cm": 32, "n_macrocolumns": 8,
                      "inputs_per_macrocolumn": 32})]
    from bayesparse.datasets import load_mnist1d

    data = load_mnist1d(n_samples=600 if quick else 5000)
    lo, hi = data.X_train.min(axis=0), data.X_train.max(axis=0)
    enc_tr = _dense(scalar_encode(data.X_train, 16, 4, lo, hi))
    enc_te = _dense(scalar_encode(data.X_test, 16, 4, lo, hi))
    out.append(_classify("MNIST-1D (scalar-encoded 40x16)", enc_tr, data.y_train, enc_te,
                         data.y_test, {"n_cms": 16, "cells_per_cm": 32, "n_macrocolumns": 8,
                                       "inputs_per_macrocolumn": 160}))
    return out


def sdr_sparsey(quick: bool) -> None:
    by_size, by_noise = _accuracy_curves(quick)
    timing = _timing(quick)
    classify = _datasets(quick)
    t0, t_end = timing[0], timing[-1]
    summary = {
        "store_time_ratio_last_vs_first": t_end["store_s_per_item"] / t0["store_s_per_item"],
        "recall_time_ratio_last_vs_first": t_end["recall_s_per_item"] / t0["recall_s_per_item"],
        "knn_time_ratio_last_vs_first": t_end["knn_query_s_per_item"]
        / t0["knn_query_s_per_item"],
        "noise_10pct_recall_at_1000": next(
            (r["noise_10pct"] for r in by_size if r["n_stored"] == 1000), None),
    }
    write_results("sdr_sparsey", {"quick": quick}, classify, by_size=by_size,
                  by_noise=by_noise, timing=timing, summary=summary)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ns = [r["n_stored"] for r in by_size]
    axes[0].plot(ns, [r["clean"] for r in by_size], "o-", label="recall, clean")
    axes[0].plot(ns, [r["noise_10pct"] for r in by_size], "s-", label="recall, 10% noise")
    axes[0].plot(ns, [r["saturation"] for r in by_size], "k^-", label="saturation")
    axes[0].plot(ns, [r["expected_saturation"] for r in by_size], "k:",
                 label="1-(1-d/K)^N")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("items stored")
    axes[0].legend(fontsize=7)
    axes[1].plot([r["noise"] for r in by_noise], [r["recall"] for r in by_noise], "o-")
    axes[1].set_xlabel("fraction of active bits moved")
    axes[1].set_ylabel(f"recall of {by_noise[0]['n_stored']} items")
    nt = [r["n_stored"] for r in timing]
    for key, lab in (("store_s_per_item", "Sparsey store"),
                     ("recall_s_per_item", "Sparsey recall"),
                     ("knn_query_s_per_item", "1-NN query")):
        axes[2].loglog(nt, [r[key] for r in timing], "o-", label=lab)
    axes[2].set_xlabel("items stored")
    axes[2].set_ylabel("seconds per item")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(result_path("sdr_sparsey", "png"), dpi=110)
    plt.close(fig)
    print(summary)
    print(classify)


def report() -> None:
    th = load_results("sdr_theory")
    sp = load_results("sdr_sparsey")
    s = th["summary"]
    md = (
        "# SDR memory: results\n\n"
        "Generated from `benchmarks/results/sdr_theory.json` and `sdr_sparsey.json` by "
        "`python benchmarks/sdr.py --report`.\n\n## Theory vs simulation\n\n"
        f"{s['n_cases']} cases, {th['params']['n_trials']} trials each; "
        f"{s['n_within_10pct']} of the {s['n_checked']} resolved cases with p > 1e-6 within "
        f"10% of the exact closed form (largest relative error "
        f"{s['max_rel_error_checked']:.3f}).\n\n"
        + markdown_table([c for c in th["cases"] if c["a"] == 64 and c["s"] == 24],
                         ["n", "theta", "m", "exact", "plug_in", "simulated", "rel_error"])
        + "\n## Sparsey: recall vs items stored (n=1000, a=20, Q=32, K=64)\n\n"
        + markdown_table(sp["by_size"], ["n_stored", "clean", "noise_10pct", "saturation",
                                         "expected_saturation"])
        + "\n## Recall vs noise\n\n" + markdown_table(sp["by_noise"],
                                                      ["n_stored", "noise", "recall"])
        + "\n## Time per item vs items stored (n=10000, a=10, Q=32, K=256)\n\n"
        + markdown_table(sp["timing"], ["n_stored", "store_s_per_item", "recall_s_per_item",
                                        "knn_query_s_per_item", "recall_accuracy_last_window"])
        + "\n## Single-pass classification vs 1-NN\n\n"
        + markdown_table(sp["cases"], ["dataset", "n_train", "sparsey_accuracy", "knn_accuracy",
                                       "sparsey_store_s", "sparsey_recall_s", "knn_s"])
    )
    write_report("sdr", md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small grid, a few seconds")
    parser.add_argument("--report", action="store_true", help="write docs/results/sdr.md")
    parser.add_argument("--part", choices=["sdr_theory", "sdr_sparsey"], default=None)
    args = parser.parse_args()
    if args.report:
        report()
        return
    if args.part in (None, "sdr_theory"):
        sdr_theory(args.quick)
    if args.part in (None, "sdr_sparsey"):
        sdr_sparsey(args.quick)


if __name__ == "__main__":
    main()
