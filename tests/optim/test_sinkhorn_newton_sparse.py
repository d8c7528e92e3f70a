"""Tests for Sinkhorn-Newton-Sparse against POT (sinkhorn_log, sinkhorn, sinkhorn2, solve).

Tolerances: plans and losses equal POT's ``sinkhorn_log`` to 1e-6 relative when both are
converged to 1e-10 (L1 plan difference relative to the plan's mass); the cases re-expressed
from POT's ``test/test_bregman.py`` keep POT's own tolerances (``atol=1e-5`` on marginals and
plans, ``1e-4`` on multi-histogram losses).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot
import pytest
import regot
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.datasets.transport import make_point_clouds
from bayesparse.optim.sinkhorn_newton_sparse import (
    SinkhornConvergenceError,
    sinkhorn_newton_sparse,
    sinkhorn_newton_sparse2,
)
from bayesparse.optim.stabilized_sinkhorn import StabilizedKernel

TIGHT = 1e-10


def _points_problem(n: int, m: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.RandomState(seed)
    x, y = rng.randn(n, 2), rng.randn(m, 2)
    a = rng.rand(n) + 0.1
    b = rng.rand(m) + 0.1
    return a / a.sum(), b / b.sum(), ot.dist(x, y)


def _pot_log(a, b, M, reg):
    return ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-13,
                       numItermax=200_000, warn=False)


def _regot_loss(a, b, M, reg) -> float:
    """RegOT's SSNS (C++ second-order solver) as the reference where POT's Sinkhorn needs
    hundreds of thousands of iterations."""
    res = regot.sinkhorn_ssns(np.asfortranarray(M), a, b, reg, tol=1e-11, max_iter=10_000)
    P = np.asarray(res.plan)
    assert _l1_marginal_error(P, a, b) < 1e-9
    return float((P * M).sum())


def _l1_marginal_error(P, a, b) -> float:
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


# ---------------------------------------------------------------------------- vs sinkhorn_log
@pytest.mark.parametrize(
    "n, m, reg",
    [(60, 60, 1.0), (60, 45, 0.2), (40, 70, 0.05), (80, 80, 0.02)],
)
def test_plan_and_loss_match_pot_sinkhorn_log(n, m, reg):
    a, b, M = _points_problem(n, m, seed=n + m)
    P, log = sinkhorn_newton_sparse(a, b, M, reg, stopThr=TIGHT, log=True)
    ref = _pot_log(a, b, M, reg)
    assert _l1_marginal_error(P, a, b) < TIGHT
    assert _l1_marginal_error(ref, a, b) < TIGHT
    assert np.abs(P - ref).sum() <= 1e-6 * ref.sum()
    loss, ref_loss = (P * M).sum(), (ref * M).sum()
    assert abs(loss - ref_loss) <= 1e-6 * abs(ref_loss)
    assert sinkhorn_newton_sparse2(a, b, M, reg, stopThr=TIGHT) == pytest.approx(
        ref_loss, rel=1e-6
    )
    # the potentials reproduce the plan
    rebuilt = np.exp((log["alpha"][:, None] + log["beta"][None, :] - M) / reg)
    np.testing.assert_allclose(rebuilt, P, rtol=1e-9, atol=1e-14)


def test_newton_phase_beats_sinkhorn_on_assignment():
    """The paper's random assignment problem (small): Newton runs, on a sparse Hessian,
    and needs far fewer iterations than Sinkhorn to the same L1 error."""
    n, reg = 120, 1 / 600
    M = np.random.default_rng(0).random((n, n))
    a = np.full(n, 1.0 / n)
    P, log = sinkhorn_newton_sparse(a, a, M, reg, stopThr=1e-9, log=True)
    assert _l1_marginal_error(P, a, a) < 1e-9
    assert log["n_newton"] > 0
    assert max(log["nnz"]) < 0.2 * n * n
    sinkhorn_errs = StabilizedKernel(M, reg).sinkhorn(a, a, 20_000, 1e-9)
    assert log["niter"] * 10 < len(sinkhorn_errs)
    assert (P * M).sum() == pytest.approx(_regot_loss(a, a, M, reg), rel=1e-6)


def test_fast_sinkhorn_finishes_without_newton():
    """Where Sinkhorn converges in a few dozen iterations the warm-up does the whole job."""
    a, b, M = _points_problem(50, 50)
    P, log = sinkhorn_newton_sparse(a, b, M / M.max(), 0.5, stopThr=1e-9, log=True)
    assert log["n_newton"] == 0 and log["n_sinkhorn"] < 40


def test_fixed_warmup_and_log_contents():
    a, b, M = _points_problem(40, 30)
    P, log = sinkhorn_newton_sparse(a, b, M, 0.05, warmup=3, log=True)
    assert log["n_sinkhorn"] == 3
    assert log["n_sinkhorn"] + log["n_newton"] == log["niter"] == len(log["err"])
    assert len(log["time"]) == len(log["phase"]) == log["niter"]
    assert np.all(np.diff(log["time"]) >= 0)
    assert log["phase"][:3] == ["sinkhorn"] * 3 and log["phase"][-1] == "newton"
    assert len(log["nnz"]) == len(log["cg_iter"]) == len(log["step"]) == log["n_newton"]
    assert log["time_sinkhorn"] >= 0 and log["time_newton"] > 0
    np.testing.assert_allclose(log["log_u"], log["alpha"] / 0.05)
    np.testing.assert_allclose(log["log_v"], log["beta"] / 0.05)
    assert log["err"][-1] == pytest.approx(_l1_marginal_error(P, a, b), abs=1e-12)


def test_one_dimensional_costs_small_reg():
    """1-D costs give path-like Hessians, and the kernel underflows (M/reg up to 1e3)."""
    n = 100
    a = ot.datasets.make_1D_gauss(n, m=30, s=10)
    b = ot.datasets.make_1D_gauss(n, m=40, s=10)
    M = ot.utils.dist0(n)
    P, log = sinkhorn_newton_sparse(a, b, M / M.max(), 1e-3, log=True)
    assert _l1_marginal_error(P, a, b) < 1e-9
    ref = _pot_log(a, b, M / M.max(), 1e-3)
    assert (P * M).sum() == pytest.approx((ref * M).sum(), rel=1e-6)


def test_sparse_lu_and_cg_give_the_same_newton_direction():
    """The two linear solvers of the sparsified system (2) agree, up to the null direction
    (1, -1) that CG projects out and LU grounds."""
    from bayesparse.optim.sinkhorn_newton_sparse import _sparse_direction
    from bayesparse.sparse.truncation import row_mass_truncate

    a, b, M = _points_problem(50, 40)
    kernel = StabilizedKernel(M / M.max(), 0.01)
    kernel.sinkhorn(a, b, 5, 0.0)
    r, c = kernel.marginals()
    S = row_mass_truncate(kernel.plan(), 1e-6)
    assert 0 < S.density < 1
    dirs = [_sparse_direction(S.to_scipy(), r, c, a - r, b - c, 1e-13, use_lu)
            for use_lu in (False, True)]
    assert dirs[0][2] > 0 and dirs[1][2] < 0
    (dx0, dy0, _), (dx1, dy1, _) = dirs
    shift = dy1.mean() - dy0.mean()
    scale = np.abs(dy0).max()
    np.testing.assert_allclose(dy1 - shift, dy0, atol=1e-6 * scale)
    np.testing.assert_allclose(dx1 + shift, dx0, atol=1e-6 * scale)



def test_two_level_preconditioner_solves_the_system_in_fewer_cg_iterations():
    """CG with the coarse correction on column aggregates converges to the direction of
    Jacobi-CG (the same projected system (2)) in fewer iterations on 2-D points, and its
    residual meets the tolerance; a refilled pattern (same ``S``) keeps the coarse factor."""
    from bayesparse.optim.sinkhorn_newton_sparse import _RIDGE, _sparse_direction, _TwoLevel
    from bayesparse.sparse.truncation import row_mass_truncate_csr

    a, b, M = make_point_clouds("uniform", 800, random_state=0)
    kernel = StabilizedKernel(M, 2e-3)
    kernel.sinkhorn(a, b, 6, 0.0)
    r, c = kernel.marginals()
    S = row_mass_truncate_csr(kernel.plan(), 1e-3, row_sums=r)
    coarse = _TwoLevel(M)
    assert coarse.labels is not None and coarse.labels.max() + 1 >= 16
    ga, gb = a - r, b - c
    dx0, dy0, it_jacobi = _sparse_direction(S, r, c, ga, gb, 1e-10, False)
    dx1, dy1, it_two = _sparse_direction(S, r, c, ga, gb, 1e-10, False, coarse)
    assert 0 < it_two < it_jacobi
    scale = np.abs(dy0).max()
    np.testing.assert_allclose(dy1, dy0, atol=1e-6 * scale)
    np.testing.assert_allclose(dx1, dx0, atol=1e-6 * scale)
    # the Schur system on 1^perp: A dy = rhs up to the tolerance
    inv_r, cr = 1 / ((1 + _RIDGE) * r), (1 + _RIDGE) * c
    rhs = gb - S.T @ (ga * inv_r)
    res = cr * dy1 - S.T @ (inv_r * (S @ dy1)) - rhs
    res -= res.mean()
    assert np.linalg.norm(res) <= 1e-9 * np.linalg.norm(rhs - rhs.mean())
    factor = coarse._factor
    _sparse_direction(S, r, c, ga, gb, 1e-4, False, coarse)
    assert factor is not None and coarse._factor is factor

# ---------------------------------------------------------------------------- POT's test cases
@pytest.mark.parametrize("verbose", [True, False])
def test_pot_sinkhorn_constraints_and_failure(verbose, capsys):
    # POT test_sinkhorn: randn points, reg=1, stopThr=1e-10; POT warns at numItermax=1, we
    # raise (or warn when asked); stopThr=0 asks for numItermax iterations, never a failure
    n = 100
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    u = ot.utils.unif(n)
    M = ot.dist(x, x)
    G = sinkhorn_newton_sparse(u, u, M, 1, stopThr=1e-10, verbose=verbose)
    np.testing.assert_allclose(u, G.sum(1), atol=1e-05)
    np.testing.assert_allclose(u, G.sum(0), atol=1e-05)
    with pytest.raises(SinkhornConvergenceError, match="numItermax reached") as exc:
        sinkhorn_newton_sparse(u, u, M, 1, stopThr=1e-10, numItermax=1)
    assert exc.value.plan.shape == (n, n) and exc.value.log["niter"] == 1
    with pytest.warns(UserWarning, match="did not converge"):
        sinkhorn_newton_sparse(u, u, M, 1, stopThr=1e-10, numItermax=1, on_fail="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn_newton_sparse(u, u, M, 1, stopThr=0, numItermax=1)
    if verbose:
        assert "err" in capsys.readouterr().out


def test_pot_convergence_warning_and_silence():
    # POT test_convergence_warning: 1-D Gaussians, dist0 cost, reg=1
    n = 100
    a1 = ot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = ot.datasets.make_1D_gauss(n, m=40, s=10)
    M = ot.utils.dist0(n)
    with pytest.warns(UserWarning):
        sinkhorn_newton_sparse(a1, a2, M, 1.0, numItermax=1, on_fail="warn")
    with pytest.warns(UserWarning):
        sinkhorn_newton_sparse2(a1, a2, M, 1, numItermax=1, on_fail="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P = sinkhorn_newton_sparse(a1, a2, M, 1.0, numItermax=1, on_fail="ignore")
    assert P.shape == (n, n) and np.isfinite(P).all()


def test_pot_stabilization_small_reg():
    """POT test_sinkhorn_stabilization: a kernel that underflows (exp(-M/reg) with M/reg up
    to 1e3) still gives sinkhorn_log's loss (POT: atol 1e-6)."""
    n = 100
    a1 = ot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = ot.datasets.make_1D_gauss(n, m=40, s=10)
    M = ot.utils.dist0(n)
    M /= M.max()
    loss1 = ot.sinkhorn2(a1, a2, M, 1e-3, method="sinkhorn_log", stopThr=1e-12,
                         numItermax=100_000)
    loss2 = sinkhorn_newton_sparse2(a1, a2, M, 1e-3, stopThr=1e-10)
    np.testing.assert_allclose(loss1, loss2, atol=1e-06)


def test_pot_multi_b():
    # POT test_sinkhorn_multi_b: a 2-D b gives one loss per histogram column (POT: atol 1e-4)
    n = 10
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    u = ot.utils.unif(n)
    b = rng.rand(n, 3)
    b = b / np.sum(b, 0, keepdims=True)
    M = ot.dist(x, x)
    loss0 = ot.sinkhorn(u, b, M, 0.1, method="sinkhorn_log", stopThr=1e-10)
    loss = sinkhorn_newton_sparse(u, b, M, 0.1, stopThr=1e-10)
    loss2, log = sinkhorn_newton_sparse2(u, b, M, 0.1, stopThr=1e-10, log=True)
    assert loss.shape == (3,)
    np.testing.assert_allclose(loss0, loss, atol=1e-4)
    np.testing.assert_array_equal(loss, loss2)
    assert log["log_u"].shape == (n, 3) and log["v"].shape == (n, 3) and len(log["err"]) == 3
    one = sinkhorn_newton_sparse2(u, b[:, 1], M, 0.1, stopThr=1e-10)
    assert loss[1] == pytest.approx(one, rel=1e-12)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
def test_pot_variants_and_empty_weights(method):
    # POT test_sinkhorn_variants / test_sinkhorn_empty: same plan as POT's solvers (atol 1e-5)
    n = 100
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    u = ot.utils.unif(n)
    M = ot.dist(x, x)
    G0 = ot.sinkhorn(u, u, M, 1, method=method, stopThr=1e-10)
    G, log = sinkhorn_newton_sparse([], [], M, 1, stopThr=1e-10, log=True)
    np.testing.assert_allclose(u, G.sum(1), atol=1e-05)
    np.testing.assert_allclose(u, G.sum(0), atol=1e-05)
    np.testing.assert_allclose(G0, G, atol=1e-05)
    assert log["err"][-1] < 1e-10


def test_pot_empirical_sinkhorn_losses():
    # POT test_empirical_sinkhorn: 1-D grid points, reg=1 and 0.1, losses (atol 1e-5);
    # at reg=0.1 (costs/reg up to 1e5) the converged reference comes from RegOT
    n = 100
    a = ot.unif(n)
    X = np.arange(n, dtype=float).reshape(n, 1)
    M = ot.dist(X, X)
    M_m = ot.dist(X, X, metric="minkowski")
    for cost, reg in ((M, 1.0), (M, 0.1), (M_m, 1.0)):
        ours = sinkhorn_newton_sparse2(a, a, cost, reg, stopThr=1e-10)
        if reg < 1:
            ref = _regot_loss(a, a, cost, reg)
        else:
            ref = ot.sinkhorn2(a, a, cost, reg, method="sinkhorn_log", stopThr=1e-12,
                               numItermax=100_000)
        np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_pot_sinkhorn_divergence():
    # POT test_empirical_sinkhorn_divergence: reg=1 (atol 1e-5)
    n = 10
    a = b = ot.unif(n)
    X_s = np.arange(n, dtype=float).reshape(n, 1)
    X_t = np.arange(0, n * 2, 2, dtype=float).reshape(n, 1)
    M, M_s, M_t = ot.dist(X_s, X_t), ot.dist(X_s, X_s), ot.dist(X_t, X_t)

    def div(f):
        return f(a, b, M, 1) - 0.5 * f(a, a, M_s, 1) - 0.5 * f(b, b, M_t, 1)

    ref = div(lambda *p: ot.sinkhorn2(*p, method="sinkhorn_log", stopThr=1e-12))
    ours = div(lambda *p: sinkhorn_newton_sparse2(*p, stopThr=1e-10))
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_pot_tiny_problem():
    # POT test_implemented_methods: n=3, reg=1
    rng = np.random.RandomState(42)
    x = rng.randn(3, 2)
    a = ot.utils.unif(3)
    M = ot.dist(x, x)
    ref = ot.sinkhorn(a, a, M, 1.0, method="sinkhorn_log", stopThr=1e-12)
    np.testing.assert_allclose(sinkhorn_newton_sparse(a, a, M, 1.0), ref, atol=1e-9)


# ---------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 25),
    m=st.integers(1, 25),
    reg=st.floats(0.02, 2.0),
    scale=st.floats(0.1, 10.0),
    seed=st.integers(0, 2**16),
    zero_row=st.booleans(),
)
def test_property_marginals_and_pot_loss(n, m, reg, scale, seed, zero_row):
    rng = np.random.default_rng(seed)
    a = rng.dirichlet(np.ones(n))
    b = rng.dirichlet(np.ones(m))
    if zero_row and n > 1:
        a[0] = 0.0
        a /= a.sum()
    M = scale * rng.random((n, m))
    reg = reg * scale
    P, log = sinkhorn_newton_sparse(a, b, M, reg, stopThr=1e-10, log=True)
    assert P.shape == (n, m) and (P >= 0).all()
    assert _l1_marginal_error(P, a, b) < 1e-10
    assert np.isfinite(log["alpha"]).all() and np.isfinite(log["beta"]).all()
    ref = _pot_log(a, b, M, reg)
    assert (P * M).sum() == pytest.approx((ref * M).sum(), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("engine", ["numba", "torch"])
@pytest.mark.parametrize("spread", ["power8", "log30", "zeros_and_tiny"])
@pytest.mark.parametrize("reg", [1e-2, 2e-3, 1e-5])
def test_weights_spanning_many_orders_of_magnitude(spread, reg, engine):
    """Histograms whose masses span 1e-30..1 (or have zeros and 1e-25-scaled entries): the
    null direction of the Newton system was removed by a plain mean, which moved the tiny
    columns by the rounding of the large ones (NaN or stalls at every reg <= 1e-2), and the
    last epsilon-scaling stage could start 16x from its optimum (stalls at reg 1e-5)."""
    rng = np.random.default_rng(len(spread))
    n = 150
    _, _, M = make_point_clouds("gmm", n, random_state=3)

    def weights():
        if spread == "power8":
            w = rng.random(n) ** 8
        elif spread == "log30":
            w = 10.0 ** rng.uniform(-30, 0, n)
        else:
            w = rng.random(n)
            w[rng.random(n) < 0.3] = 0.0
            w[rng.random(n) < 0.2] *= 1e-25
        return w / w.sum()

    a, b = weights(), weights()
    args = (a, b, M) if engine == "numba" else tuple(torch.tensor(x) for x in (a, b, M))
    P, log = sinkhorn_newton_sparse(*args, reg, stopThr=1e-9, log=True, engine=engine)
    P = np.asarray(P)
    assert _l1_marginal_error(P, a, b) < 1e-9
    assert np.isfinite(np.asarray(log["alpha"])).all()
    assert np.isfinite(np.asarray(log["beta"])).all()
    if reg >= 2e-3:  # POT's log-domain Sinkhorn converges here: same plan
        ref = _pot_log(a, b, M, reg)
        assert np.abs(P - ref).sum() <= 1e-6


@settings(max_examples=10, deadline=None)
@given(n=st.integers(20, 60), reg_exp=st.floats(-3.0, -1.5), seed=st.integers(0, 1000))
def test_property_two_dimensional_points_small_reg(n, reg_exp, seed):
    """Squared-Euclidean costs normalized to max 1, as in the benchmark, at small reg."""
    rng = np.random.default_rng(seed)
    M = ot.dist(rng.random((n, 2)), rng.random((n + 5, 2)))
    M /= M.max()
    a, b = np.full(n, 1.0 / n), np.full(n + 5, 1.0 / (n + 5))
    P = sinkhorn_newton_sparse(a, b, M, 10.0**reg_exp, stopThr=1e-9)
    assert _l1_marginal_error(P, a, b) < 1e-9


# ---------------------------------------------------------------------------- dtypes, torch
def test_numpy_dtype_kept_and_integer_costs():
    a, b, M = _points_problem(20, 15)
    P32 = sinkhorn_newton_sparse(a, b, M.astype(np.float32), 0.5)
    assert P32.dtype == np.float32
    loss = sinkhorn_newton_sparse2(a, b, M.astype(np.float32), 0.5)
    assert isinstance(loss, np.float32)
    Mi = np.arange(12).reshape(3, 4)
    assert sinkhorn_newton_sparse([], [], Mi, 5.0).dtype == np.float64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out(dtype):
    a, b, M = _points_problem(30, 20)
    ref = sinkhorn_newton_sparse(a, b, M, 0.3)
    ta, tb, tM = (torch.tensor(x, dtype=dtype) for x in (a, b, M))
    P = sinkhorn_newton_sparse(ta, tb, tM, 0.3)
    assert isinstance(P, torch.Tensor) and P.dtype == dtype and P.device == tM.device
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(P.double().numpy(), ref, atol=tol * ref.max() * 10)
    loss = sinkhorn_newton_sparse2(ta, tb, tM, 0.3)
    assert loss.dtype == dtype and loss.ndim == 0
    _, log = sinkhorn_newton_sparse(ta, tb, tM, 0.3, log=True)
    assert isinstance(log["alpha"], torch.Tensor) and log["alpha"].dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_match_pot_envelope(dtype):
    # POT test_sinkhorn2_gradients (shapes), plus values vs ot.solve(grad="envelope")
    a, b, M = _points_problem(25, 18)
    reg = 0.2
    ours = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in (a, b, M)]
    val = sinkhorn_newton_sparse2(*ours, reg, stopThr=1e-11, grad="envelope")
    val.backward()
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (a, b, M)]
    res = ot.solve(theirs[2], theirs[0], theirs[1], reg=reg, grad="envelope",
                   max_iter=100_000, tol=1e-13)
    res.value.backward()
    tol = 1e-4 if dtype == torch.float32 else 1e-7
    for mine, ref in zip(ours, theirs):
        assert mine.grad.shape == mine.shape and mine.grad.dtype == dtype
        np.testing.assert_allclose(mine.grad.double().numpy(), ref.grad.numpy(),
                                   atol=tol * float(ref.grad.abs().max()))
    assert float(val.detach()) == pytest.approx(float(res.value_linear.detach()), rel=1e-6)


def test_gradients_match_finite_differences_of_regularized_value():
    """Envelope theorem: the gradients are those of W = <P, M> - reg H(P)."""
    a, b, M = _points_problem(12, 9, seed=3)
    reg = 0.3

    def value(a_, b_, M_):
        P = sinkhorn_newton_sparse(a_, b_, M_, reg, stopThr=1e-13, numItermax=10_000)
        return float((P * M_).sum() + reg * (P * (np.log(P) - 1)).sum())

    ta, tb, tM = (torch.tensor(x, requires_grad=True) for x in (a, b, M))
    sinkhorn_newton_sparse2(ta, tb, tM, reg, stopThr=1e-13, grad="envelope").backward()
    rng = np.random.default_rng(0)
    h = 1e-5
    dM = rng.normal(size=M.shape)
    fd = (value(a, b, M + h * dM) - value(a, b, M - h * dM)) / (2 * h)
    assert fd == pytest.approx(float((tM.grad.numpy() * dM).sum()), rel=1e-5)
    # perturb a and b together, keeping the masses equal
    da = rng.normal(size=a.shape)
    da -= da.mean()
    db = rng.normal(size=b.shape)
    db -= db.mean()
    fd = (value(a + h * da, b + h * db, M) - value(a - h * da, b - h * db, M)) / (2 * h)
    pred = float(ta.grad.numpy() @ da + tb.grad.numpy() @ db)
    assert fd == pytest.approx(pred, rel=1e-5)


def test_gradients_only_for_tensors_given():
    a, b, M = _points_problem(10, 8)
    tM = torch.tensor(M, requires_grad=True)
    loss = sinkhorn_newton_sparse2([], [], tM, 0.5, grad="envelope")
    loss.backward()
    assert tM.grad.shape == tM.shape
    assert float(tM.grad.sum()) == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------------------- zero mass
def test_zero_mass_points():
    a, b, M = _points_problem(15, 12)
    a[[2, 7]] = 0.0
    b[5] = 0.0
    a /= a.sum()
    b /= b.sum()
    P, log = sinkhorn_newton_sparse(a, b, M, 0.2, stopThr=1e-11, log=True)
    assert (P[[2, 7]] == 0).all() and (P[:, 5] == 0).all()
    assert _l1_marginal_error(P, a, b) < 1e-11
    assert np.isfinite(log["alpha"]).all() and np.isfinite(log["beta"]).all()
    ref = _pot_log(a, b, M, 0.2)
    np.testing.assert_allclose(P, ref, atol=1e-9)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"a": [-0.5, 1.5]}, "a: negative"),
        ({"a": [np.nan, 1.0]}, "a: NaN"),
        ({"b": [0.5, np.inf]}, "b: NaN or infinite"),
        ({"b": [0.5, 0.6]}, "total masses differ"),
        ({"a": [1.0, 0.0, 0.0]}, "a: has 3 weights but M has 2 rows"),
        ({"b": [[[0.5, 0.5]]]}, "b: expected a 1-D"),
        ({"method": "emd"}, "method: 'emd' is not an entropic OT solver"),
        ({"on_fail": "quiet"}, "on_fail: expected one of"),
        ({"grad": "last_step"}, "grad: expected one of"),
        ({"epsilon_scaling": 2.0}, "epsilon_scaling: expected"),
        ({"a": [0.0, 0.0]}, "a: weights sum to zero"),
        ({"M": np.ones(4)}, "M: expected a non-empty 2-D"),
        ({"M": np.array([[0.0, np.nan], [1.0, 0.0]])}, "M: NaN or infinite"),
        ({"M": np.array([[0.0, np.inf], [1.0, 0.0]])}, "M: NaN or infinite"),
        ({"reg": 0.0}, "reg: expected a finite number > 0"),
        ({"reg": -1.0}, "reg: expected a finite number > 0"),
        ({"reg": float("nan")}, "reg: expected a finite number > 0"),
        ({"numItermax": 0}, "numItermax: expected an integer >= 1"),
        ({"stopThr": -1e-9}, "stopThr: expected a finite number >= 0"),
        ({"warmup": "fast"}, "warmup: expected 'auto'"),
        ({"warmup": 0}, "warmup: expected an integer >= 1"),
        ({"sparsity": 1.0}, "sparsity: expected a fraction"),
        ({"sparsity": -0.1}, "sparsity: expected a fraction"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    args = {"a": [0.5, 0.5], "b": [0.5, 0.5], "M": np.array([[0.0, 1.0], [1.0, 0.0]]),
            "reg": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        sinkhorn_newton_sparse(**args)
    with pytest.raises(ValueError, match=match):
        sinkhorn_newton_sparse2(**args)


def test_bad_cost_type_raises_type_error():
    # lists go through POT's list_to_array, as in ot.sinkhorn
    P = sinkhorn_newton_sparse([0.5, 0.5], [], [[0.0, 1.0], [1.0, 0.0]], 0.1)
    assert isinstance(P, np.ndarray) and P.dtype == np.float64
    with pytest.raises(TypeError, match="M: expected a real numeric array"):
        sinkhorn_newton_sparse([], [], np.array([["a", "b"]]), 0.1)
    with pytest.raises(TypeError, match="M: expected a floating tensor"):
        sinkhorn_newton_sparse([], [], torch.ones(2, 2, dtype=torch.int64), 0.1)


def test_masses_equal_within_tolerance_are_rescaled():
    a = np.array([0.5, 0.5])
    b = np.array([0.5, 0.5 + 1e-9])
    P = sinkhorn_newton_sparse(a, b, np.array([[0.0, 1.0], [1.0, 0.0]]), 0.1, stopThr=1e-12)
    assert np.abs(P.sum(1) - a).sum() < 1e-12


@pytest.mark.parametrize("torch_arg", ["a", "b", "M"])
def test_mixed_backends_raise(torch_arg):
    # A torch `a` (requires_grad) with a numpy M returned a numpy float and dropped the gradient.
    rng = np.random.default_rng(0)
    args = {"a": np.full(4, 0.25), "b": np.full(4, 0.25), "M": rng.random((4, 4))}
    args[torch_arg] = torch.tensor(args[torch_arg], requires_grad=True)
    with pytest.raises(TypeError, match="one backend"):
        sinkhorn_newton_sparse2(args["a"], args["b"], args["M"], 0.1)


# ---------------------------------------------------------------------------- small reg
@pytest.mark.parametrize(
    "kind, n, reg",
    [("uniform", 30, 1e-4), ("gmm", 30, 1e-5), ("uniform", 300, 3e-5), ("uniform", 300, 1e-5)],
)
def test_small_reg_converges_by_epsilon_scaling(kind, n, reg):
    """The cases that used to stop at L1 error 0.1-0.3 with a warning. Checked by the
    optimality conditions (marginals to 1e-8 and ``P = exp((alpha + beta - M) / reg)``, which
    determine the entropic plan), and the cost within ``reg log(n^2)`` above the exact OT."""
    a, b, M = make_point_clouds(kind, n, random_state=0)
    P, log = sinkhorn_newton_sparse(a, b, M, reg, stopThr=1e-8, log=True)
    assert _l1_marginal_error(P, a, b) < 1e-8
    assert len(log["regs"]) > 1 and log["regs"][-1] == reg and log["n_newton"] > 0
    assert log["niter"] < 1000  # within the default numItermax
    rebuilt = np.exp((log["alpha"][:, None] + log["beta"][None, :] - M) / reg)
    np.testing.assert_allclose(rebuilt, P, rtol=1e-8, atol=1e-300)
    exact = float((ot.emd(a, b, M) * M).sum())
    assert exact - 1e-12 <= float((P * M).sum()) <= exact + reg * math.log(n * n)


def test_small_reg_matches_pot_epsilon_scaling():
    # n=30, reg=1e-5: POT's sinkhorn_epsilon_scaling converges here (L1 ~1e-15)
    a, b, M = make_point_clouds("uniform", 30, random_state=0)
    ref = ot.bregman.sinkhorn_epsilon_scaling(a, b, M, 1e-5, stopThr=1e-12, warn=False)
    assert _l1_marginal_error(ref, a, b) < 1e-10
    P = sinkhorn_newton_sparse(a, b, M, 1e-5, stopThr=1e-10)
    assert np.abs(P - ref).sum() < 1e-8


def test_without_epsilon_scaling_small_reg_fails_clearly():
    a, b, M = make_point_clouds("uniform", 30, random_state=0)
    with pytest.raises(SinkhornConvergenceError, match="L1 marginal error .* reg=1e-05"):
        sinkhorn_newton_sparse(a, b, M, 1e-5, stopThr=1e-8, epsilon_scaling=None,
                               numItermax=300)
    P, log = sinkhorn_newton_sparse(a, b, M, 1e-5, stopThr=1e-8, epsilon_scaling=0.1,
                                    log=True)
    assert _l1_marginal_error(P, a, b) < 1e-8 and len(log["regs"]) == 3


# ---------------------------------------------------------------------------- POT conventions
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_epsilon_scaling",
                                    "greenkhorn", "sinkhorn_stabilized"])
def test_method_names_of_the_same_problem_are_accepted(method):
    a, b, M = _points_problem(15, 12)
    ref = sinkhorn_newton_sparse(a, b, M, 0.5, stopThr=1e-11)
    np.testing.assert_array_equal(sinkhorn_newton_sparse(a, b, M, 0.5, method, stopThr=1e-11),
                                  ref)


def test_log_has_pot_keys():
    a, b, M = _points_problem(15, 12)
    reg = 0.5
    P, log = sinkhorn_newton_sparse(a, b, M, reg, log=True)
    ref, ref_log = ot.sinkhorn(a, b, M, reg, stopThr=1e-12, log=True)
    # POT's scalings: P = diag(u) exp(-M / reg) diag(v), defined up to (u t, v / t)
    np.testing.assert_allclose(log["u"][:, None] * np.exp(-M / reg) * log["v"][None, :], P,
                               rtol=1e-10)
    ratio = log["u"] / ref_log["u"]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-7)
    np.testing.assert_allclose(np.exp(log["log_u"]), log["u"], rtol=1e-12)
    assert log["niter"] == len(log["err"]) and log["err"][-1] < 1e-9


# ---------------------------------------------------------------------------- implicit gradients
@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_implicit_gradients_pass_gradcheck(engine):
    """The plan's Jacobian w.r.t. a, b and M (Eq. 3) against central finite differences of
    the solver itself (float64, solved to 1e-13); weights normalized inside."""
    rng = np.random.default_rng(1)
    n, m, reg = 5, 4, 0.3
    inputs = (torch.tensor(rng.random(n) + 0.5, requires_grad=True),
              torch.tensor(rng.random(m) + 0.5, requires_grad=True),
              torch.tensor(rng.random((n, m)), requires_grad=True))
    opts = {"stopThr": 1e-13, "numItermax": 10_000, "engine": engine}

    def plan(a_raw, b_raw, M):
        return sinkhorn_newton_sparse(a_raw / a_raw.sum(), b_raw / b_raw.sum(), M, reg, **opts)

    assert torch.autograd.gradcheck(plan, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
    loss = lambda a_raw, b_raw, M: sinkhorn_newton_sparse2(  # noqa: E731
        a_raw / a_raw.sum(), b_raw / b_raw.sum(), M, reg, **opts)
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_autodiff_gradients_match_pot_sinkhorn_log_autodiff(dtype):
    """``grad="autodiff"`` equals POT's backpropagation through ``sinkhorn_log`` run to
    convergence (weights compared along mass-preserving directions: centered)."""
    a, b, M = _points_problem(20, 15, seed=2)
    M = M / M.max()
    reg = 0.05
    ours = [torch.tensor(x, dtype=dtype, requires_grad=True) for x in (a, b, M)]
    sinkhorn_newton_sparse2(*ours, reg, stopThr=1e-12).backward()
    theirs = [torch.tensor(x, requires_grad=True) for x in (a, b, M)]
    ot.sinkhorn2(*theirs, reg, method="sinkhorn_log", stopThr=1e-14,
                 numItermax=5000).backward()
    tol = 1e-4 if dtype == torch.float32 else 1e-7
    for mine, ref, center in zip(ours, theirs, (True, True, False)):
        g, r = mine.grad.double().numpy(), ref.grad.numpy()
        if center:
            g, r = g - g.mean(), r - r.mean()
        assert mine.grad.dtype == dtype
        np.testing.assert_allclose(g, r, atol=tol * np.abs(r).max())


def test_grad_detach_and_envelope_plan_are_detached():
    a, b, M = _points_problem(8, 6)
    tM = torch.tensor(M, requires_grad=True)
    for grad in ("detach", "envelope"):
        assert not sinkhorn_newton_sparse([], [], tM, 0.5, grad=grad).requires_grad
    assert not sinkhorn_newton_sparse2([], [], tM, 0.5, grad="detach").requires_grad
    assert sinkhorn_newton_sparse([], [], tM, 0.5).requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_in_cuda_out():
    a, b, M = _points_problem(20, 15)
    ta, tb, tM = (torch.tensor(x, device="cuda", requires_grad=True) for x in (a, b, M))
    loss = sinkhorn_newton_sparse2(ta, tb, tM, 0.3)
    loss.backward()
    assert loss.device.type == "cuda" and tM.grad.device.type == "cuda"
    assert float(loss) == pytest.approx(sinkhorn_newton_sparse2(a, b, M, 0.3), rel=1e-10)


def test_multi_b_torch_losses_are_differentiable():
    a, _, M = _points_problem(8, 6)
    rng = np.random.default_rng(0)
    b = rng.random((6, 2))
    b /= b.sum(0)
    tM = torch.tensor(M, requires_grad=True)
    losses = sinkhorn_newton_sparse2(torch.tensor(a), torch.tensor(b), tM, 0.5)
    assert losses.shape == (2,)
    losses.sum().backward()
    expected = torch.zeros_like(tM)
    for k in range(2):
        tMk = torch.tensor(M, requires_grad=True)
        sinkhorn_newton_sparse2(torch.tensor(a), torch.tensor(b[:, k]), tMk, 0.5).backward()
        expected += tMk.grad
    torch.testing.assert_close(tM.grad, expected)
