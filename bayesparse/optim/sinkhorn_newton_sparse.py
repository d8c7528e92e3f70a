r"""Sinkhorn-Newton-Sparse (SNS): entropic optimal transport by sparse Newton steps.

Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil, Xiao, Ying, "Accelerating Sinkhorn
algorithm with sparse Newton iterations", ICLR 2024.

The entropic OT problem ``min_P <P, M> - reg H(P)`` s.t. ``P 1 = a``, ``P^T 1 = b`` has the
concave dual (Lyapunov) function, in scaled potentials ``x = f / reg``, ``y = g / reg``,

.. math::
    \Phi(x, y) = \langle a, x\rangle + \langle b, y\rangle
                 - \sum_{ij} \exp(x_i + y_j - M_{ij}/\mathrm{reg}),                   (1)

whose maximizer gives the plan ``P_ij = exp(x_i + y_j - M_ij / reg)``. Its gradient is the
marginal error and its negative Hessian the bipartite "Laplacian" of the plan (paper, Eq. 3):

.. math::
    \nabla\Phi = (a - P\mathbf 1,\; b - P^\top \mathbf 1), \qquad
    -\nabla^2\Phi = \begin{pmatrix} \mathrm{diag}(P\mathbf 1) & P \\
                                    P^\top & \mathrm{diag}(P^\top\mathbf 1)\end{pmatrix}.  (2)

SNS (paper, Algorithm 1) runs Sinkhorn for a warm start, then Newton steps
``(x, y) += t H^{-1} \nabla\Phi`` where ``H`` is (2) with ``P`` replaced by a sparsification
``S`` of the current plan, and ``t`` comes from a backtracking line search. This
implementation differs from the paper where measurements said so:

* **Adaptive sparsity** instead of a fixed number of kept entries: each row of ``P`` keeps the
  entries holding ``1 - sparsity`` of its mass
  (:func:`bayesparse.sparse.truncation.row_mass_truncate`), and ``sparsity`` shrinks
  100-fold after a step the line search had to damp. The diagonal of (2) always uses the
  exact marginals. Once more than a quarter of the plan is kept, products with the exact
  plan through BLAS are cheaper than CSR ones, and the steps use the exact Hessian.
* **Measured switch**: the warm-up watches the linear rate ``rho`` of the Sinkhorn error and
  hands over to Newton once ``log(stopThr / err) / log(rho)`` — the iterations Sinkhorn would
  still need — exceeds what a few Newton steps cost (estimated from the density of the plan
  they would keep), and only below an L1 error of 0.1; when Sinkhorn is fast it simply
  finishes.
* **Kernel domain throughout** (:class:`~bayesparse.optim.stabilized_sinkhorn.StabilizedKernel`):
  a trial step of the line search rescales ``u, v`` by ``exp(t dx), exp(t dy)`` (``n + m``
  exponentials) and needs one product ``G v``; no ``n x m`` exponential is evaluated while
  the scalings stay in range.
* **Linear system**: ``dx`` is eliminated, leaving the Schur complement
  ``(diag(c) - S^T diag(r)^{-1} S) dy = g_b - S^T (g_a / r)``, solved by a sparse LU when
  ``S`` has few entries per row (near-assignment plans, whose Hessian is too ill-conditioned for
  CG) and otherwise by Jacobi-preconditioned conjugate gradient. The null direction
  ``(1, -1)`` of (2) is removed by grounding ``dy_m = 0`` (LU) or by projecting ``dy`` onto
  ``1^\perp`` (CG).
* **Line search** tries ``t = 1`` first (accepted in almost every step) and halves; it accepts
  on the Armijo condition for (1), or — once (1) changes by less than rounding — on a decrease
  of the marginal error.

The stopping rule is the L1 error on **both** marginals, ``||P1 - a||_1 + ||P^T1 - b||_1 <
stopThr``; POT's ``ot.sinkhorn`` checks only the second marginal, in the L2 norm, every 10
iterations (its first marginal is exact after its last update).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from bayesparse.optim.stabilized_sinkhorn import StabilizedKernel
from bayesparse.sparse.tensor import SparseTensor
from bayesparse.sparse.truncation import row_mass_truncate

__all__ = ["sinkhorn_newton_sparse", "sinkhorn_newton_sparse2"]

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]

#: warm-up hands over when Sinkhorn would need more iterations than this to finish (a Newton
#: step costs about 3 Sinkhorn iterations plus its sparse solve; a handful of steps suffice)
_SWITCH_ITERS = 40
#: ... and only once the L1 error is below this fraction of the mass: from farther away the
#: sparse Newton steps are damped and cost more than the Sinkhorn iterations they replace
_SWITCH_ERR = 0.1
#: Newton steps the switch rule budgets for, and the cost of a dense-plan step (in Sinkhorn
#: iterations: ~12 CG iterations of two dense products)
_NEWTON_STEPS = 5
_DENSE_STEP = 14.0
#: window (iterations) over which the warm-up measures Sinkhorn's linear rate
_RATE_WINDOW = 5
#: CG iterations after which the Schur complement is factorized instead (sparse LU), for this
#: and later steps: CG is fastest on the expander-like graphs of random or 2-D costs, LU on
#: near-1-D plans, whose path-like Hessians CG converges on slowly
_CG_MAX_ITER = 200
#: kept density above which Newton steps use the exact plan through dense products
_DENSE_DENSITY = 0.25
_ARMIJO = 1e-4
#: relative ridge ``H + ridge * diag(H)``: keeps the sparsified system non-singular when the
#: kept entries split the plan's graph into pieces (the dropped entries connect them)
_RIDGE = 1e-10
_MAX_HALVINGS = 30


def sinkhorn_newton_sparse(
    a: ArrayLike,
    b: ArrayLike,
    M: np.ndarray | torch.Tensor,
    reg: float,
    numItermax: int = 1000,  # noqa: N803 - POT's name
    stopThr: float = 1e-9,  # noqa: N803 - POT's name
    warmup: int | str = "auto",
    sparsity: float = 1e-6,
    verbose: bool = False,
    log: bool = False,
    warn: bool = True,
) -> Any:
    r"""Entropic OT plan by Sinkhorn warm-up and sparse Newton steps (SNS).

    Solves

    .. math::
        \min_{P \ge 0} \langle P, M\rangle - \mathrm{reg}\, H(P)
        \quad\text{s.t.}\quad P\mathbf 1 = a,\ P^\top \mathbf 1 = b,

    with ``H(P) = -sum P_ij (log P_ij - 1)``, the problem of ``ot.sinkhorn``.

    Parameters
    ----------
    a : array or tensor, shape ``n``
        Source weights (non-negative, finite). Empty (``[]``) means uniform ``1/n``.
    b : array or tensor, shape ``m``
        Target weights, same total mass as ``a``. Empty means uniform ``1/m``.
    M : array or tensor, shape ``n x m``
        Cost matrix (finite).
    reg : float
        Entropic regularization, ``> 0``.
    numItermax : int, default 1000
        Cap on the iterations of both phases together (Sinkhorn and Newton).
    stopThr : float, default 1e-9
        Stop when ``||P1 - a||_1 + ||P^T 1 - b||_1 < stopThr`` (``0``: run ``numItermax``
        iterations).
    warmup : "auto" or int, default "auto"
        ``"auto"`` switches to Newton on the measured Sinkhorn rate (see module notes); an
        integer runs exactly that many Sinkhorn iterations first (the paper's ``N1``; ``0``
        starts Newton at once).
    sparsity : float, default 1e-6
        Fraction of each row's mass of the plan that the sparsified Hessian may drop, in
        ``[0, 1)``. Shrinks 100-fold after a damped step.
    verbose : bool, default False
        Print one line per Newton step and every 100 Sinkhorn iterations.
    log : bool, default False
        Also return a dict of diagnostics (see Returns).
    warn : bool, default True
        Warn (``UserWarning``) when ``numItermax`` is reached before ``stopThr``.

    Returns
    -------
    P : array or tensor, shape ``n x m``
        Transport plan, in the type, dtype and device of ``M``.
    log : dict, only if ``log=True``
        ``alpha``, ``beta``: dual potentials with ``P = exp((alpha_i + beta_j - M_ij)/reg)``;
        ``log_u``, ``log_v``: the same divided by ``reg`` (POT's ``sinkhorn_log`` names);
        ``err``: L1 marginal error on both marginals after each iteration; ``time``: wall
        seconds at each of those; ``phase``: ``"sinkhorn"`` or ``"newton"`` for each;
        ``niter``, ``n_sinkhorn``, ``n_newton``: iteration counts; ``time_sinkhorn``,
        ``time_newton``: seconds per phase; ``nnz``, ``cg_iter``, ``step``: per Newton step,
        the kept entries of the Hessian, the CG iterations (negative: the sparse LU solved
        that step, after that many) and the step length.

    Raises
    ------
    ValueError
        Negative or non-finite weights, weight sums differing by more than ``1e-6`` relative
        (within it, ``b`` is rescaled to the mass of ``a``), ``M`` of the wrong shape or not
        finite, ``reg <= 0`` (POT only warns), bad ``numItermax``, ``stopThr``, ``warmup`` or
        ``sparsity``.
    TypeError
        ``M`` neither a numpy array nor a torch tensor, or not real-valued.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.optim import sinkhorn_newton_sparse
    >>> rng = np.random.default_rng(0)
    >>> M = rng.random((50, 40))
    >>> P, log = sinkhorn_newton_sparse([], [], M, reg=0.01, log=True)
    >>> P.shape, bool(log["err"][-1] < 1e-9)
    ((50, 40), True)
    >>> float(np.abs(P.sum(1) - 1 / 50).sum() + np.abs(P.sum(0) - 1 / 40).sum()) < 1e-9
    True

    References
    ----------
    X. Tang et al., Accelerating Sinkhorn algorithm with sparse Newton iterations, ICLR 2024.
    """
    problem = _Problem(a, b, M, reg)
    plan, alpha, beta, info = _solve(
        problem.a, problem.b, problem.M, problem.reg,
        _check_int(numItermax, "numItermax", 1), _check_threshold(stopThr),
        _check_warmup(warmup), _check_sparsity(sparsity), verbose,
    )
    if info["err"][-1] >= stopThr and warn:
        warnings.warn(
            f"Sinkhorn-Newton-Sparse did not converge: L1 marginal error {info['err'][-1]:.3g} "
            f">= stopThr={stopThr:g} after numItermax={numItermax} iterations. You might want "
            "to increase numItermax or reg.",
            UserWarning,
            stacklevel=2,
        )
    plan, alpha, beta = problem.expand(plan, alpha, beta)
    out = problem.output(plan)
    if not log:
        return out
    info.update(
        alpha=problem.output(alpha), beta=problem.output(beta),
        log_u=problem.output(alpha / problem.reg), log_v=problem.output(beta / problem.reg),
    )
    return out, info


def sinkhorn_newton_sparse2(
    a: ArrayLike,
    b: ArrayLike,
    M: np.ndarray | torch.Tensor,
    reg: float,
    numItermax: int = 1000,  # noqa: N803 - POT's name
    stopThr: float = 1e-9,  # noqa: N803 - POT's name
    warmup: int | str = "auto",
    sparsity: float = 1e-6,
    verbose: bool = False,
    log: bool = False,
    warn: bool = True,
) -> Any:
    r"""Entropic OT loss ``<P, M>`` by SNS, like ``ot.sinkhorn2``; differentiable for torch.

    Same parameters as :func:`sinkhorn_newton_sparse`. With torch inputs the returned scalar
    carries gradients by the envelope theorem, as POT's ``ot.solve(..., grad="envelope")``:
    ``d/dM = P``, ``d/da = alpha - mean(alpha)``, ``d/db = beta - mean(beta)``, from the
    converged plan and potentials (no backpropagation through the iterations). These are the
    exact gradients of the regularized value ``<P, M> - reg H(P)`` (``alpha`` and ``beta``
    centered, i.e. along perturbations that keep the total mass); they differ from the
    gradients of ``<P, M>`` alone by ``O(reg)``.

    Returns
    -------
    loss : float, numpy scalar or 0-d tensor
        ``<P, M>`` in ``M``'s type and dtype.
    log : dict, only if ``log=True``
        As in :func:`sinkhorn_newton_sparse`, plus ``plan``.

    Examples
    --------
    >>> import torch
    >>> from bayesparse.optim import sinkhorn_newton_sparse2
    >>> x = torch.linspace(0, 1, 30, dtype=torch.float64)[:, None]
    >>> M = ((x - x.T - 0.2) ** 2).requires_grad_()
    >>> loss = sinkhorn_newton_sparse2([], [], M, reg=0.01)
    >>> loss.backward()
    >>> torch.allclose(M.grad.sum(), torch.tensor(1.0, dtype=torch.float64))
    True
    """
    problem = _Problem(a, b, M, reg)
    P, info = sinkhorn_newton_sparse(
        a, b, M, reg, numItermax=numItermax, stopThr=stopThr, warmup=warmup,
        sparsity=sparsity, verbose=verbose, log=True, warn=warn,
    )
    plan = _numpy64(P)
    value = float(np.sum(plan * problem.M_full))
    if problem.is_torch:
        alpha = _numpy64(info["alpha"])
        beta = _numpy64(info["beta"])
        grads = (alpha - alpha.mean(), beta - beta.mean(), plan)
        loss = _EnvelopeLoss.apply(
            value, problem.a_in, problem.b_in, problem.M_in, *grads
        )
    else:
        loss = problem.dtype.type(value)
    if not log:
        return loss
    info["plan"] = P
    return loss, info


class _EnvelopeLoss(torch.autograd.Function):
    """A scalar whose gradients w.r.t. ``(a, b, M)`` are given (envelope theorem)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, value: float, a: torch.Tensor | None, b: torch.Tensor | None,
        M: torch.Tensor, ga: np.ndarray, gb: np.ndarray, gM: np.ndarray,
    ) -> torch.Tensor:
        ctx.grads = [
            None if t is None else torch.as_tensor(g, dtype=t.dtype, device=t.device)
            for t, g in ((a, ga), (b, gb), (M, gM))
        ]
        return torch.tensor(value, dtype=M.dtype, device=M.device)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        ga, gb, gM = (None if g is None else grad * g for g in ctx.grads)
        return None, ga, gb, gM, None, None, None


# ---------------------------------------------------------------------------- input handling
class _Problem:
    """Validated float64 numpy copy of ``(a, b, M, reg)``; zero-mass points set aside."""

    def __init__(self, a: ArrayLike, b: ArrayLike, M: Any, reg: float) -> None:
        self.is_torch = isinstance(M, torch.Tensor)
        if self.is_torch:
            self.torch_dtype, self.device = M.dtype, M.device
            if not M.dtype.is_floating_point:
                raise TypeError(f"M: expected a floating tensor, got {M.dtype}")
        elif isinstance(M, np.ndarray):
            if M.dtype.kind not in "fiu":
                raise TypeError(f"M: expected a real numeric array, got dtype {M.dtype}")
            self.dtype = M.dtype if M.dtype.kind == "f" else np.dtype(np.float64)
        else:
            raise TypeError(
                f"M: expected a numpy array or torch tensor, got {type(M).__name__}"
            )
        for name, w in (("a", a), ("b", b)):
            # POT's rule: one backend for all inputs (a mixed call used to drop the gradient).
            if isinstance(w, torch.Tensor) != self.is_torch and len(w) > 0:
                kinds = ("torch tensor", "numpy array")
                raise TypeError(
                    f"{name}: a {kinds[not isinstance(w, torch.Tensor)]} with M a "
                    f"{kinds[not self.is_torch]}; pass a, b and M from one backend "
                    "(all numpy or all torch)"
                )
        M64 = _numpy64(M)
        if M64.ndim != 2 or min(M64.shape) == 0:
            raise ValueError(f"M: expected a non-empty 2-D cost matrix, got shape {M64.shape}")
        if not np.isfinite(M64).all():
            raise ValueError("M: NaN or infinite costs; replace them by large finite values")
        if isinstance(reg, bool) or not isinstance(reg, (int, float, np.number)) or not (
            math.isfinite(float(reg)) and float(reg) > 0
        ):
            raise ValueError(f"reg: expected a finite number > 0, got {reg!r}")
        self.reg = float(reg)
        n, m = M64.shape
        self.a_in = a if isinstance(a, torch.Tensor) and a.numel() else None
        self.b_in = b if isinstance(b, torch.Tensor) and b.numel() else None
        self.M_in = M
        a64 = _weights(a, n, "a", "rows")
        b64 = _weights(b, m, "b", "columns")
        sa, sb = a64.sum(), b64.sum()
        if abs(sa - sb) > 1e-6 * max(sa, sb):
            raise ValueError(
                f"a, b: total masses differ ({sa:.9g} vs {sb:.9g}); balanced OT needs equal "
                "sums, normalize both (or use unbalanced OT)"
            )
        # within tolerance the difference is rounding; rescale so the L1 target is reachable
        b64 = b64 * (sa / sb)
        self.M_full = M64
        self.rows = np.flatnonzero(a64 > 0)
        self.cols = np.flatnonzero(b64 > 0)
        self.shape = (n, m)
        self.a, self.b = a64[self.rows], b64[self.cols]
        full = self.rows.size == n and self.cols.size == m
        self.M = M64 if full else np.ascontiguousarray(M64[np.ix_(self.rows, self.cols)])

    def expand(
        self, plan: np.ndarray, alpha: np.ndarray, beta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Plan and potentials on all points; zero-mass points get c-transform potentials."""
        n, m = self.shape
        if plan.shape == (n, m):
            return plan, alpha, beta
        full = np.zeros((n, m))
        full[np.ix_(self.rows, self.cols)] = plan
        reg, M = self.reg, self.M_full
        f = np.empty(n)
        g = np.empty(m)
        f[self.rows], g[self.cols] = alpha, beta
        other_rows = np.setdiff1d(np.arange(n), self.rows)
        other_cols = np.setdiff1d(np.arange(m), self.cols)
        # soft c-transforms of the other side's potentials: finite, where log(0) would give -inf
        if other_rows.size:
            z = (beta[None, :] - M[np.ix_(other_rows, self.cols)]) / reg
            f[other_rows] = -reg * _logsumexp(z)
        if other_cols.size:
            z = (alpha[None, :] - M[np.ix_(self.rows, other_cols)].T) / reg
            g[other_cols] = -reg * _logsumexp(z)
        return full, f, g

    def output(self, x: np.ndarray) -> Any:
        if self.is_torch:
            return torch.as_tensor(x, dtype=self.torch_dtype, device=self.device)
        return x.astype(self.dtype, copy=False)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


def _numpy64(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _weights(w: ArrayLike, size: int, name: str, axis: str) -> np.ndarray:
    if isinstance(w, torch.Tensor):
        w64 = w.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            w64 = np.asarray(w, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: expected a 1-D array of weights ({exc})") from None
    if w64.size == 0:
        return np.full(size, 1.0 / size)
    if w64.ndim != 1:
        raise ValueError(
            f"{name}: expected a 1-D array of weights, got shape {w64.shape}; solve one "
            "histogram per call"
        )
    if w64.shape[0] != size:
        raise ValueError(
            f"{name}: has {w64.shape[0]} weights but M has {size} {axis}; they must match"
        )
    if not np.isfinite(w64).all():
        raise ValueError(f"{name}: NaN or infinite weights")
    if (w64 < 0).any():
        raise ValueError(f"{name}: negative weights; weights must be >= 0")
    if w64.sum() <= 0:
        raise ValueError(f"{name}: weights sum to zero; give some point positive mass")
    return w64


def _check_int(x: Any, name: str, low: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {x!r}")
    return int(x)


def _check_threshold(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.number)) or not (
        math.isfinite(float(x)) and float(x) >= 0
    ):
        raise ValueError(f"stopThr: expected a finite number >= 0, got {x!r}")
    return float(x)


def _check_warmup(w: Any) -> int | None:
    if w == "auto":
        return None
    if isinstance(w, str):
        raise ValueError(f"warmup: expected 'auto' or an integer >= 1, got {w!r}")
    return _check_int(w, "warmup", 1)


def _check_sparsity(s: Any) -> float:
    if isinstance(s, bool) or not isinstance(s, (int, float, np.number)) or not (
        0.0 <= float(s) < 1.0
    ):
        raise ValueError(f"sparsity: expected a fraction of mass in [0, 1), got {s!r}")
    return float(s)


# ---------------------------------------------------------------------------- the solver
def _solve(
    a: np.ndarray,
    b: np.ndarray,
    M: np.ndarray,
    reg: float,
    max_iter: int,
    tol: float,
    warmup: int | None,
    sparsity: float,
    verbose: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    start = time.perf_counter()
    clock = lambda: time.perf_counter() - start  # noqa: E731
    kernel = StabilizedKernel(M, reg)
    times: list[float] = []
    budget = max_iter if warmup is None else min(warmup, max_iter)
    errs = kernel.sinkhorn(
        a, b, budget, tol, stop=_switch_rule(kernel, tol, sparsity) if warmup is None else None,
        times=times, clock=clock,
    )
    t_sinkhorn = clock()
    if verbose:
        for k in range(0, len(errs), 100):
            print(f"sinkhorn {k:5d}  err {errs[k]:.3e}")
        then = "converged" if errs[-1] < tol else "-> newton"
        print(f"sinkhorn {len(errs) - 1:5d}  err {errs[-1]:.3e}  {then}")
    n_sinkhorn = len(errs)
    phase = ["sinkhorn"] * n_sinkhorn
    info: dict[str, Any] = {"nnz": [], "cg_iter": [], "step": []}
    if errs[-1] >= tol and n_sinkhorn < max_iter:
        _newton(kernel, a, b, tol, max_iter, sparsity, verbose, errs, times, phase, info, clock)
    alpha, beta = kernel.potentials()
    info.update(
        err=errs, time=times, phase=phase, niter=len(errs), n_sinkhorn=n_sinkhorn,
        n_newton=len(errs) - n_sinkhorn, time_sinkhorn=t_sinkhorn,
        time_newton=clock() - t_sinkhorn, n_absorb=kernel.n_absorb,
    )
    return kernel.plan(), alpha, beta, info


def _switch_rule(kernel: StabilizedKernel, tol: float, sparsity: float) -> Any:
    """Stop the warm-up once Sinkhorn would take longer to reach ``tol`` than Newton.

    Sinkhorn's remaining iterations are predicted from its measured linear rate; Newton's
    cost, in Sinkhorn iterations (two dense products each), from the density ``d`` of the
    plan it would keep: about ``3 + 40 d`` per sparse step (forming and truncating the plan,
    the line search, ~20 CG iterations on ``d n m`` entries), at most ``_DENSE_STEP`` with
    dense products, times ``_NEWTON_STEPS`` steps. The density is probed once, when the
    other conditions first hold.
    """
    newton_cost: list[float] = []

    def stop(errs: list[float]) -> bool:
        k = len(errs)
        if k <= _RATE_WINDOW or errs[-1] > _SWITCH_ERR:
            return False
        rate = (errs[-1] / errs[-1 - _RATE_WINDOW]) ** (1.0 / _RATE_WINDOW)
        if rate >= 1.0:
            return True
        remaining = math.log(tol / errs[-1]) / math.log(rate) if tol > 0 else math.inf
        if remaining <= _SWITCH_ITERS:
            return False
        if not newton_cost:
            W = kernel.scaled_columns()
            thr = W.sum(axis=1) * (sparsity / W.shape[1])
            density = np.count_nonzero(W >= thr[:, None]) / W.size
            newton_cost.append(_NEWTON_STEPS * min(3.0 + 40.0 * density, _DENSE_STEP))
        return remaining > newton_cost[0]

    return stop


def _newton(
    kernel: StabilizedKernel,
    a: np.ndarray,
    b: np.ndarray,
    tol: float,
    max_iter: int,
    sparsity: float,
    verbose: bool,
    errs: list[float],
    times: list[float],
    phase: list[str],
    info: dict[str, Any],
    clock: Any,
) -> None:
    r, c = kernel.marginals()
    err = float(np.abs(r - a).sum() + np.abs(c - b).sum())
    use_lu = dense = False
    while err >= tol and len(errs) < max_iter:
        ga, gb = a - r, b - c
        rtol = min(1e-2, err)
        if dense:
            dx, dy, n_cg = _dense_direction(kernel, r, c, ga, gb, rtol)
            nnz = r.size * c.size
        else:
            S = row_mass_truncate(kernel.scaled_columns(), sparsity, row_sums=r / kernel.u,
                                  row_scale=kernel.u)
            dx, dy, n_cg = _sparse_direction(S, r, c, ga, gb, rtol, use_lu)
            use_lu, nnz = n_cg < 0, S.nnz
            # past this density a dense product beats CSR: keep the exact plan from now on
            dense = S.density > _DENSE_DENSITY and not use_lu
        step, r, c, new_err = _line_search(kernel, a, b, r, c, dx, dy, ga, gb, err)
        if step == 0.0:
            # no ascent along the sparse direction: a denser Hessian and a few Sinkhorn
            # iterations (which always make progress) before trying again
            sparsity *= 1e-2
            more = kernel.sinkhorn(a, b, min(10, max_iter - len(errs)), tol, times=times,
                                   clock=clock)
            errs.extend(more)
            phase.extend(["sinkhorn"] * len(more))
            r, c = kernel.marginals()
            new_err = errs[-1]
        else:
            errs.append(new_err)
            times.append(clock())
            phase.append("newton")
            if step < 1.0:
                sparsity *= 1e-2
        info["nnz"].append(nnz)
        info["cg_iter"].append(n_cg)
        info["step"].append(step)
        if verbose:
            print(f"newton   {len(errs) - 1:5d}  err {new_err:.3e}  step {step:.3g}  "
                  f"nnz {nnz}  cg {n_cg}")
        err = new_err


def _sparse_direction(
    S: SparseTensor, r: np.ndarray, c: np.ndarray, ga: np.ndarray, gb: np.ndarray,
    rtol: float, use_lu: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Solve the sparsified Newton system (2) by its Schur complement in ``dy``.

    Returns ``dx, dy`` and the CG iteration count, negated when the sparse LU was used.
    """
    Ssp = S.to_scipy()
    St = Ssp.T
    inv_r = 1.0 / ((1.0 + _RIDGE) * r)
    c = (1.0 + _RIDGE) * c
    rhs = gb - St @ (ga * inv_r)
    n_cg = 0
    if not use_lu:
        squares = S.apply(torch.square).to_scipy()
        diag = c - squares.T @ inv_r
        dy, n_cg = _projected_pcg(
            lambda p: c * p - St @ (inv_r * (Ssp @ p)), diag, c, rhs, rtol, _CG_MAX_ITER
        )
    if use_lu or n_cg >= _CG_MAX_ITER:
        # A = diag(c) - S^T diag(1/r) S, grounded at the last column (the null direction)
        A = (sp.diags(c) - St @ sp.diags(inv_r) @ Ssp).tocsc()[:-1, :-1]
        dy = np.zeros_like(c)
        dy[:-1] = spla.splu(A, permc_spec="MMD_AT_PLUS_A").solve(rhs[:-1])
        n_cg = -max(n_cg, 1)
    dx = (ga - Ssp @ dy) * inv_r
    return dx, dy, n_cg


def _dense_direction(
    kernel: StabilizedKernel, r: np.ndarray, c: np.ndarray, ga: np.ndarray, gb: np.ndarray,
    rtol: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The exact Newton system (2), products with ``P = diag(u) G diag(v)`` by BLAS."""
    G, u, v = kernel.G, kernel.u, kernel.v
    inv_r = 1.0 / r
    Px = lambda y: u * (G @ (v * y))  # noqa: E731
    Pty = lambda x: v * (G.T @ (u * x))  # noqa: E731
    rhs = gb - Pty(ga * inv_r)
    squares = np.square(G, out=kernel.scaled_columns())
    diag = c - v**2 * (squares.T @ (u**2 * inv_r))
    dy, n_cg = _projected_pcg(
        lambda p: c * p - Pty(inv_r * Px(p)), diag, c, rhs, rtol, _CG_MAX_ITER
    )
    dx = (ga - Px(dy)) * inv_r
    return dx, dy, n_cg


def _projected_pcg(
    A: Any, diag: np.ndarray, c: np.ndarray, rhs: np.ndarray, rtol: float, max_iter: int,
) -> tuple[np.ndarray, int]:
    """Jacobi-preconditioned CG on ``1^perp`` for the Schur complement ``A y = rhs``.

    ``A`` is the product with ``diag(c) - S^T diag(1/r) S``; projecting every residual and
    search direction onto ``1^perp`` removes the (near-)null direction ``1`` of the Schur
    complement, the image of the Hessian's ``(1, -1)``.
    """
    inv_d = 1.0 / np.maximum(diag, 1e-3 * c)
    res = rhs - rhs.mean()
    y = np.zeros_like(c)
    z = res * inv_d
    z -= z.mean()
    p = z
    rz = res @ z
    stop = rtol * math.sqrt(res @ res)
    k = 0
    while k < max_iter:
        k += 1
        Ap = A(p)
        Ap -= Ap.mean()
        alpha = rz / (p @ Ap)
        y += alpha * p
        res -= alpha * Ap
        if math.sqrt(res @ res) <= stop:
            break
        z = res * inv_d
        z -= z.mean()
        rz_new = res @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    return y, k


def _line_search(
    kernel: StabilizedKernel, a: np.ndarray, b: np.ndarray, r: np.ndarray, c: np.ndarray,
    dx: np.ndarray, dy: np.ndarray, ga: np.ndarray, gb: np.ndarray, err: float,
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Backtracking from ``t = 1`` on the dual (1); updates ``kernel`` on success."""
    slope = float(ga @ dx + gb @ dy)
    lin = float(a @ dx + b @ dy)
    mass = float(r.sum())
    u, v, G = kernel.u, kernel.v, kernel.G
    t = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(_MAX_HALVINGS):
            ut = u * np.exp(t * dx)
            vt = v * np.exp(t * dy)
            rt = ut * (G @ vt)
            gain = t * lin - (float(rt.sum()) - mass)
            if np.isfinite(gain):
                armijo = gain >= _ARMIJO * t * slope
                if armijo or gain >= _ARMIJO * t * slope - 1e-13 * mass:
                    ct = vt * (G.T @ ut)
                    new_err = float(np.abs(rt - a).sum() + np.abs(ct - b).sum())
                    if armijo or new_err < err:
                        kernel.u, kernel.v = ut, vt
                        if kernel.absorb():
                            rt, ct = kernel.marginals()
                        return t, rt, ct, new_err
            t *= 0.5
    return 0.0, r, c, err
