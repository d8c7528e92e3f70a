"""BNN surrogates for Bayesian optimization: the study of Li, Rudner & Wilson (ICLR 2024).

Every surrogate of ``bayesparse.models.surrogates`` plus botorch's ``SingleTaskGP`` and Sobol
random search runs the same batch BO loop (``bayesparse.optim.minimize``: Sobol design,
sequential-greedy ``q``-batch ``qLogEI`` -- ``qLogNEHVI`` for BraninCurrin -- optimized by
``optimize_acqf`` with 5 restarts, 256 raw samples and 64 MC samples) on botorch test
functions and shifted Ackley/Levy variants whose optimum is off the domain centre, several
seeds each. Every finished run is appended (with its commit) to
``benchmarks/results/bo_runs.jsonl`` so a long study can be stopped and resumed
(``--resume``); each problem is one part, summarized in its own ``bo_PROBLEM.json``. Regret is
``best so far - optimum`` (log hypervolume gap for BraninCurrin); reported as mean and
standard error over seeds, with the mean seconds per BO iteration (surrogate fit + acquisition
optimization, one torch thread). The ``bo_timing`` part measures seconds per iteration at the
loop's default acquisition settings (10 restarts, 512 raw samples, 128 MC samples) on the
README's Hartmann6 example. ``--report`` writes ``docs/results/bo.md`` and ``bo.png`` from the
recorded parts.

Usage: ``bayesparse bench bo [--quick] [--problems hartmann6,branin] [--methods gp,hmc]
[--seeds 5] [--resume] [--part timing] [--report]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from botorch.test_functions import Ackley, Branin, BraninCurrin, Hartmann, Levy

from bayesparse.benchmarking import (
    benchmarks_dir,
    git_state,
    load_results,
    markdown_table,
    result_path,
    write_report,
    write_results,
)
from bayesparse.optim.bayesian_optimization import minimize

METHODS = ["random", "gp", "ibnn", "dkl", "laplace", "ensemble", "sghmc", "hmc", "sparse_bnn"]

# Acquisition optimization of the regret study: half of botorch's usual 10 restarts / 512 raw
# samples, so that the study fits in about an hour of one core (the reference code used 2 and
# 16). The timing part measures the loop's defaults.
NUM_RESTARTS, RAW_SAMPLES, MC_SAMPLES = 5, 256, 64

# Surrogate sizes chosen so the whole study fits ~1 h on a shared 2-core machine (the paper used
# 2000 SGHMC steps and 100-500 HMC samples); the deep ensemble uses the paper's 10 members x
# 1000 Adam steps on 80% subsets.
SURROGATE_OPTIONS = {
    "hmc": dict(hidden=(32, 32), num_samples=64, warmup_steps=64, num_steps=10,
                pretrain_steps=500),
    "sghmc": dict(hidden=(32, 32), num_samples=64, burn_in=500, thin=5, pretrain_steps=500),
    "ensemble": dict(hidden=(32, 32), n_members=10, steps=1000, subset=0.8),
    "laplace": dict(hidden=(32, 32), steps=500, hessian="full", per_layer=True),
    "dkl": dict(hidden=(32, 32), n_features=4, pretrain_steps=0, steps=50, skip=True),
    "ibnn": dict(depth=3),
    "sparse_bnn": dict(hidden=(64, 64), density=0.25, n_samples=32, steps=300),
}


class ShiftedAckley:
    """Ackley with its optimum moved from the domain centre to a fixed random point.

    The I-BNN's centred inputs put the arc-cosine kernel's origin at the domain centre, which is
    where Ackley's optimum lies; moving the optimum separates the two.
    """

    def __init__(self, dim: int) -> None:
        gen = torch.Generator().manual_seed(0)
        self.shift = (torch.rand(dim, generator=gen, dtype=torch.float64) - 0.5) * 32.768

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        # botorch's Ackley (a=20, b=0.2, c=2 pi) refuses points outside its box, so the shifted
        # function is written out.
        Z = X - self.shift
        return (-20 * torch.exp(-0.2 * Z.pow(2).mean(-1).sqrt())
                - torch.exp(torch.cos(2 * math.pi * Z).mean(-1)) + 20 + math.e)


class ShiftedLevy:
    """Levy with its optimum moved from ``x = 1`` (next to the domain centre) to a random point.

    Levy's optimum ``x_i = 1`` lies at 0.55 of every coordinate's range, so the I-BNN's centred
    kernel origin (its first evaluations land at the centre) is nearly on it, as for Ackley.
    The optimum moves to a fixed random point in the middle half of the box ``[-10, 10]^d``.
    """

    def __init__(self, dim: int) -> None:
        gen = torch.Generator().manual_seed(0)
        self.optimizer = (torch.rand(dim, generator=gen, dtype=torch.float64) - 0.5) * 10.0

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        # botorch's Levy (Surjanovic & Bingham's form) refuses points outside its box, so the
        # shifted function is written out: w = 1 + (z - 1) / 4 with z = x - optimizer + 1.
        w = 1.0 + (X - self.optimizer) / 4.0
        return (torch.sin(math.pi * w[..., 0]).pow(2)
                + ((w[..., :-1] - 1).pow(2)
                   * (1 + 10 * torch.sin(math.pi * w[..., :-1] + 1).pow(2))).sum(-1)
                + (w[..., -1] - 1).pow(2) * (1 + torch.sin(2 * math.pi * w[..., -1]).pow(2)))


def nonstationary(X: torch.Tensor) -> torch.Tensor:
    """Gramacy & Lee (2008): ``x1 exp(-x1^2 - x2^2)`` on ``[-2, 6]^2``, flat on most of it."""
    return X[..., 0] * torch.exp(-X[..., 0] ** 2 - X[..., 1] ** 2)


@dataclass
class Problem:
    name: str
    f: object
    bounds: torch.Tensor
    optimum: float
    n_init: int
    q: int
    budget: int
    ref_point: list[float] | None = None
    methods: tuple[str, ...] = tuple(METHODS)


def problems(quick: bool) -> dict[str, Problem]:
    def bt(f):
        return f.bounds.double()

    h6, br, ack, levy, bc = Hartmann(dim=6), Branin(), Ackley(dim=10), Levy(dim=20), BraninCurrin()
    if quick:
        return {"branin": Problem("Branin (d=2)", br, bt(br), br.optimal_value, 5, 2, 7,
                                  methods=QUICK_METHODS)}
    return {
        "hartmann6": Problem("Hartmann6 (d=6)", h6, bt(h6), h6.optimal_value, 10, 10,
                             100),
        "branin": Problem("Branin (d=2)", br, bt(br), br.optimal_value, 10, 5,
                          40),
        "nonstationary": Problem("Gramacy-Lee non-stationary (d=2)", nonstationary,
                                 torch.tensor([[-2.0, -2.0], [6.0, 6.0]]).double(),
                                 -math.exp(-0.5) / math.sqrt(2), 10, 5, 40),
        "branincurrin": Problem("BraninCurrin (2 objectives, qLogNEHVI)", bc, bt(bc),
                                59.36011874867746, 10, 5, 40,
                                ref_point=[18.0, 6.0]),
        "ackley10": Problem("Ackley (d=10)", ack, bt(ack), 0.0, 10, 10, 60),
        "ackley10_shifted": Problem("Ackley (d=10), optimum off-centre", ShiftedAckley(10),
                                    bt(ack), 0.0, 10, 10, 60),
        "levy20": Problem("Levy (d=20)", levy, bt(levy), 0.0, 10, 10, 60),
        "levy20_shifted": Problem("Levy (d=20), optimum off-centre", ShiftedLevy(20), bt(levy),
                                  0.0, 10, 10, 60),
    }


def regret_curve(p: Problem, best: list[float]) -> list[float]:
    if p.ref_point is not None:
        return [max(p.optimum - b, 1e-12) for b in best]
    return [max(b - p.optimum, 1e-12) for b in best]


# Quick mode: tiny surrogates, one BO iteration, a few seconds in all.
QUICK_OPTIONS = {"hmc": dict(hidden=(8,), num_samples=8, warmup_steps=8, num_steps=3,
                             pretrain_steps=50),
                 "sghmc": dict(hidden=(8,), num_samples=8, burn_in=50, pretrain_steps=50),
                 "ensemble": dict(hidden=(8,), n_members=3, steps=50),
                 "laplace": dict(hidden=(8,), steps=50),
                 "dkl": dict(hidden=(8,), steps=10),
                 "sparse_bnn": dict(hidden=(16,), n_samples=4, steps=20)}
QUICK_METHODS = ("random", "laplace", "ensemble")


def run_one(p: Problem, method: str, seed: int, quick: bool, *, num_restarts: int,
            raw_samples: int, mc_samples: int) -> dict:
    opts = dict(QUICK_OPTIONS if quick else SURROGATE_OPTIONS).get(method, {})
    start = time.perf_counter()
    res = minimize(p.f, p.bounds, surrogate=method, n_init=p.n_init, budget=p.budget, q=p.q,
                   ref_point=p.ref_point, random_state=seed, surrogate_options=opts,
                   num_restarts=num_restarts, raw_samples=raw_samples, mc_samples=mc_samples,
                   progress=False)
    return {"method": method, "seed": seed, "regret": regret_curve(p, res.best.tolist()),
            "sec_per_iter": res.seconds_per_iteration,
            "fit_seconds": res.fit_seconds, "acq_seconds": res.acq_seconds,
            "wall": time.perf_counter() - start, "options": opts,
            "commit": git_state()["commit"]}


def load_runs(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(p: Problem, key: str, runs: list[dict]) -> tuple[list[dict], dict]:
    """One row per method of problem ``key``: final log10 regret (mean, s.e.), s/iter."""
    rows, curves = [], {}
    for method in p.methods:
        rs = [r for r in runs if r["problem"] == key and r["method"] == method]
        if not rs:
            continue
        R = np.log10(np.array([r["regret"] for r in rs]))
        se = R.std(0, ddof=1) / math.sqrt(len(rs)) if len(rs) > 1 else 0 * R[0]
        curves[method] = {"mean_log10": R.mean(0), "se": se}
        rows.append({"problem": key, "method": method, "seeds": len(rs),
                     "evals": len(rs[0]["regret"]),
                     "final log10 regret": float(R.mean(0)[-1]), "s.e.": float(se[-1]),
                     "final regret (median)": float(np.median([r["regret"][-1] for r in rs])),
                     "s/iter": float(np.mean([r["sec_per_iter"] for r in rs]))})
    return rows, curves


def study_part(probs: dict[str, Problem], keys: list[str], methods: list[str], seeds: int,
               quick: bool, resume: bool) -> None:
    """Run (or resume) the regret study; write one ``bo_PROBLEM.json`` per problem."""
    runs_path = result_path("bo_runs_quick" if quick else "bo_runs", "jsonl")
    if not resume and runs_path.exists():
        runs_path.unlink()
    done = {(r["problem"], r["method"], r["seed"]) for r in load_runs(runs_path)}
    acq = (dict(num_restarts=2, raw_samples=16, mc_samples=16) if quick else
           dict(num_restarts=NUM_RESTARTS, raw_samples=RAW_SAMPLES, mc_samples=MC_SAMPLES))
    for key in keys:
        p = probs[key]
        for seed in range(seeds):
            for method in methods:
                if method not in p.methods or (key, method, seed) in done:
                    continue
                try:
                    r = {"problem": key, **run_one(p, method, seed, quick, **acq)}
                except Exception as err:  # a failed fit must not stop a one-hour study
                    print(f"{key} {method} seed {seed}: FAILED {err!r}", flush=True)
                    continue
                print(f"{key:14s} {method:10s} seed {seed}: log10 regret "
                      f"{math.log10(r['regret'][-1]):+.2f}, {r['sec_per_iter']:.2f} s/iter",
                      flush=True)
                with runs_path.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")
        runs = [r for r in load_runs(runs_path) if r["problem"] == key]
        rows, curves = summarize(p, key, runs)
        if not rows:
            continue
        print(markdown_table(rows, ["method", "seeds", "evals", "final log10 regret", "s.e.",
                                    "s/iter"]))
        params = {"problem": p.name, "n_init": p.n_init, "q": p.q, "budget": p.budget,
                  "optimum": p.optimum, "ref_point": p.ref_point, "quick": quick,
                  "surrogate_options": QUICK_OPTIONS if quick else SURROGATE_OPTIONS,
                  **acq, "torch_threads": 1,
                  "acquisition": "qLogEI (qLogNEHVI for branincurrin), sequential greedy "
                                 "q-batch",
                  # Runs recorded before results carried a commit have None here.
                  "run_commits": sorted({str(r.get("commit")) for r in runs})}
        write_results(f"bo_{key}", params, rows, curves=curves)


def timing_part(quick: bool, methods: list[str]) -> None:
    """Seconds per BO iteration at the loop's default acquisition settings."""
    h6 = Hartmann(dim=6)
    budget, q = (12, 2) if quick else (30, 10)
    cases = []
    for method in ["ensemble"] if quick else methods:
        if method == "random":
            continue
        opts = dict(QUICK_OPTIONS if quick else SURROGATE_OPTIONS).get(method, {})
        kw = dict(num_restarts=2, raw_samples=16, mc_samples=16) if quick else {}
        res = minimize(h6, h6.bounds, surrogate=method, n_init=10, budget=budget, q=q,
                       random_state=0, surrogate_options=opts, progress=False, **kw)
        cases.append({"method": method, "s/iter": res.seconds_per_iteration,
                      "fit s/iter": float(np.mean(res.fit_seconds)),
                      "acquisition s/iter": float(np.mean(res.acq_seconds)),
                      "iterations": len(res.fit_seconds)})
        print(f"timing {method:10s}: {res.seconds_per_iteration:.2f} s/iter", flush=True)
    # Seconds are wall time: the machine's load average says how far other work inflated them.
    write_results("bo_timing", {"load_average_1min": os.getloadavg()[0],
                                "problem": "Hartmann6 (d=6)", "n_init": 10, "q": q,
                                "budget": budget, "quick": quick, "torch_threads": 1,
                                "acquisition": "defaults of minimize (num_restarts=10, "
                                               "raw_samples=512, mc_samples=128)",
                                "surrogate_options": QUICK_OPTIONS if quick
                                else SURROGATE_OPTIONS}, cases)


def plot(parts: dict[str, dict], path) -> None:
    keys = list(parts)
    n = len(keys)
    cols = min(4, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    colors = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, key in zip(axes.flat, keys):
        for method, c in parts[key]["curves"].items():
            mean, se = np.array(c["mean_log10"]), np.array(c["se"])
            x = np.arange(1, len(mean) + 1)
            ax.plot(x, mean, label=method, color=colors.get(method),
                    lw=2.2 if method in ("gp", "random") else 1.4,
                    ls="--" if method == "random" else "-")
            ax.fill_between(x, mean - se, mean + se, color=colors.get(method), alpha=0.15)
        ax.set_title(parts[key]["params"]["problem"], fontsize=9)
        ax.set_xlabel("function evaluations")
        ax.set_ylabel("log10 HV gap" if parts[key]["params"]["ref_point"] else "log10 regret")
    for extra in list(axes.flat)[n:]:
        extra.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("BO with BNN surrogates: regret vs evaluations, mean ± s.e. over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _commit_label(commit: str) -> str:
    return "(not recorded: runs older than commit tracking)" if commit == "None" else f"`{commit}`"


def report() -> None:
    """``docs/results/bo.md`` and ``bo.png`` from the recorded part JSONs."""
    parts = {key: load_results(f"bo_{key}") for key in problems(False)
             if (benchmarks_dir() / "results" / f"bo_{key}.json").exists()}
    md = ["# Bayesian optimization results\n",
          "Generated from `benchmarks/results/bo_*.json` by `python benchmarks/bo.py --report`. "
          "Final log10 regret (log10 hypervolume gap for BraninCurrin): mean and standard "
          "error over seeds; s/iter is surrogate fit + acquisition optimization per BO "
          "iteration at the study's acquisition settings (5 restarts, 256 raw samples, 64 MC "
          "samples, one torch thread).\n",
          "![BO study](../../benchmarks/results/bo.png)\n"]
    for part in parts.values():
        env, prm = part["environment"], part["params"]
        md.append(f"## {prm['problem']}\n\n{prm['n_init']} Sobol points, q={prm['q']}, "
                  f"{prm['budget']} evaluations; written at commit `{env.get('commit')}`"
                  f"{' (dirty)' if env.get('dirty') else ''}; runs from commits "
                  f"{', '.join(_commit_label(c) for c in prm['run_commits'])}.\n")
        md.append(markdown_table(part["cases"], ["method", "seeds", "evals",
                                                 "final log10 regret", "s.e.", "s/iter"]))
    path = benchmarks_dir() / "results" / "bo_timing.json"
    if path.exists():
        timing = load_results("bo_timing")
        md.append("## Seconds per BO iteration at the default acquisition settings\n\n"
                  f"{timing['params']['problem']}, n_init=10, q={timing['params']['q']}, "
                  f"{timing['params']['acquisition']}, the study's surrogate options, one "
                  f"torch thread; commit `{timing['environment'].get('commit')}`"
                  + (f"; load average {timing['params']['load_average_1min']:.1f} on "
                     f"{timing['environment']['cpu_count']} cores (wall times scale with it)"
                     if "load_average_1min" in timing["params"] else "") + ".\n")
        md.append(markdown_table(timing["cases"], ["method", "s/iter", "fit s/iter",
                                                   "acquisition s/iter", "iterations"]))
    write_report("bo", "\n".join(md))
    if parts:
        plot(parts, benchmarks_dir() / "results" / "bo.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one tiny Branin run (seconds)")
    ap.add_argument("--problems", default=None, help="comma-separated (default: all)")
    ap.add_argument("--methods", default=None, help="comma-separated (default: all)")
    ap.add_argument("--seeds", type=int, default=None,
                    help="default 5 (quick: 1); --resume --seeds 0 rebuilds the parts")
    ap.add_argument("--resume", action="store_true", help="skip runs already in the runs file")
    ap.add_argument("--part", choices=["study", "timing"], default=None)
    ap.add_argument("--report", action="store_true", help="write docs/results/bo.md")
    args = ap.parse_args()
    if args.report:
        report()
        return
    torch.set_num_threads(1)
    probs = problems(args.quick)
    keys = args.problems.split(",") if args.problems else list(probs)
    unknown = set(keys) - set(probs)
    if unknown:
        raise SystemExit(f"--problems: unknown {sorted(unknown)}; available: {sorted(probs)}")
    methods = (args.methods.split(",") if args.methods else
               list(QUICK_METHODS) if args.quick else METHODS)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 5)
    if args.part in (None, "study"):
        study_part(probs, keys, methods, seeds, args.quick, args.resume)
    if args.part in (None, "timing"):
        timing_part(args.quick, methods)


if __name__ == "__main__":
    main()
