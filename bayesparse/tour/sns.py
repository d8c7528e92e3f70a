"""Tour step: Sinkhorn-Newton-Sparse vs POT's Sinkhorn on 1000 uniform 2-D points."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import ot
from threadpoolctl import threadpool_limits

from bayesparse.optim.sinkhorn_newton_sparse import sinkhorn_newton_sparse
from bayesparse.tour import TourRow

NAME = "sns"
ORDER = 50


def _l1(P: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def run(out: Path) -> list[TourRow]:
    rng = np.random.default_rng(0)
    n, reg, tol = 1000, 2e-3, 1e-9
    M = ot.dist(rng.random((n, 2)), rng.random((n, 2)))
    M /= M.max()
    a = b = np.full(n, 1.0 / n)

    # one BLAS thread for both: two threads on a busy two-core machine slow products 20x
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        P, log = sinkhorn_newton_sparse(a, b, M, reg, stopThr=tol, log=True)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        Q, qlog = ot.sinkhorn(a, b, M, reg, stopThr=tol, numItermax=100_000, log=True)
        t_pot = time.perf_counter() - start

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(log["time"], log["err"], "k.-", label="SNS: L1 error, both marginals")
    # POT logs the L2 error of the second marginal every 10 iterations
    pot_t = np.linspace(0, t_pot, len(qlog["err"]) + 1)[1:]
    ax.semilogy(pot_t, qlog["err"], "C0-", label="POT sinkhorn: its own L2 error")
    ax.axhline(tol, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("marginal error")
    ax.set_title(f"entropic OT, {n} uniform 2-D points, reg={reg:g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sns_error_vs_time.png", dpi=110)
    plt.close(fig)
    loss_gap = abs((P * M).sum() - (Q * M).sum()) / (Q * M).sum()
    return [TourRow(
        "sns", f"OT {n}x{n} pts, reg={reg:g}",
        f"L1 err {_l1(P, a, b):.0e} in {log['n_sinkhorn']}+{log['n_newton']} it; "
        f"POT {qlog['niter']} it (L1 {_l1(Q, a, b):.0e}), {t_pot / t_ours:.1f}x slower; "
        f"loss gap {loss_gap:.0e}",
        t_ours,
    )]
