"""Tests for the kernel-domain Sinkhorn with absorption against POT's Sinkhorn solvers.

Tolerance: plans equal POT's to 1e-9 (absolute, plans of mass 1) once both are converged to
L1 marginal error 1e-12.
"""

from __future__ import annotations

import numpy as np
import ot
import pytest

from bayesparse.optim import stabilized_sinkhorn
from bayesparse.optim.stabilized_sinkhorn import StabilizedKernel


def _problem(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    M = ot.dist(rng.random((n, 2)), rng.random((m, 2)))
    return np.full(n, 1.0 / n), np.full(m, 1.0 / m), M / M.max()


@pytest.mark.parametrize("reg", [0.5, 0.05])
def test_plan_matches_pot_kernel_sinkhorn(reg):
    a, b, M = _problem(40, 30)
    k = StabilizedKernel(M, reg)
    errs = k.sinkhorn(a, b, 10_000, 1e-12)
    assert errs[-1] < 1e-12 and k.n_absorb == 0
    ref = ot.sinkhorn(a, b, M, reg, stopThr=1e-14, numItermax=100_000)
    np.testing.assert_allclose(k.plan(), ref, atol=1e-9)


def test_absorption_where_the_kernel_underflows(monkeypatch):
    """At reg=2e-3 exp(-M/reg) underflows; absorbing (here forced often by a narrow safe
    range) keeps the iteration exact (vs POT's log-domain Sinkhorn) and the errors are the
    L1 errors of the plan."""
    monkeypatch.setattr(stabilized_sinkhorn, "_HI", float(np.exp(5.0)))
    monkeypatch.setattr(stabilized_sinkhorn, "_LO", float(np.exp(-5.0)))
    a, b, M = _problem(30, 30, seed=1)
    reg = 2e-3
    k = StabilizedKernel(M, reg)
    errs = k.sinkhorn(a, b, 100_000, 1e-11)
    assert errs[-1] < 1e-11 and k.n_absorb > 0
    P = k.plan()
    assert errs[-1] == pytest.approx(np.abs(P.sum(1) - a).sum(), abs=1e-15)
    np.testing.assert_allclose(P.sum(0), b, atol=1e-14)
    ref = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000)
    np.testing.assert_allclose(P, ref, atol=1e-9)
    alpha, beta = k.potentials()
    np.testing.assert_allclose(np.exp((alpha[:, None] + beta[None, :] - M) / reg), P,
                               rtol=1e-9, atol=1e-300)


def test_stop_callback_and_times():
    a, b, M = _problem(10, 10)
    k = StabilizedKernel(M, 0.01)
    times: list[float] = []
    errs = k.sinkhorn(a, b, 100, 0.0, stop=lambda e: len(e) == 7, times=times,
                      clock=lambda: float(len(times)))
    assert len(errs) == 7 and times == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_forced_absorb_keeps_the_plan():
    a, b, M = _problem(12, 9)
    k = StabilizedKernel(M, 0.02)
    k.sinkhorn(a, b, 20, 0.0)
    P = k.plan()
    assert k.absorb(force=True)
    assert (k.u == 1).all() and (k.v == 1).all()
    np.testing.assert_allclose(k.plan(), P, rtol=1e-10, atol=1e-300)


def test_set_reg_warm_starts_with_exact_row_marginals():
    """After switching reg the rows of the plan sum to a (soft c-transform of g), the
    potentials reproduce the plan, and Sinkhorn finishes at the new reg as from scratch."""
    a, b, M = _problem(25, 20)
    k = StabilizedKernel(M, 0.05)
    k.sinkhorn(a, b, 200, 1e-12)
    k.set_reg(5e-3, a)
    assert k.reg == 5e-3
    np.testing.assert_allclose(k.plan().sum(1), a, rtol=1e-12)
    alpha, beta = k.potentials()
    np.testing.assert_allclose(np.exp((alpha[:, None] + beta[None, :] - M) / 5e-3), k.plan(),
                               rtol=1e-9, atol=1e-300)
    errs = k.sinkhorn(a, b, 100_000, 1e-11)
    assert errs[-1] < 1e-11
    ref = ot.sinkhorn(a, b, M, 5e-3, method="sinkhorn_log", stopThr=1e-13, numItermax=200_000)
    np.testing.assert_allclose(k.plan(), ref, atol=1e-9)
