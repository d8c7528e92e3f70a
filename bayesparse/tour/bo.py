"""Tour step: Bayesian optimization of Branin with a GP, deep kernel learning, an HMC BNN and
random search."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from botorch.exceptions.warnings import OptimizationWarning
from botorch.test_functions import Branin

from bayesparse.optim.bayesian_optimization import minimize
from bayesparse.tour import TourRow

NAME = "bo"
ORDER = 60

_RUNS = {
    "random (Sobol)": ("random", {}),
    "SingleTaskGP": ("gp", {}),
    "deep kernel GP": ("dkl", dict(hidden=(32, 32))),
    "HMC BNN": ("hmc", dict(hidden=(32, 32), num_samples=32, warmup_steps=32,
                            pretrain_steps=300)),
}


def run(out: Path) -> list[TourRow]:
    f = Branin()
    threads = torch.get_num_threads()
    # Small models: one thread avoids synchronization overhead on a shared machine.
    torch.set_num_threads(1)
    rows, curves = [], {}
    try:
        for label, (surrogate, opts) in _RUNS.items():
            start = time.perf_counter()
            # L-BFGS-B stopping on its iteration limit is expected at these small budgets:
            # counted and reported in the row rather than printed.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", OptimizationWarning)
                res = minimize(f, f.bounds.double(), surrogate=surrogate, n_init=6, budget=18,
                               q=4, num_restarts=4, raw_samples=128, random_state=0,
                               surrogate_options=opts, progress=False)
            n_opt = sum(issubclass(w.category, OptimizationWarning) for w in caught)
            for w in caught:
                if not issubclass(w.category, OptimizationWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            regret = (res.best - f.optimal_value).clamp_min(1e-9)
            curves[label] = regret.numpy()
            rows.append(TourRow(
                "bo", f"Branin, 18 evals (q=4), {label}",
                f"regret {float(regret[-1]):.3g} "
                f"({res.seconds_per_iteration:.1f} s/iteration"
                + (f", {n_opt} optimizer stops at maxiter)" if n_opt else ")"),
                time.perf_counter() - start,
            ))
    finally:
        torch.set_num_threads(threads)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for label, c in curves.items():
        ax.semilogy(np.arange(1, len(c) + 1), c, label=label,
                    ls="--" if label.startswith("random") else "-")
    ax.axvline(6.5, color="grey", lw=0.8)
    ax.set_xlabel("function evaluations (6 Sobol, then BO)")
    ax.set_ylabel("best-so-far regret")
    ax.set_title("Branin: Bayesian optimization")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "bo_regret.png", dpi=110)
    plt.close(fig)
    return rows
