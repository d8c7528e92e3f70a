"""Tour step: the shipped PFN on GP-prior datasets, vs the exact GP, with a 1-D bands plot."""

from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from bayesparse.datasets.priors import GPPrior
from bayesparse.models.pfn import PFNRegressor
from bayesparse.tour import TourRow

NAME = "pfn"
ORDER = 90


def _exact(prior: GPPrior, hp: dict, Xc, yc, Xq) -> tuple[np.ndarray, np.ndarray]:
    # Posterior predictive of y with the dataset's true hyperparameters.
    K = prior.covariance(torch.as_tensor(np.concatenate([Xc, Xq]))[None], hp)[0].numpy()
    n, noise = len(yc), float(hp["noise"][0])
    C = K[:n, :n] + noise * np.eye(n)
    mean = K[n:, :n] @ np.linalg.solve(C, yc)
    var = np.diag(K[n:, n:]) - np.einsum("ij,ji->i", K[n:, :n], np.linalg.solve(C, K[:n, n:]))
    return mean, var + noise


def run(out: Path) -> list[TourRow]:
    prior = GPPrior(kernel="matern52", hyperprior=True)
    gen = torch.Generator().manual_seed(0)
    gaps, seconds = [], 0.0
    for _ in range(30):
        X, y, hp = prior(1, 70, 1, gen, return_hyperparameters=True)
        X, y = X[0].double().numpy(), y[0].double().numpy()
        start = time.perf_counter()
        reg = PFNRegressor(normalize_X=False, normalize_y=False).fit(X[:20], y[:20])
        nll = -reg.score(X[20:], y[20:])
        seconds += time.perf_counter() - start
        mean, var = _exact(prior, hp, X[:20], y[:20], X[20:])
        exact = float(np.mean(0.5 * np.log(2 * math.pi * var) + (y[20:] - mean) ** 2 / (2 * var)))
        gaps.append(nll - exact)
    grid = np.linspace(0, 1, 200)[:, None]
    q = reg.predict_quantiles(grid, [0.05, 0.5, 0.95])
    mean, var = _exact(prior, hp, X[:20], y[:20], grid)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.fill_between(grid[:, 0], q[:, 0], q[:, 2], alpha=0.3, label="PFN 90% band")
    ax.plot(grid[:, 0], q[:, 1], label="PFN median")
    ax.plot(grid[:, 0], mean, "k--", label="exact GP (true hyperparameters)")
    for s in (-1.645, 1.645):
        ax.plot(grid[:, 0], mean + s * np.sqrt(var), "k:")
    ax.plot(X[:20, 0], y[:20], "ko", ms=4)
    ax.set(xlabel="x", ylabel="y", title="Shipped PFN, 20 points from the GP hyperprior")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "pfn_bands.png", dpi=110)
    plt.close(fig)
    return [TourRow("pfn", "30 GP-hyperprior datasets, 1-D, 20 points",
                    f"NLL {np.mean(gaps):+.3f} nats/pt vs exact GP; "
                    f"{1000 * seconds / 30:.1f} ms/dataset", seconds)]
