"""SSVI vs dense mean-field VI vs pruning a trained dense VI BNN, on digits and MNIST-1D.

Parts (each writes its own JSON, with the commit, into the results folder):

- ``main`` (``ssvi.json``, ``ssvi.png``): for digits and MNIST-1D, each with an MLP 256-256
  and a small CNN (16, 32), seeds 0-2: dense VI (Bayes by Backprop), SSVI at densities
  50/20/10/5 % (removal by the SNR of ``|theta|``, gradient addition), the ablations at 10 %
  (removal by ``|mu|``, by ``|mu|/sigma``; random addition) and "prune the trained dense VI
  BNN by ``|mu|/sigma``" at the same per-layer densities, without retraining. Test accuracy,
  NLL, ECE (15 bins) and its floor for a perfectly calibrated model, predictive entropy in
  and out of distribution (Gaussian noise), stored size and exact training FLOPs relative to
  dense VI (:class:`~bayesparse.inference.flops.FlopCounter`).
- ``converged`` (``ssvi_converged.json``, ``.png``): wide CNNs trained until dense VI has
  levelled off (digits 100 epochs, 10 seeds; MNIST-1D 200 epochs, 3 seeds), dense VI vs SSVI
  at 10 % vs pruning, with seed-paired differences (mean ± s.e.).
- ``converged-mlp`` (``ssvi_converged_mlp.json``): the MNIST-1D MLP at 120 epochs.
- ``follow-up`` (``ssvi_follow_up.json``): MNIST-1D MLP and CNN at 3x the epochs; the CNN with
  uniform allocation.
- ``timing`` (``ssvi_timing.json``, ``.png``): seconds per training step (forward, backward,
  Adam) against density, one thread, dense VI and SSVI layers interleaved, best of N.

``--quick`` runs every part in a few seconds on a 300-example digits subset (one epoch, one
seed); ``--report`` writes ``docs/results/ssvi.md`` from the recorded JSON.

Run: ``.venv/bin/bayesparse bench ssvi`` (or ``python benchmarks/ssvi.py [--quick] [--part P]``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

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
from bayesparse.datasets.bnn_classification import Split, load_digits_split, load_mnist1d
from bayesparse.inference.flops import FlopCounter
from bayesparse.inference.ssvi import ssvi
from bayesparse.metrics import (
    accuracy,
    calibrated_ece,
    expected_calibration_error,
    nll,
    predictive_entropy,
)
from bayesparse.models.sparse_bnn import BayesCNN, BayesMLP, BayesNet
from bayesparse.sparse import SparseTensor

DENSITIES = (0.5, 0.2, 0.1, 0.05)
ABLATIONS = {"removal=|mu|": dict(removal="mu"), "removal=|mu|/sigma": dict(removal="snr"),
             "addition=random": dict(addition="random")}
TRAIN = {"digits": dict(n_epochs=60, batch_size=64), "mnist1d": dict(n_epochs=40, batch_size=128)}
N_PRED_SAMPLES = 20
# Wide CNNs: at 10 % the small CNN keeps too few weights (the paper sparsifies
# over-parameterized ResNets). Sparse layers run on the masked dense weight
# (sparse_threshold=0), the same function and FLOPs as CSR, faster for small convolutions.
# "erk-flops" on digits moves the active weights to the convolution applied at fewer positions.
WIDE_CNN = {"digits": dict(channels=(32, 64, 64), kernel_size=5, allocation="erk-flops"),
            "mnist1d": dict(channels=(64, 128, 128), kernel_size=5, allocation="erk")}
# Budgets at which dense VI has levelled off. Digits' 360-point test split makes ECE/NLL noisy,
# hence 10 seeds there.
CONVERGED = {"digits": dict(n_epochs=100, batch_size=64, lr=3e-3),
             "mnist1d": dict(n_epochs=200, batch_size=128, lr=3e-3)}
CONVERGED_SEEDS = {"digits": list(range(10)), "mnist1d": [0, 1, 2]}
CONVERGED_MLP = dict(n_epochs=120, batch_size=128)
PARTS = ("main", "converged", "converged-mlp", "follow-up", "timing")
QUICK_TRAIN = dict(n_epochs=1, batch_size=64)


def load(dataset: str, quick: bool) -> Split:
    """The data set; ``quick``: 300 training and 100 test digits, whatever ``dataset``."""
    if quick:
        d = load_digits_split(random_state=0)
        return replace(d, X_train=d.X_train[:300], y_train=d.y_train[:300],
                       X_test=d.X_test[:100], y_test=d.y_test[:100])
    return load_digits_split(random_state=0) if dataset == "digits" else load_mnist1d()


def build(arch: str, data: Split, density: float, seed: int, allocation: str = "erk",
          dataset: str = "digits") -> BayesNet:
    if arch == "mlp":
        return BayesMLP(data.X_train.shape[1], 10, (256, 256), density=density,
                        allocation=allocation, random_state=seed)
    if arch == "cnn-wide":
        return BayesCNN(data.input_shape, 10, **WIDE_CNN[dataset], density=density,
                        sparse_threshold=0.0, random_state=seed)
    return BayesCNN(data.input_shape, 10, (16, 32), density=density, allocation=allocation,
                    random_state=seed)


def fit(net: BayesNet, data: Split, seed: int, **kw: Any) -> dict[str, Any]:
    """Train ``net`` by SSVI (dense VI when dense); FLOP counts and seconds of the run."""
    counter = FlopCounter(net)
    start = time.perf_counter()
    ssvi(net, data.X_train, data.y_train, random_state=seed, callbacks=[counter], **kw)
    seconds = time.perf_counter() - start
    f = counter.summary()
    return {"train_flops": f["flops"], "flops_ratio": f["ratio"],
            "matmul_flops_ratio": f["matmul_ratio"], "seconds": seconds}


def evaluate(net: BayesNet, data: Split, seed: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(seed)
    X = torch.from_numpy(data.X_test)
    ood = torch.randn(X.shape, generator=gen) * X.std() + X.mean()
    # The quick subset has 100 test points: a few samples suffice for a smoke run.
    n_samples = N_PRED_SAMPLES if len(X) > 100 else 2
    with torch.no_grad():
        p = torch.softmax(net.sample(X.double(), n_samples, gen), -1).mean(0).numpy()
        p_ood = torch.softmax(net.sample(ood.double(), n_samples, gen), -1).mean(0).numpy()
    n_bias = sum(layer.out_features for layer in net.bayes_layers())
    floats = 2 * (net.n_active + n_bias)
    index_bytes = sum(4 * (layer.support.nnz + layer.support.shape[0] + 1)
                      for layer in net.sparse_layers())
    return {
        "accuracy": accuracy(p, data.y_test), "nll": nll(p, data.y_test),
        "ece": expected_calibration_error(p, data.y_test),
        # The ECE a perfectly calibrated model with these confidences would show on this
        # test set: the floor set by the test-set size.
        "ece_floor": calibrated_ece(p, random_state=seed),
        "entropy_in": float(predictive_entropy(p).mean()),
        "entropy_ood": float(predictive_entropy(p_ood).mean()),
        "density": net.density, "size_floats": floats, "size_kb": (4 * floats + index_bytes) / 1e3,
    }


def prune_by_snr(dense: BayesNet, sparse: BayesNet) -> BayesNet:
    """Copy a trained dense BNN into ``sparse`` keeping each layer's highest-|mu|/sigma weights."""
    with torch.no_grad():
        for d, s in zip(dense.bayes_layers(), sparse.bayes_layers()):
            mu = d.mu.reshape(d.out_features, -1)
            rho = d.rho.reshape(d.out_features, -1)
            if hasattr(s, "support"):
                snr = mu.abs() / torch.nn.functional.softplus(rho)
                s.set_support(SparseTensor.topk(snr, s.support.nnz).pattern(), mu, rho)
            else:
                s.mu.copy_(d.mu)
                s.rho.copy_(d.rho)
            s.bias_mu.copy_(d.bias_mu)
            s.bias_rho.copy_(d.bias_rho)
    return sparse


def run_task(dataset: str, arch: str, data: Split, seeds: list[int], densities: tuple,
             train: dict[str, Any], ssvi_densities: tuple | None = None,
             ablations: bool = True) -> list[dict[str, Any]]:
    """Dense VI, pruning at ``densities`` and SSVI at ``ssvi_densities`` (default the same)."""
    rows = []
    for seed in seeds:
        base = {"dataset": dataset, "arch": arch, "seed": seed}
        dense = build(arch, data, 1.0, seed, dataset=dataset)
        log = fit(dense, data, seed, **train)
        rows.append({**base, "method": "dense VI", **evaluate(dense, data, seed), **log})
        for d in densities:
            pruned = prune_by_snr(dense, build(arch, data, d, seed, dataset=dataset))
            rows.append({**base, "method": "prune dense VI by SNR",
                         **evaluate(pruned, data, seed), **log, "seconds": 0.0})
        variants = [("SSVI", d, {}) for d in (ssvi_densities or densities)]
        variants += [(f"SSVI {name}", 0.1, kw) for name, kw in ABLATIONS.items()
                     if ablations and 0.1 in densities]
        for method, d, kw in variants:
            net = build(arch, data, d, seed, dataset=dataset)
            log = fit(net, data, seed, **train, **kw)
            rows.append({**base, "method": method, **evaluate(net, data, seed), **log})
        print(f"{dataset}/{arch} seed {seed}: " + ", ".join(
            f"{r['method']}@{r['density']:.2f}={r['accuracy']:.3f}" for r in rows
            if r["seed"] == seed and r["method"] in ("dense VI", "SSVI")), flush=True)
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds per (dataset, arch, method, density)."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["arch"], r["method"], round(r["density"], 2))].append(r)
    out = []
    for (ds, arch, method, dens), rs in groups.items():
        s = {"dataset": ds, "arch": arch, "method": method, "density": dens, "n_seeds": len(rs)}
        for key in ("accuracy", "nll", "ece", "ece_floor", "entropy_in", "entropy_ood",
                    "flops_ratio", "matmul_flops_ratio", "size_kb", "train_flops", "seconds"):
            vals = np.array([r.get(key, np.nan) for r in rs], dtype=float)
            s[key] = float(vals.mean())
            s[key + "_std"] = float(vals.std())
        out.append(s)
    return out


def paired(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task, seed-paired differences at 10 %: SSVI - dense VI and SSVI - pruning
    (accuracy, NLL, ECE); mean, standard error over seeds and the number of seeds."""
    out = []
    for ds, arch in sorted({(r["dataset"], r["arch"]) for r in rows}):
        by: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        for r in rows:
            if (r["dataset"], r["arch"]) == (ds, arch) and round(r["density"], 2) in (0.1, 1.0):
                by[r["method"]][r["seed"]] = r
        for ref in ("dense VI", "prune dense VI by SNR"):
            seeds = sorted(set(by["SSVI"]) & set(by[ref]))
            if not seeds:
                continue
            s = {"dataset": ds, "arch": arch, "comparison": f"SSVI - {ref}", "n_seeds": len(seeds)}
            for key in ("accuracy", "nll", "ece"):
                diff = np.array([by["SSVI"][k][key] - by[ref][k][key] for k in seeds])
                s[key] = float(diff.mean())
                s[key + "_se"] = (float(diff.std(ddof=1) / np.sqrt(len(diff)))
                                  if len(diff) > 1 else float("nan"))
            out.append(s)
    return out


def time_steps(densities: tuple, sizes: tuple[int, ...], repeat: int, steps: int,
               batch: int = 128) -> list[dict[str, Any]]:
    """Best-of-``repeat`` seconds per training step, all densities interleaved in each rep."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, sizes[0], generator=gen)
    y = torch.randint(0, sizes[-1], (batch,), generator=gen)
    nets, opts = {}, {}
    for d in (1.0, *densities):
        nets[d] = BayesMLP(sizes[0], sizes[-1], sizes[1:-1], density=d,
                           allocation="uniform", sparse_threshold=1.0, random_state=0)
        opts[d] = torch.optim.Adam(nets[d].parameters(), lr=1e-3)
    best = {d: float("inf") for d in nets}

    def step(d: float) -> None:
        loss = torch.nn.functional.cross_entropy(nets[d](x, "lrt", gen), y) + 1e-4 * nets[d].kl()
        opts[d].zero_grad()
        loss.backward()
        opts[d].step()

    for _ in range(repeat):
        for d in nets:
            step(d)
            start = time.perf_counter()
            for _ in range(steps):
                step(d)
            best[d] = min(best[d], (time.perf_counter() - start) / steps)
    name = "-".join(str(s) for s in sizes)
    return [{"mlp": name, "density": d, "seconds_per_step": t, "speedup_vs_dense_vi": best[1.0] / t}
            for d, t in best.items()]


def plot_summary(summary: list[dict[str, Any]], path: Path, title: str) -> None:
    """Accuracy vs density (top) and vs training FLOPs (bottom), one column per task."""
    tasks = sorted({(s["dataset"], s["arch"]) for s in summary})
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.2 * len(tasks), 7.5), squeeze=False)
    styles = {"SSVI": ("C0", "o"), "prune dense VI by SNR": ("C3", "s"), "dense VI": ("k", "*")}
    for j, (ds, arch) in enumerate(tasks):
        for method, (color, marker) in styles.items():
            rs = sorted((s for s in summary if (s["dataset"], s["arch"], s["method"]) ==
                         (ds, arch, method)), key=lambda s: s["density"])
            if not rs:
                continue
            acc = [100 * s["accuracy"] for s in rs]
            err = [100 * (s["accuracy_std"] or 0.0) for s in rs]
            axes[0, j].errorbar([s["density"] for s in rs], acc, err, color=color,
                                marker=marker, label=method, capsize=3)
            if method != "prune dense VI by SNR":
                axes[1, j].errorbar([s["train_flops"] for s in rs], acc, err, color=color,
                                    marker=marker, label=method, capsize=3, ls="")
        axes[0, j].set_xscale("log")
        axes[0, j].set_xlabel("density")
        axes[0, j].set_title(f"{ds} / {arch}")
        axes[1, j].set_xscale("log")
        axes[1, j].set_xlabel("training FLOPs")
        for i in (0, 1):
            axes[i, j].set_ylabel("test accuracy (%)")
            axes[i, j].grid(alpha=0.3)
        axes[0, j].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_timing(timing: list[dict[str, Any]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for name in sorted({t["mlp"] for t in timing}):
        ts = sorted((t for t in timing if t["mlp"] == name), key=lambda t: t["density"])
        axes[0].plot([t["density"] for t in ts], [1e3 * t["seconds_per_step"] for t in ts],
                     marker="o", label=f"MLP {name}")
        axes[1].plot([t["density"] for t in ts], [t["speedup_vs_dense_vi"] for t in ts],
                     marker="o", label=f"MLP {name}")
    axes[0].set_ylabel("ms per training step (1 thread)")
    axes[1].set_ylabel("speed-up vs dense VI")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("density (1 = dense VI layers)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def part_main(quick: bool) -> None:
    seeds = [0] if quick else [0, 1, 2]
    densities = (0.1,) if quick else DENSITIES
    datasets = ["digits"] if quick else ["digits", "mnist1d"]
    params = {"seeds": seeds, "densities": densities, "train": TRAIN, "quick": quick,
              "prediction_samples": N_PRED_SAMPLES, "threads": 1}
    rows: list[dict[str, Any]] = []
    for ds in datasets:
        data = load(ds, quick)
        for arch in ("mlp", "cnn"):
            rows += run_task(ds, arch, data, seeds, densities, QUICK_TRAIN if quick else TRAIN[ds],
                             ablations=not quick)
            write_results("ssvi", params, rows, summary=summarize(rows))
    summary = summarize(rows)
    plot_summary(summary, result_path("ssvi", "png"),
                 "SSVI vs dense VI vs pruning after training (mean ± std over seeds)")


def part_converged(quick: bool, datasets: list[str]) -> None:
    """Wide CNNs at the converged budget; re-running some datasets keeps the others' rows."""
    path = result_path("ssvi_converged", "json")
    old = json.loads(path.read_text()) if path.exists() and not quick else {}
    rows: list[dict[str, Any]] = []
    for ds in datasets:
        train = QUICK_TRAIN if quick else CONVERGED[ds]
        rows += run_task(ds, "cnn-wide", load(ds, quick), [0] if quick else CONVERGED_SEEDS[ds],
                         (0.2, 0.1, 0.05), train, ssvi_densities=(0.1,), ablations=False)
    rows += [r for r in old.get("cases", []) if r["dataset"] not in datasets]
    previous = old.get("previous_environments", []) + ([old["environment"]] if old else [])
    params = {"train": CONVERGED, "wide_cnn": WIDE_CNN, "seeds": CONVERGED_SEEDS, "quick": quick,
              "datasets_run": datasets}
    summary = summarize(rows)
    write_results("ssvi_converged", params, rows, summary=summary, paired=paired(rows),
                  previous_environments=previous)
    plot_summary(summary, result_path("ssvi_converged", "png"),
                 "Wide CNNs at the converged budget (mean ± std over seeds)")


def part_converged_mlp(quick: bool) -> None:
    ds = "digits" if quick else "mnist1d"
    rows = run_task(ds, "mlp", load(ds, quick), [0] if quick else [0, 1, 2], (0.2, 0.1, 0.05),
                    QUICK_TRAIN if quick else CONVERGED_MLP, ssvi_densities=(0.1,),
                    ablations=False)
    write_results("ssvi_converged_mlp", {"train": CONVERGED_MLP, "quick": quick}, rows,
                  summary=summarize(rows), paired=paired(rows))


def part_follow_up(quick: bool) -> None:
    """MNIST-1D: MLP and CNN trained 3x longer; the CNN with uniform allocation."""
    ds = "digits" if quick else "mnist1d"
    data = load(ds, quick)
    base = QUICK_TRAIN if quick else TRAIN["mnist1d"]
    epochs = base["n_epochs"] if quick else 3 * base["n_epochs"]
    rows = []
    for arch, n_epochs, allocation in (("mlp", epochs, "erk"), ("cnn", epochs, "erk"),
                                       ("cnn", base["n_epochs"], "uniform")):
        for seed in [0] if quick else [0, 1, 2]:
            for method, d in (("dense VI", 1.0), ("SSVI", 0.1)):
                if method == "dense VI" and allocation != "erk":
                    continue
                net = build(arch, data, d, seed, allocation)
                log = fit(net, data, seed, **dict(base, n_epochs=n_epochs))
                rows.append({"dataset": ds, "arch": arch, "seed": seed, "method": method,
                             "n_epochs": n_epochs, "allocation": allocation,
                             **evaluate(net, data, seed), **log})
    groups = defaultdict(list)
    for r in rows:
        groups[(r["arch"], r["method"], r["n_epochs"], r["allocation"])].append(r)
    summary = [{"arch": a, "method": m, "n_epochs": e, "allocation": al, "n_seeds": len(rs),
                **{k: float(np.mean([r[k] for r in rs])) for k in
                   ("accuracy", "nll", "ece", "flops_ratio", "matmul_flops_ratio")},
                "accuracy_std": float(np.std([r["accuracy"] for r in rs]))}
               for (a, m, e, al), rs in groups.items()]
    write_results("ssvi_follow_up", {"train": base, "epochs": epochs, "quick": quick}, rows,
                  summary=summary)


def part_timing(quick: bool) -> None:
    sizes_list = [(64, 256, 256, 10)] if quick else [(64, 256, 256, 10), (512, 2048, 2048, 10)]
    densities = (0.1,) if quick else DENSITIES
    timing = []
    for sizes in sizes_list:
        timing += time_steps(densities, sizes, repeat=1 if quick else 5, steps=1 if quick else 10)
    write_results("ssvi_timing", {"batch": 128, "threads": 1, "quick": quick}, timing)
    plot_timing(timing, result_path("ssvi_timing", "png"))


def _env_line(res: dict[str, Any]) -> str:
    env = res["environment"]
    commit = env.get("commit")
    where = (f"commit `{commit[:10]}`{' (dirty)' if env.get('dirty') else ''}" if commit
             else "commit not recorded")
    return f"_{res['benchmark']}.json: {env['date']}, {where}, {env['torch_threads']} thread(s)._"


def _pct(s: dict[str, Any], key: str = "accuracy") -> str:
    return f"{100 * s[key]:.1f} ± {100 * s[key + '_std']:.1f}"


def headline(main: dict, conv: dict, conv_mlp: dict) -> str:
    """Targets at 10 %: accuracy gap to dense VI, FLOPs, calibration vs pruning."""
    tasks = [("digits", "mlp", main["summary"]), ("digits", "cnn-wide", conv["summary"]),
             ("mnist1d", "mlp", conv_mlp["summary"]), ("mnist1d", "cnn-wide", conv["summary"])]
    rows = []
    for ds, arch, summary in tasks:
        get = {(s["method"], s["density"]): s for s in summary
               if (s["dataset"], s["arch"]) == (ds, arch)}
        dense, sp, pr = get[("dense VI", 1.0)], get[("SSVI", 0.1)], get[
            ("prune dense VI by SNR", 0.1)]
        rows.append({
            "task": f"{ds} / {arch}", "seeds": sp["n_seeds"], "dense VI acc %": _pct(dense),
            "SSVI 10% acc %": _pct(sp),
            "gap (pts)": f"{100 * (dense['accuracy'] - sp['accuracy']):.1f}",
            "train FLOPs full / matmul": f"{sp['flops_ratio']:.3f} / "
                                         f"{sp['matmul_flops_ratio']:.3f}",
            "ECE SSVI / prune": f"{sp['ece']:.3f} / {pr['ece']:.3f}",
            "NLL SSVI / prune": f"{sp['nll']:.3f} / {pr['nll']:.3f}",
        })
    return markdown_table(rows, list(rows[0]))


def report() -> Path:
    main, conv = load_results("ssvi"), load_results("ssvi_converged")
    conv_mlp, follow = load_results("ssvi_converged_mlp"), load_results("ssvi_follow_up")
    timing = load_results("ssvi_timing")
    for res, name in ((main, "ssvi"), (conv, "ssvi_converged"), (timing, "ssvi_timing")):
        if name == "ssvi_timing":
            plot_timing(res["cases"], result_path(name, "png"))
        else:
            plot_summary(res["summary"], result_path(name, "png"), name)
    cols = ["dataset", "arch", "method", "density", "n_seeds", "accuracy", "accuracy_std",
            "nll", "ece", "ece_floor", "entropy_in", "entropy_ood", "flops_ratio",
            "matmul_flops_ratio", "size_kb"]
    pcols = ["dataset", "arch", "comparison", "n_seeds", "accuracy", "accuracy_se", "nll",
             "nll_se", "ece", "ece_se"]
    md = [
        "# SSVI benchmark results",
        "Generated from `benchmarks/results/ssvi*.json` by `python benchmarks/ssvi.py "
        "--report`; the setup of each part is in the docstring of `benchmarks/ssvi.py`. "
        "Accuracy, NLL and ECE on the test split, mean (± std) over seeds; FLOP ratios are "
        "training FLOPs relative to dense VI for the same steps (full count / weight "
        "products only).",
        "## Headline: 10 % density at a converged budget",
        "digits / mlp from the main part (60 epochs); the others from the converged parts "
        "(wide CNNs: digits 100 epochs, MNIST-1D 200; MNIST-1D MLP 120 epochs).",
        headline(main, conv, conv_mlp),
        "Seed-paired differences at 10 % (mean and standard error over seeds):",
        markdown_table(conv["paired"] + conv_mlp["paired"], pcols),
        _env_line(conv) + " " + _env_line(conv_mlp),
        "## Converged budget, all methods",
        markdown_table(sorted(conv["summary"] + conv_mlp["summary"],
                              key=lambda s: (s["dataset"], s["arch"], -s["density"])), cols),
        "![converged](../../benchmarks/results/ssvi_converged.png)",
        "## Main part: densities 50-5 %, ablations at 10 %",
        markdown_table(sorted(main["summary"], key=lambda s: (s["dataset"], s["arch"],
                                                              -s["density"], s["method"])),
                       cols),
        _env_line(main),
        "![main](../../benchmarks/results/ssvi.png)",
        "## Follow-up: MNIST-1D at 3x the epochs, CNN with uniform allocation",
        markdown_table(follow["summary"], ["arch", "method", "n_epochs", "allocation",
                                           "accuracy", "accuracy_std", "nll", "ece",
                                           "flops_ratio"]),
        _env_line(follow),
        "## CPU time per training step (1 thread, batch 128)",
        markdown_table(timing["cases"], ["mlp", "density", "seconds_per_step",
                                         "speedup_vs_dense_vi"]),
        _env_line(timing),
        "![timing](../../benchmarks/results/ssvi_timing.png)",
    ]
    return write_report("ssvi", "\n\n".join(md))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="every part on 300 digits, one epoch, one seed (seconds)")
    parser.add_argument("--part", choices=("all", *PARTS), default="all")
    parser.add_argument("--dataset", action="append", choices=tuple(CONVERGED),
                        help="converged part: run only this dataset (repeatable); the other "
                             "datasets' recorded rows are kept")
    parser.add_argument("--report", action="store_true",
                        help="write docs/results/ssvi.md from the recorded JSON and exit")
    ns = parser.parse_args()
    if ns.report:
        print(report())
        return
    torch.set_num_threads(1)
    parts = PARTS if ns.part == "all" else (ns.part,)
    for part in parts:
        start = time.perf_counter()
        if part == "main":
            part_main(ns.quick)
        elif part == "converged":
            part_converged(ns.quick, ["digits"] if ns.quick else ns.dataset or list(CONVERGED))
        elif part == "converged-mlp":
            part_converged_mlp(ns.quick)
        elif part == "follow-up":
            part_follow_up(ns.quick)
        else:
            part_timing(ns.quick)
        print(f"part {part}: {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
