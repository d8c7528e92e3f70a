"""The torch engine of Sinkhorn-Newton-Sparse (``engine="torch"``) against the numba engine.

Both run the same algorithm (same schedule, switch rule, sparsification and line search), so
on CPU tensors they take the same steps up to rounding: plans agree to ``1e-9`` of the mass
(``1e-7`` at reg ``1e-5``), Newton step counts within two, and the implicit gradients to
``1e-8`` of their scale. One test runs a whole solve and backward
pass with every host transfer of a tensor disabled; CUDA tests run where a GPU is present.
The gradcheck of both engines is in ``test_sinkhorn_newton_sparse.py``.
"""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.optim.sinkhorn_newton_sparse import (
    SinkhornConvergenceError,
    sinkhorn_newton_sparse,
    sinkhorn_newton_sparse2,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _cloud(n: int, m: int, seed: int = 0, dim: int = 2, weights: bool = True):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, dim)), rng.random((m, dim))
    M = ot.dist(x, y)
    M /= M.max()
    a = rng.random(n) + 0.1 if weights else np.ones(n)
    b = rng.random(m) + 0.1 if weights else np.ones(m)
    return a / a.sum(), b / b.sum(), M


def _tensors(*xs, **kw):
    return [torch.tensor(x, **kw) for x in xs]


def _l1(P, a, b) -> float:
    return float((P.sum(1) - a).abs().sum() + (P.sum(0) - b).abs().sum())


def _both(a, b, M, reg, **kw):
    P, log = sinkhorn_newton_sparse(a, b, M, reg, log=True, **kw)
    Pt, logt = sinkhorn_newton_sparse(*_tensors(a, b, M), reg, log=True, engine="torch", **kw)
    return P, log, Pt, logt


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 40),
    m=st.integers(2, 40),
    log_reg=st.floats(-4.0, 0.0),
    seed=st.integers(0, 2**16),
)
def test_property_torch_engine_takes_the_numba_engine_steps(n, m, log_reg, seed):
    a, b, M = _cloud(n, m, seed)
    P, log, Pt, logt = _both(a, b, M, 10.0**log_reg, stopThr=1e-9)
    assert logt["engine"] == "torch" and log["engine"] == "numba"
    assert isinstance(Pt, torch.Tensor) and Pt.dtype == torch.float64
    assert _l1(Pt, torch.tensor(a), torch.tensor(b)) < 1e-9
    assert np.abs(Pt.numpy() - P).sum() <= 1e-9
    # same steps up to rounding (a step may land on either side of a threshold)
    assert abs(logt["niter"] - log["niter"]) <= 2
    assert abs(logt["n_newton"] - log["n_newton"]) <= 2
    for key in ("alpha", "beta"):  # the potentials, up to their common shift
        d = logt[key].numpy() - log[key]
        assert np.ptp(d) < 1e-7 * max(1.0, np.abs(log[key]).max())


@pytest.mark.parametrize(
    "n, reg", [(300, 1e-5), (700, 2e-3), (700, 1e-4)],
)
def test_sparse_newton_and_two_level_paths_agree(n, reg):
    """Large enough for the sparse CG steps and the coarse correction (m / 32 >= 16)."""
    a, b, M = _cloud(n, n, seed=n, weights=False)
    P, log, Pt, logt = _both(a, b, M, reg, stopThr=1e-8)
    assert logt["n_newton"] > 0 and min(logt["nnz"]) < 0.25 * n * n
    assert _l1(Pt, torch.tensor(a), torch.tensor(b)) < 1e-8
    assert np.abs(Pt.numpy() - P).sum() <= 1e-7
    assert abs(logt["n_newton"] - log["n_newton"]) <= 2


def test_direct_solve_on_near_assignment_plans():
    """1-D points at small reg: path-like Hessians on which CG stalls and the torch engine
    falls back to the dense Cholesky solve (negative ``cg_iter``), like the numba engine's
    sparse LU."""
    rng = np.random.default_rng(3)
    x, y = np.sort(rng.random(150)), np.sort(rng.random(150))
    M = (x[:, None] - y[None, :]) ** 2
    a = b = np.full(150, 1 / 150)
    P, log, Pt, logt = _both(a, b, M, 1e-6 * M.max(), stopThr=1e-8)
    assert min(log["cg_iter"]) < 0 and min(logt["cg_iter"]) < 0
    assert _l1(Pt, torch.tensor(a), torch.tensor(b)) < 1e-8
    assert np.abs(Pt.numpy() - P).sum() <= 1e-6


def test_no_tensor_leaves_its_device(monkeypatch):
    """A full solve, loss and backward pass with every device-to-host copy of a tensor made
    an error: the torch engine never moves data off the inputs' device."""
    a, b, M = _cloud(120, 90, seed=1)
    ta, tb, tM = _tensors(a, b, M, requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a tensor was copied to the host")

    for name in ("numpy", "cpu", "__array__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    loss, log = sinkhorn_newton_sparse2(ta, tb, tM, 2e-3, engine="torch", log=True)
    loss.backward()
    plan = sinkhorn_newton_sparse(ta, tb, tM, 1e-4, engine="torch")
    (plan * tM).sum().backward()
    monkeypatch.undo()
    assert log["engine"] == "torch" and log["n_newton"] > 0
    assert tM.grad is not None and torch.isfinite(tM.grad).all()


@pytest.mark.parametrize("grad", ["autodiff", "envelope"])
@pytest.mark.parametrize("reg", [0.05, 1e-3])
def test_gradients_equal_the_numba_engine(grad, reg):
    a, b, M = _cloud(60, 45, seed=4)
    grads = []
    for engine in ("numba", "torch"):
        ts = _tensors(a, b, M, requires_grad=True)
        loss = sinkhorn_newton_sparse2(*ts, reg, stopThr=1e-11, grad=grad, engine=engine)
        (loss + (sinkhorn_newton_sparse(*ts, reg, stopThr=1e-11, grad=grad, engine=engine)
                 ** 2).sum()).backward()
        grads.append([t.grad for t in ts])
    for g_numba, g_torch in zip(*grads):
        if grad == "envelope" and g_numba is None:
            continue
        scale = float(g_numba.abs().max())
        torch.testing.assert_close(g_torch, g_numba, atol=1e-8 * scale, rtol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_kept_and_computed_in_float64(dtype):
    a, b, M = _cloud(50, 40, seed=5)
    ref = sinkhorn_newton_sparse2(a, b, M, 1e-2, stopThr=1e-10)
    ts = _tensors(a, b, M, dtype=dtype)
    loss, log = sinkhorn_newton_sparse2(*ts, 1e-2, stopThr=1e-10, engine="torch", log=True)
    assert loss.dtype == dtype and log["plan"].dtype == dtype and log["alpha"].dtype == dtype
    assert log["err"][-1] < 1e-10  # float64 inside, whatever the input dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert float(loss) == pytest.approx(float(ref), rel=tol)


def test_zero_mass_points_and_multi_histograms():
    a, b, M = _cloud(30, 25, seed=6)
    a[[0, 7]] = 0.0
    b[3] = 0.0
    a, b = a / a.sum(), b / b.sum()
    P, log, Pt, logt = _both(a, b, M, 0.02, stopThr=1e-10)
    assert np.abs(Pt.numpy() - P).sum() <= 1e-10
    np.testing.assert_allclose(logt["alpha"].numpy()[[0, 7]] - logt["alpha"].numpy()[1],
                               log["alpha"][[0, 7]] - log["alpha"][1], atol=1e-9)
    B = np.stack([b, np.full(25, 1 / 25)], 1)
    ref = sinkhorn_newton_sparse(a, B, M, 0.02, stopThr=1e-10)
    out = sinkhorn_newton_sparse(*_tensors(a, B, M), 0.02, stopThr=1e-10, engine="torch")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-9)


def test_failure_raises_with_the_last_plan_on_device():
    a, b, M = _cloud(40, 40, seed=7)
    with pytest.raises(SinkhornConvergenceError, match="did not converge") as info:
        sinkhorn_newton_sparse(*_tensors(a, b, M), 1e-4, numItermax=5, engine="torch")
    assert isinstance(info.value.plan, torch.Tensor) and info.value.log["engine"] == "torch"


def test_engine_argument_is_checked():
    a, b, M = _cloud(5, 4)
    with pytest.raises(ValueError, match="engine: 'torch' needs torch inputs"):
        sinkhorn_newton_sparse(a, b, M, 0.1, engine="torch")
    with pytest.raises(ValueError, match="engine: expected one of"):
        sinkhorn_newton_sparse2(*_tensors(a, b, M), 0.1, engine="cuda")
    _, log = sinkhorn_newton_sparse(*_tensors(a, b, M), 0.1, log=True)
    assert log["engine"] == "numba"  # "auto" on CPU tensors: the compiled kernels


@CUDA
def test_cuda_tensors_are_solved_on_the_gpu():
    a, b, M = _cloud(200, 150, seed=8)
    ts = _tensors(a, b, M, device="cuda", requires_grad=True)
    loss, log = sinkhorn_newton_sparse2(*ts, 1e-3, log=True)
    loss.backward()
    assert log["engine"] == "torch" and log["n_newton"] > 0
    assert loss.device.type == "cuda" and all(t.grad.device.type == "cuda" for t in ts)
    ref = _tensors(a, b, M, requires_grad=True)
    sinkhorn_newton_sparse2(*ref, 1e-3, engine="numba").backward()
    assert float(loss) == pytest.approx(float(sinkhorn_newton_sparse2(a, b, M, 1e-3)),
                                        rel=1e-10)
    torch.testing.assert_close(ts[2].grad.cpu(), ref[2].grad, rtol=1e-6, atol=1e-9)


@CUDA
def test_inputs_on_two_devices_are_refused():
    a, b, M = _cloud(5, 4)
    with pytest.raises(TypeError, match="a: on device cpu but M on cuda"):
        sinkhorn_newton_sparse(torch.tensor(a), torch.tensor(b, device="cuda"),
                               torch.tensor(M, device="cuda"), 0.1)
