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
    H = -\nabla^2\Phi = \begin{pmatrix} \mathrm{diag}(P\mathbf 1) & P \\
                                    P^\top & \mathrm{diag}(P^\top\mathbf 1)\end{pmatrix}.  (2)

SNS (paper, Algorithm 1) runs Sinkhorn for a warm start, then Newton steps
``(x, y) += t H^{-1} \nabla\Phi`` where ``H`` is (2) with ``P`` replaced by a sparsification
``S`` of the current plan, and ``t`` comes from a backtracking line search. This
implementation differs from the paper where measurements said so:

* **Epsilon-scaling** (Schmitzer, SIAM J. Sci. Comput. 41(3), 2019, Sec. 3.2; POT's
  ``sinkhorn_epsilon_scaling``): when ``reg`` is small against the cost range ``C``
  (``C / reg >= _SCALING_RATIO / factor``) the problem is solved for a decreasing schedule
  ``reg_k = C / _SCALING_RATIO * q^k`` down to ``reg`` in equal ratios ``1 / q`` between
  ``1 / factor`` and ``1 / factor^2``, each stage warm-started from the previous potentials
  and finished by Newton steps to a loose tolerance. From a cold start at
  small ``reg`` Sinkhorn needs ``O(C / reg)`` iterations before Newton's local convergence
  sets in; each warm-started stage starts close to its optimum, where Newton converges in a
  few steps.
* **Adaptive sparsity** instead of a fixed number of kept entries: each row of ``P`` keeps the
  entries holding ``1 - sparsity`` of its mass
  (:func:`bayesparse.sparse.truncation.row_mass_truncate`), and ``sparsity`` shrinks
  100-fold after a step the line search had to damp or two full steps in a row that did not
  halve the error (the dropped entries limit how far a step can go). The diagonal of (2)
  always uses the exact marginals. Once more than a quarter of the plan is kept, products
  with the exact plan through BLAS are cheaper than CSR ones, and the steps use the exact
  Hessian.
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
  CG) and otherwise by preconditioned conjugate gradient. The null direction
  ``(1, -1)`` of (2) is removed by grounding ``dy_m = 0`` (LU) or, in CG, by projections
  weighted by the column marginals ``c`` (those of the Jacobi-scaled system: with weights
  spanning many orders of magnitude a plain mean moves the small columns by the rounding of
  the large ones).
* **Safeguards** for points of tiny mass: a trial step whose scalings or marginals underflow
  to zero is shortened (they could not be scaled back).
* **Two-level preconditioner** for CG: Jacobi plus a Galerkin coarse solve on about
  ``m / 32`` aggregates of columns (the Voronoi cells, in cost, of seed rows; aggregation
  multigrid, Vanek, Mandel, Brezina, Computing 56, 1996). The plan of a smooth cost is a
  diffusion kernel and its Schur complement ``diag(c)(I - W)``, ``W`` a two-step diffusion,
  has many small eigenvalues on smooth vectors, on which Jacobi-CG converges slowly; the
  coarse solve removes them (2-D points, ``n = 5000``, ``reg = 2e-3``: 6-9 CG iterations per
  step instead of 16-19). Each CG iteration is one compiled pass over ``S``.
* **Line search** tries ``t = 1`` first (accepted in almost every step) and halves; it accepts
  on the Armijo condition for (1), or — once (1) changes by less than rounding — on a decrease
  of the marginal error.

**Gradients** (``grad="autodiff"``) come from implicit differentiation of the optimality
conditions ``P(x, y, M) 1 = a``, ``P^T 1 = b``: for an upstream gradient ``Gbar`` on the plan,
with ``W = Gbar * P`` and ``(lam, mu) = H^{-1} (W 1, W^T 1)`` (the Hessian (2) at the
solution, solved once, exactly),

.. math::
    \partial_a = \lambda,\quad \partial_b = \mu,\quad
    \partial_M = P \circ (\lambda_i + \mu_j - \bar G_{ij}) / \mathrm{reg},               (3)

up to the null direction ``(1, -1)``, fixed by the mass balance (``b`` is rescaled to the mass
of ``a``). This is the limit of POT's autodiff through Sinkhorn's iterations run to
convergence, at the cost of one linear solve instead of storing every iteration.

The stopping rule is the L1 error on **both** marginals, ``||P1 - a||_1 + ||P^T1 - b||_1 <
stopThr``; POT's ``ot.sinkhorn`` checks only the second marginal, in the L2 norm, every 10
iterations (its first marginal is exact after its last update).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from numba import njit
from ot.backend import get_backend
from ot.utils import list_to_array

from bayesparse.optim.stabilized_sinkhorn import (
    NO_UNDERFLOW,
    StabilizedKernel,
    in_scaling_range,
)
from bayesparse.sparse.tensor import SparseTensor
from bayesparse.sparse.truncation import row_mass_truncate_csr

__all__ = ["SinkhornConvergenceError", "sinkhorn_newton_sparse", "sinkhorn_newton_sparse2"]

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
#: two-level preconditioner (module notes): about this many columns per aggregate, at most
#: ``_COARSE_MAX`` aggregates, none below ``_COARSE_MIN`` (Jacobi alone)
_COARSE_COLUMNS = 32
_COARSE_MAX = 160
_COARSE_MIN = 16
#: kept density above which Newton steps use the exact plan through dense products
_DENSE_DENSITY = 0.25
_ARMIJO = 1e-4
#: relative ridge ``H + ridge * diag(H)``: keeps the sparsified system non-singular when the
#: kept entries split the plan's graph into pieces (the dropped entries connect them)
_RIDGE = 1e-10
_MAX_HALVINGS = 30
#: a full Newton step that leaves more than this fraction of the error counts as slow
_SLOW_RATE = 0.5
#: epsilon-scaling starts at ``reg = C / _SCALING_RATIO`` (cost range ``C``), where the
#: single-stage solver converges in tens of iterations, and is used only below it
_SCALING_RATIO = 500.0
#: default ratio between consecutive regs of the schedule
_SCALING_FACTOR = 0.25
#: L1 error to which the intermediate stages are solved (their potentials only warm-start)
_STAGE_TOL = 1e-4
#: Newton steps in a row without any decrease of the error before a stage is declared stalled
_STALL_STEPS = 20

#: ``method=`` values of ``ot.sinkhorn`` / ``ot.sinkhorn2``: all solve this same problem
_SAME_PROBLEM = ("sinkhorn_newton_sparse", "sns", "sinkhorn", "sinkhorn_log", "greenkhorn",
                 "sinkhorn_stabilized", "sinkhorn_epsilon_scaling")
_GRADS = ("autodiff", "envelope", "detach")
_ENGINES = ("auto", "numba", "torch")
_ON_FAIL = ("raise", "warn", "ignore")


class SinkhornConvergenceError(RuntimeError):
    """The solver stopped before the L1 marginal error fell below ``stopThr``.

    Attributes
    ----------
    plan : array or tensor
        The last iterate's plan (in the caller's backend).
    log : dict
        The diagnostics of :func:`sinkhorn_newton_sparse` (``err``, ``niter``, ...).
    """

    def __init__(self, message: str, plan: Any, log: dict[str, Any]) -> None:
        super().__init__(message)
        self.plan = plan
        self.log = log


def sinkhorn_newton_sparse(
    a: ArrayLike,
    b: ArrayLike,
    M: ArrayLike,
    reg: float,
    method: str = "sinkhorn_newton_sparse",
    numItermax: int = 1000,  # noqa: N803 - POT's name
    stopThr: float = 1e-9,  # noqa: N803 - POT's name
    warmup: int | str = "auto",
    sparsity: float = 1e-3,
    epsilon_scaling: str | float | None = "auto",
    verbose: bool = False,
    log: bool = False,
    on_fail: str = "raise",
    grad: str = "autodiff",
    engine: str = "auto",
) -> Any:
    r"""Entropic OT plan by Sinkhorn warm-up and sparse Newton steps (SNS).

    Solves

    .. math::
        \min_{P \ge 0} \langle P, M\rangle - \mathrm{reg}\, H(P)
        \quad\text{s.t.}\quad P\mathbf 1 = a,\ P^\top \mathbf 1 = b,

    with ``H(P) = -sum P_ij (log P_ij - 1)``, the problem of ``ot.sinkhorn``, to an L1
    marginal error below ``stopThr`` for any ``reg`` (small ones by epsilon-scaling).

    Parameters
    ----------
    a : array or tensor, shape ``n``
        Source weights (non-negative, finite). Empty (``[]``) means uniform ``1/n``.
    b : array or tensor, shape ``m`` or ``m x k``
        Target weights, same total mass as ``a``. Empty means uniform ``1/m``. A 2-D ``b``
        holds ``k`` histograms: as in ``ot.sinkhorn``, the ``k`` losses ``<P_k, M>`` are then
        returned instead of a plan (each problem is solved in turn).
    M : array or tensor, shape ``n x m``
        Cost matrix (finite). ``a``, ``b`` and ``M`` come from one backend (numpy or torch;
        lists are converted by POT's ``list_to_array``).
    reg : float
        Entropic regularization, ``> 0``.
    method : str, default "sinkhorn_newton_sparse"
        Accepted for compatibility with ``ot.sinkhorn``: any of POT's Sinkhorn methods
        (``"sinkhorn"``, ``"sinkhorn_log"``, ``"greenkhorn"``, ``"sinkhorn_stabilized"``,
        ``"sinkhorn_epsilon_scaling"``) solves the same problem and is ignored; other values
        raise ``ValueError``.
    numItermax : int, default 1000
        Cap on all iterations together (Sinkhorn and Newton, all epsilon-scaling stages).
    stopThr : float, default 1e-9
        Stop when ``||P1 - a||_1 + ||P^T 1 - b||_1 < stopThr`` (``0``: run ``numItermax``
        iterations, never a failure).
    warmup : "auto" or int, default "auto"
        ``"auto"`` switches to Newton on the measured Sinkhorn rate (see module notes); an
        integer runs exactly that many Sinkhorn iterations first (the paper's ``N1``), in the
        first stage.
    sparsity : float, default 1e-3
        Fraction of each row's mass of the plan that the sparsified Hessian may drop, in
        ``[0, 1)``. Shrinks 100-fold after a damped or slow step (module notes).
    epsilon_scaling : "auto", float in (0, 1) or None, default "auto"
        ``"auto"``: when ``reg <= C / 2000`` (``C`` the range of ``M``), solve for a
        schedule from ``C / 500`` down to ``reg`` first, in equal ratios between 4 and 16,
        warm-starting each stage; a float ``f`` sets the smallest ratio ``1 / f`` (stages
        when ``reg <= f C / 500``); ``None`` solves at ``reg`` directly.
    verbose : bool, default False
        Print one line per Newton step and every 100 Sinkhorn iterations.
    log : bool, default False
        Also return a dict of diagnostics (see Returns).
    on_fail : {"raise", "warn", "ignore"}, default "raise"
        What to do when ``stopThr`` is not reached (``numItermax`` exhausted or no progress):
        raise :class:`SinkhornConvergenceError` (carrying the last plan and log), warn
        (``UserWarning``, POT's behaviour) and return the last iterate, or return it silently.
    grad : {"autodiff", "envelope", "detach"}, default "autodiff"
        With torch inputs: ``"autodiff"`` makes the plan differentiable w.r.t. ``a``, ``b``
        and ``M`` by implicit differentiation of the optimality conditions (module notes,
        Eq. 3) — the gradient POT's autodiff through Sinkhorn gives at convergence;
        ``"envelope"`` and ``"detach"`` return a detached plan (as ``ot.solve``).
    engine : {"auto", "numba", "torch"}, default "auto"
        Where the solver runs. ``"numba"``: compiled CPU kernels on float64 numpy copies
        (fastest on a CPU). ``"torch"``: torch dense and ``torch.sparse`` ops in float64 on
        the device of the torch inputs, gradients included, so CUDA tensors never leave
        their GPU. ``"auto"``: ``"torch"`` for tensors on a non-CPU device, else
        ``"numba"``.

    Returns
    -------
    P : array or tensor, shape ``n x m`` (losses, shape ``k``, for a 2-D ``b``)
        Transport plan, in the backend, dtype and device of ``M``.
    log : dict, only if ``log=True``
        ``u``, ``v``: scalings with ``P = diag(u) exp(-M/reg) diag(v)`` (POT's ``sinkhorn``
        names; they over/underflow where ``M/reg`` is large, use the logs);
        ``log_u``, ``log_v``: their logarithms (POT's ``sinkhorn_log`` names);
        ``alpha``, ``beta``: dual potentials ``reg * log_u``, ``reg * log_v``;
        ``err``: L1 marginal error on both marginals after each iteration; ``niter``: their
        number; ``time``: wall seconds at each; ``phase``: ``"sinkhorn"`` or ``"newton"``;
        ``stage``: epsilon-scaling stage of each; ``regs``: the schedule; ``n_sinkhorn``,
        ``n_newton``: iteration counts; ``time_sinkhorn``, ``time_newton``: seconds per
        phase; ``nnz``, ``cg_iter``, ``step``: per Newton step, the kept entries of the
        Hessian, the CG iterations (negative: a direct solve — sparse LU, or dense
        Cholesky in the torch engine — solved that step, after that many) and the step
        length; ``engine``: ``"numba"`` or ``"torch"``. For a 2-D ``b``: ``u``, ``v``,
        ``log_u``, ``log_v``, ``alpha``, ``beta`` stacked as columns, the other entries
        lists, one per histogram.

    Raises
    ------
    SinkhornConvergenceError
        ``stopThr`` not reached and ``on_fail="raise"``.
    ValueError
        Negative or non-finite weights, weight sums differing by more than ``1e-6`` relative
        (within it, ``b`` is rescaled to the mass of ``a``), ``M`` of the wrong shape or not
        finite, ``reg <= 0`` (POT only warns), a ``method`` for another problem, bad
        ``numItermax``, ``stopThr``, ``warmup``, ``sparsity``, ``epsilon_scaling``,
        ``on_fail``, ``grad`` or ``engine`` (``"torch"`` needs torch inputs).
    TypeError
        Inputs from different backends (e.g. a torch ``a`` with a numpy ``M``) or devices,
        or not numpy/torch, or not real-valued.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.optim import sinkhorn_newton_sparse
    >>> rng = np.random.default_rng(0)
    >>> M = rng.random((50, 40))
    >>> P, log = sinkhorn_newton_sparse([], [], M, reg=1e-4, log=True)
    >>> P.shape, bool(log["err"][-1] < 1e-9), len(log["regs"])
    ((50, 40), True, 3)
    >>> float(np.abs(P.sum(1) - 1 / 50).sum() + np.abs(P.sum(0) - 1 / 40).sum()) < 1e-9
    True

    References
    ----------
    X. Tang et al., Accelerating Sinkhorn algorithm with sparse Newton iterations, ICLR 2024.
    B. Schmitzer, Stabilized sparse scaling algorithms for entropy regularized transport
    problems, SIAM J. Sci. Comput. 41(3), 2019.
    """
    problem = _Problem(a, b, M, reg, method, engine)
    opts = _Options.check(numItermax, stopThr, warmup, sparsity, epsilon_scaling, verbose,
                          on_fail, grad)
    if problem.n_hists:
        return _multi_histogram(problem, opts, log)
    return _plan(problem, opts, log)


def sinkhorn_newton_sparse2(
    a: ArrayLike,
    b: ArrayLike,
    M: ArrayLike,
    reg: float,
    method: str = "sinkhorn_newton_sparse",
    numItermax: int = 1000,  # noqa: N803 - POT's name
    stopThr: float = 1e-9,  # noqa: N803 - POT's name
    warmup: int | str = "auto",
    sparsity: float = 1e-3,
    epsilon_scaling: str | float | None = "auto",
    verbose: bool = False,
    log: bool = False,
    on_fail: str = "raise",
    grad: str = "autodiff",
    engine: str = "auto",
) -> Any:
    r"""Entropic OT loss ``<P, M>`` by SNS, like ``ot.sinkhorn2``; differentiable for torch.

    The parameters are those of :func:`sinkhorn_newton_sparse` plus ``grad``. The value is
    the linear cost ``<P, M>`` of the entropic plan (``ot.sinkhorn2``'s value). With torch
    inputs, ``grad`` chooses its gradient as ``ot.solve(..., grad=...)`` does:

    * ``"autodiff"`` (default): the exact gradient of ``<P(a, b, M), M>``, by implicit
      differentiation of the plan (module notes, Eq. 3) — what ``ot.sinkhorn2`` gives by
      backpropagating through Sinkhorn's iterations once they have converged. One extra
      linear solve with the Hessian (2) per backward pass.
    * ``"envelope"``: the gradient of the *regularized* value ``<P, M> - reg H(P)`` by the
      envelope theorem, ``d/dM = P``, ``d/da = alpha - mean(alpha)``,
      ``d/db = beta - mean(beta)``: free, but it differs from the gradient of ``<P, M>`` by
      ``O(reg)`` (0.9-7% in our tests at reg 0.2).
    * ``"detach"``: no gradient.

    Parameters
    ----------
    a : array or tensor, shape ``n``
        Source weights (non-negative). Empty (``[]``) means uniform ``1/n``.
    b : array or tensor, shape ``m`` or ``m x k``
        Target weights, same total mass as ``a``. Empty means uniform ``1/m``. A 2-D ``b``
        holds ``k`` histograms, giving ``k`` losses.
    M : array or tensor, shape ``n x m``
        Cost matrix (finite), same backend as ``a`` and ``b`` (numpy or torch).
    reg : float
        Entropic regularization, ``> 0``.
    method : str, default "sinkhorn_newton_sparse"
        For compatibility with ``ot.sinkhorn2``: POT's Sinkhorn method names are accepted and
        ignored; other values raise ``ValueError``.
    numItermax : int, default 1000
        Cap on all iterations together (Sinkhorn and Newton, all epsilon-scaling stages).
    stopThr : float, default 1e-9
        Stop when ``||P1 - a||_1 + ||P^T 1 - b||_1 < stopThr``.
    warmup : "auto" or int, default "auto"
        ``"auto"`` switches to Newton on the measured Sinkhorn rate; an integer runs exactly
        that many Sinkhorn iterations first.
    sparsity : float, default 1e-3
        Fraction of each row's plan mass the sparsified Hessian may drop, in ``[0, 1)``.
    epsilon_scaling : "auto", float in (0, 1) or None, default "auto"
        Solve a decreasing schedule of ``reg`` first (``"auto"``: when ``reg <= range(M) /
        2000``, ratios 4 to 16); a float ``f`` sets the smallest ratio ``1 / f``; ``None``
        solves at ``reg`` directly.
    verbose : bool, default False
        Print progress.
    log : bool, default False
        Also return a dict of diagnostics.
    on_fail : {"raise", "warn", "ignore"}, default "raise"
        What to do when ``stopThr`` is not reached, as in :func:`sinkhorn_newton_sparse`.
    grad : {"autodiff", "envelope", "detach"}, default "autodiff"
        Gradient of the torch loss (above).
    engine : {"auto", "numba", "torch"}, default "auto"
        Where the solver runs, as in :func:`sinkhorn_newton_sparse` (``"auto"``: on the
        tensors' device when it is not the CPU).

    Returns
    -------
    loss : numpy scalar or 0-d tensor (shape ``k`` for a 2-D ``b``)
        ``<P, M>`` in ``M``'s backend and dtype.
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
    >>> bool(M.grad.abs().sum() > 0)
    True

    References
    ----------
    X. Tang et al., Accelerating Sinkhorn algorithm with sparse Newton iterations, ICLR 2024.
    """
    problem = _Problem(a, b, M, reg, method, engine)
    opts = _Options.check(numItermax, stopThr, warmup, sparsity, epsilon_scaling, verbose,
                          on_fail, grad)
    if problem.n_hists:
        return _multi_histogram(problem, opts, log)
    return _loss(problem, opts, log)


# ---------------------------------------------------------------------------- orchestration
@dataclass(frozen=True)
class _Options:
    max_iter: int
    tol: float
    warmup: int | None
    sparsity: float
    scaling: float | None
    verbose: bool
    on_fail: str
    grad: str

    @classmethod
    def check(cls, numItermax: Any, stopThr: Any, warmup: Any, sparsity: Any,  # noqa: N803
              scaling: Any, verbose: bool, on_fail: Any, grad: Any) -> _Options:
        if on_fail not in _ON_FAIL:
            raise ValueError(f"on_fail: expected one of {_ON_FAIL}, got {on_fail!r}")
        if grad not in _GRADS:
            raise ValueError(f"grad: expected one of {_GRADS}, got {grad!r}")
        return cls(_check_int(numItermax, "numItermax", 1), _check_threshold(stopThr),
                   _check_warmup(warmup), _check_sparsity(sparsity), _check_scaling(scaling),
                   bool(verbose), on_fail, grad)


def _plan(problem: _Problem, opts: _Options, log: bool) -> Any:
    plan, alpha, beta, info = _solve(problem, opts)
    out = problem.output(plan)
    if problem.is_torch and opts.grad == "autodiff" and problem.needs_grad:
        out = _ImplicitPlan.apply(problem.a_in, problem.b_in, problem.M_in, out, plan,
                                  problem.b_full, problem.reg)
    if not log:
        return out
    return out, _log_dict(problem, info, alpha, beta)


def _loss(problem: _Problem, opts: _Options, log: bool, start: _Warm | None = None) -> Any:
    plan, alpha, beta, info = _solve(problem, opts, start)
    value = float((plan * problem.M_full).sum())
    if not (problem.is_torch and problem.needs_grad and opts.grad != "detach"):
        loss = problem.output(np.asarray(value))
        loss = loss if problem.is_torch else loss[()]
        P = problem.output(plan)
    elif opts.grad == "autodiff":
        loss = _ImplicitLoss.apply(value, problem.a_in, problem.b_in, problem.M_in, plan,
                                   problem.M_full, problem.b_full, problem.reg)
        P = _ImplicitPlan.apply(problem.a_in, problem.b_in, problem.M_in,
                                problem.output(plan), plan, problem.b_full,
                                problem.reg) if log else None
    else:
        grads = (alpha - alpha.mean(), beta - beta.mean(), plan)
        loss = _EnvelopeLoss.apply(value, problem.a_in, problem.b_in, problem.M_in, *grads)
        P = problem.output(plan)
    if not log:
        return loss
    info = _log_dict(problem, info, alpha, beta)
    info["plan"] = P
    return loss, info


def _multi_histogram(problem: _Problem, opts: _Options, log: bool) -> Any:
    """POT's 2-D ``b``: one loss per histogram.

    Where one kernel serves every histogram (a single stage whose kernel cannot underflow),
    Sinkhorn runs on all of them at once (:func:`_batched_sinkhorn`, matrix-matrix
    products); the histograms it solves are done, the others continue one by one from its
    scalings (their plans, hence their sparse Newton systems, differ).
    """
    batch = _batched_sinkhorn(problem, opts)
    losses, logs = [], []
    for k in range(problem.n_hists):
        warm = None if batch is None else batch[k]
        if isinstance(warm, tuple):  # solved by the batched iterations
            loss, info = warm
        else:
            loss, info = _loss(problem.histogram(k), opts, True, warm)
            info["batched"] = len(warm.err) if warm is not None else 0
        losses.append(loss)
        logs.append(info)
    out = torch.stack(losses) if problem.is_torch else np.stack(losses)
    if not log:
        return out
    stacked = ("u", "v", "log_u", "log_v", "alpha", "beta")
    merged: dict[str, Any] = {
        key: (torch.stack if problem.is_torch else np.stack)([d[key] for d in logs], 1)
        for key in stacked
    }
    for key in logs[0]:
        if key not in stacked and key != "plan":
            merged[key] = [d[key] for d in logs]
    return out, merged


@dataclass
class _Warm:
    """Scalings ``u, v`` (of the no-underflow kernel ``exp((min M - M) / reg)``) to start
    a single-stage solve from, with the Sinkhorn errors and times that led there."""

    u: Any
    v: Any
    err: list[float]
    time: list[float]


def _batched_sinkhorn(problem: _Problem, opts: _Options) -> list[Any] | None:
    """Sinkhorn on all ``k`` histograms of a 2-D ``b`` at once, as POT's ``sinkhorn`` does:
    ``U = a / (G V)``, ``V = B / (G^T U)`` with one shared kernel ``G``, two matrix-matrix
    products per iteration for all histograms.

    Only where the shared kernel stays valid: a single stage (no epsilon-scaling), a kernel
    that cannot underflow (``(max M - min M) / reg <= 600``) and scalings that stay in range
    (no absorption, which would make the kernels differ). A histogram leaves the batch when
    it reaches ``stopThr`` — then, if its weights are positive and it needs no gradient, its
    loss and log come straight from ``U``, ``V`` (a ``(loss, log)`` pair) — or when its
    measured rate says Newton steps would finish it sooner (a :class:`_Warm` start for its
    own solve). Returns one entry per histogram, or ``None`` where batching does not apply.
    """
    lo, hi = problem.bounds
    reg = problem.reg
    if (opts.warmup is not None or len(_schedule(hi - lo, reg, opts.scaling)) > 1
            or (hi - lo) / reg > NO_UNDERFLOW):
        return None
    xp, M, a = _xp(problem.M_full), problem.M_full, problem.a_full
    start = time.perf_counter()
    G = StabilizedKernel(M, reg, problem.bounds).G
    B = problem.b_all * (a.sum() / problem.b_all.sum(axis=0))[None, :]
    out: list[Any] = [None] * B.shape[1]
    errs: list[list[float]] = [[] for _ in out]
    times: list[list[float]] = [[] for _ in out]
    active = list(range(B.shape[1]))
    positive = (a > 0)[:, None]
    Bk, U = B, xp.ones_like(a[:, None] * B[:1])
    cache: dict[str, Any] = {}
    V = Bk / (G.T @ U)
    for it in range(opts.max_iter):
        KV = G @ V
        E = abs(U * KV - a[:, None]).sum(axis=0)
        now = time.perf_counter() - start
        leave = []
        for col, (k, e) in enumerate(zip(active, E.tolist())):
            errs[k].append(e)
            times[k].append(now)
            if e < opts.tol or not math.isfinite(e) or it == opts.max_iter - 1 or (
                    _newton_sooner(errs[k], opts.tol)):
                out[k] = _batch_exit(problem, opts, k, U[:, col], V[:, col], G, errs[k],
                                     times[k], cache)
                leave.append(col)
        if leave:
            keep = [c for c in range(len(active)) if c not in leave]
            active = [active[c] for c in keep]
            if not active:
                return out
            U, V, KV, Bk = U[:, keep], V[:, keep], KV[:, keep], Bk[:, keep]
        U = a[:, None] / KV
        V = Bk / (G.T @ U)
        if not in_scaling_range(xp.where(positive, U, 1.0), xp.where(Bk > 0, V, 1.0)):
            break  # the kernel would need absorbing: each histogram on its own from here
    for col, k in enumerate(active):
        out[k] = _Warm(U[:, col], V[:, col], errs[k], times[k])
    return out


def _newton_sooner(errs: list[float], tol: float) -> bool:
    """The warm-up's switch rule without the density probe: below ``_SWITCH_ERR`` and with
    more than twice ``_SWITCH_ITERS`` Sinkhorn iterations predicted by the measured rate."""
    outlook = _sinkhorn_outlook(errs, tol)
    return tol > 0 and outlook is not None and (
        outlook[0] >= 1.0 or outlook[1] > 2 * _SWITCH_ITERS)


def _sinkhorn_outlook(errs: list[float], tol: float) -> tuple[float, float] | None:
    """Sinkhorn's linear rate over the last ``_RATE_WINDOW`` iterations and the iterations
    it predicts to ``tol`` (``inf`` for ``tol = 0`` or a rate >= 1); ``None`` before the
    window is full or while the error is above ``_SWITCH_ERR``."""
    if len(errs) <= _RATE_WINDOW or errs[-1] > _SWITCH_ERR:
        return None
    rate = (errs[-1] / errs[-1 - _RATE_WINDOW]) ** (1.0 / _RATE_WINDOW)
    if rate >= 1.0 or tol <= 0:
        return rate, math.inf
    return rate, math.log(tol / errs[-1]) / math.log(rate)


def _batch_exit(problem: _Problem, opts: _Options, k: int, u: Any, v: Any, G: Any,
                errs: list[float], times: list[float], cache: dict[str, Any]) -> Any:
    """A histogram leaving the batched iterations: ``(loss, log)`` when it is solved, has
    positive weights and needs no gradient, else a :class:`_Warm` start (``cache`` keeps
    ``G * M``, formed once for all histograms)."""
    sub = problem.histogram(k)
    solved = errs[-1] < opts.tol and len(sub.rows) == len(u) and len(sub.cols) == len(v)
    if not solved or (problem.is_torch and problem.needs_grad and opts.grad != "detach"):
        return _Warm(u[sub.rows], v[sub.cols], errs, times)
    xp = _xp(u)
    # the no-underflow kernel is exp((min M - M) / reg): f = min M, g = 0
    alpha = problem.bounds[0] + problem.reg * xp.log(u)
    beta = problem.reg * xp.log(v)
    if "GM" not in cache:
        cache["GM"] = G * problem.M_full
    value = float(u @ (cache["GM"] @ v))
    loss = sub.output(np.asarray(value))
    n = len(errs)
    info = {"err": errs, "time": times, "phase": ["sinkhorn"] * n, "stage": [0] * n,
            "regs": [problem.reg], "niter": n, "n_sinkhorn": n, "n_newton": 0,
            "time_sinkhorn": times[-1], "time_newton": 0.0, "nnz": [], "cg_iter": [],
            "step": [], "n_absorb": 0, "engine": problem.engine, "batched": n}
    return (loss if problem.is_torch else loss[()]), _log_dict(sub, info, alpha, beta)


def _log_dict(problem: _Problem, info: dict[str, Any], alpha: np.ndarray,
              beta: np.ndarray) -> dict[str, Any]:
    log_u, log_v = alpha / problem.reg, beta / problem.reg
    with _quiet(log_u):
        u, v = _xp(log_u).exp(log_u), _xp(log_v).exp(log_v)
    return {**info, "u": problem.output(u), "v": problem.output(v),
            "log_u": problem.output(log_u), "log_v": problem.output(log_v),
            "alpha": problem.output(alpha), "beta": problem.output(beta)}


def _solve(problem: _Problem, opts: _Options,
           start: _Warm | None = None) -> tuple[np.ndarray, ...]:
    """Solve (from ``start`` if given), then act on failure as ``opts.on_fail`` says; plan
    and potentials on all points (zero-mass ones included)."""
    result = _Solver(problem.a, problem.b, problem.M, problem.reg, problem.bounds, opts,
                     problem.engine, start).run()
    plan, alpha, beta = problem.expand(result.plan, result.alpha, result.beta)
    info = {**result.info, "engine": problem.engine}
    err = info["err"][-1] if info["err"] else math.inf
    if opts.tol > 0 and not err < opts.tol and opts.on_fail != "ignore":
        reason = ("numItermax reached" if info["niter"] >= opts.max_iter
                  else "no progress (stalled Newton steps or non-finite values)")
        msg = (f"Sinkhorn-Newton-Sparse did not converge: L1 marginal error {err:.3g} >= "
               f"stopThr={opts.tol:g} after {info['niter']} iterations ({reason}; "
               f"numItermax={opts.max_iter}, reg={problem.reg:g}). Increase numItermax or "
               "reg, or pass on_fail='warn' to get the last iterate.")
        if opts.on_fail == "raise":
            raise SinkhornConvergenceError(
                msg, problem.output(plan), _log_dict(problem, info, alpha, beta)
            )
        warnings.warn(msg, UserWarning, stacklevel=4)
    return plan, alpha, beta, info


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


class _ImplicitPlan(torch.autograd.Function):
    """The converged plan, differentiable w.r.t. ``(a, b, M)`` by implicit differentiation
    of ``P 1 = a``, ``P^T 1 = b`` (module notes, Eq. 3)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, a: torch.Tensor | None, b: torch.Tensor | None, M: torch.Tensor,
        out: torch.Tensor, plan: np.ndarray, b_full: np.ndarray, reg: float,
    ) -> torch.Tensor:
        ctx.plan, ctx.b_full, ctx.reg = plan, b_full, reg
        ctx.given = (a is not None, b is not None)
        return out.detach().clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        P = ctx.plan
        G = grad.detach().to(torch.float64)
        G = G if isinstance(P, torch.Tensor) else G.cpu().numpy()
        lam, mu = _implicit_vjp(P, G, ctx.b_full)
        as_t = lambda x: torch.as_tensor(x, dtype=grad.dtype, device=grad.device)  # noqa: E731
        gM = P * (lam[:, None] + mu[None, :] - G) / ctx.reg
        ga = as_t(lam) if ctx.given[0] else None
        gb = as_t(mu) if ctx.given[1] else None
        return ga, gb, as_t(gM), None, None, None, None


class _ImplicitLoss(torch.autograd.Function):
    """``<P, M>`` at the converged plan, its gradient by Eq. (3) with ``Gbar = M`` plus the
    explicit ``P``: ``d/dM = P + P * (lam_i + mu_j - M_ij) / reg``, ``d/da = lam``,
    ``d/db = mu`` (one linear solve, no plan tensor in the autograd graph)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, value: float, a: torch.Tensor | None, b: torch.Tensor | None,
        M: torch.Tensor, plan: np.ndarray, M64: np.ndarray, b_full: np.ndarray, reg: float,
    ) -> torch.Tensor:
        ctx.plan, ctx.M64, ctx.b_full, ctx.reg = plan, M64, b_full, reg
        ctx.given = (a is not None, b is not None)
        return torch.tensor(value, dtype=M.dtype, device=M.device)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        P, M = ctx.plan, ctx.M64
        lam, mu = _implicit_vjp(P, M, ctx.b_full)
        scale = float(grad)
        gM = lam[:, None] + mu[None, :]
        gM -= M
        gM *= scale / ctx.reg
        gM += scale
        gM *= P
        as_t = lambda x: torch.as_tensor(x, dtype=grad.dtype, device=grad.device)  # noqa: E731
        ga = as_t(scale * lam) if ctx.given[0] else None
        gb = as_t(scale * mu) if ctx.given[1] else None
        return None, ga, gb, as_t(gM), None, None, None, None


def _implicit_vjp(
    P: np.ndarray, G: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(lam, mu) = H^{-1} (W 1, W^T 1)`` with ``W = G * P`` and ``H`` the Hessian (2) of
    the converged plan; the null direction ``(1, -1)`` fixed so that the gradients are those
    of the mass-balanced problem (``b`` rescaled to the mass of ``a``)."""
    xp = _xp(P)
    W = G * P
    r_all, c_all = P.sum(1), P.sum(0)
    rows, cols = _flatnonzero(r_all > 0), _flatnonzero(c_all > 0)
    full = len(rows) == P.shape[0] and len(cols) == P.shape[1]
    Pk = P if full else P[rows[:, None], cols[None, :]]
    r, c = r_all[rows], c_all[cols]
    ga, gb = W.sum(1)[rows], W.sum(0)[cols]
    dx, dy, n_cg = _dense_direction(Pk, xp.ones_like(r), xp.ones_like(c), r, c, ga, gb, 1e-11)
    if n_cg >= _CG_MAX_ITER:  # ill-conditioned (near-assignment plans): a direct solve
        engine = _engine(xp is torch)
        S = engine.truncate(Pk, 0.0, row_sums=r)
        dx, dy, _ = engine.sparse_direction(S, r, c, ga, gb, 0.0, True)
    lam, mu = xp.zeros_like(r_all), xp.zeros_like(c_all)
    lam[rows], mu[cols] = dx, dy
    # b follows a's mass: d/da gains (mu . b) / sum(b), d/db loses it (null shift removed)
    shift = float(mu @ b) / float(b.sum())
    return lam + shift, mu - shift


# ---------------------------------------------------------------------------- input handling
class _Problem:
    """Validated float64 copy of ``(a, b, M, reg)``; zero-mass points set aside.

    The caller's arrays pass through POT's ``list_to_array`` and ``get_backend`` (one
    backend, and for torch one device, for all). The copy is numpy for the numba engine and
    a tensor on the inputs' device for the torch engine; results go back in ``M``'s backend,
    dtype and device.
    """

    def __init__(self, a: Any, b: Any, M: Any, reg: float, method: Any = None,
                 engine: Any = "auto") -> None:
        if method is not None and (not isinstance(method, str)
                                   or method.lower() not in _SAME_PROBLEM):
            raise ValueError(
                f"method: {method!r} is not an entropic OT solver; accepted (all solve the "
                f"same problem here): {', '.join(_SAME_PROBLEM)}. For exact OT use ot.emd, "
                "for unbalanced OT ot.unbalanced"
            )
        if engine not in _ENGINES:
            raise ValueError(f"engine: expected one of {_ENGINES}, got {engine!r}")
        try:
            a, b, M = list_to_array(a, b, M)
            given = [x if _size(x) else None for x in (a, b)]
            self.nx = get_backend(M, *given)
        except ValueError:
            kinds = ", ".join(f"{name}: {type(x).__name__}" for name, x in
                              (("a", a), ("b", b), ("M", M)) if x is not None)
            raise TypeError(
                f"a, b, M: expected arrays from one backend (all numpy or all torch), got "
                f"{kinds}; convert them to one backend"
            ) from None
        if self.nx.__name__ not in ("numpy", "torch"):
            raise TypeError(f"M: backend {self.nx.__name__} is not supported; use numpy or torch")
        self.is_torch = self.nx.__name__ == "torch"
        if self.is_torch:
            if not M.dtype.is_floating_point:
                raise TypeError(f"M: expected a floating tensor, got {M.dtype}")
            for name, x in (("a", given[0]), ("b", given[1])):
                if x is not None and x.device != M.device:
                    raise TypeError(f"{name}: on device {x.device} but M on {M.device}; "
                                    "move them to one device")
        elif M.dtype.kind not in "fiu":
            raise TypeError(f"M: expected a real numeric array, got dtype {M.dtype}")
        if engine == "torch" and not self.is_torch:
            raise ValueError("engine: 'torch' needs torch inputs; pass tensors (on the device "
                             "to solve on) or use engine='numba'")
        self.engine = engine if engine != "auto" else (
            "torch" if self.is_torch and M.device.type != "cpu" else "numba"
        )
        self.M_in = M
        M64 = M.detach().to(torch.float64) if self.engine == "torch" else _numpy64(M)
        if M64.ndim != 2 or min(M64.shape) == 0:
            raise ValueError(
                f"M: expected a non-empty 2-D cost matrix, got shape {tuple(M64.shape)}"
            )
        # min and max propagate NaN: one check of both for non-finite costs
        self.bounds = (float(M64.min()), float(M64.max()))
        if not all(map(math.isfinite, self.bounds)):
            raise ValueError("M: NaN or infinite costs; replace them by large finite values")
        if isinstance(reg, bool) or not isinstance(reg, (int, float, np.number)) or not (
            math.isfinite(float(reg)) and float(reg) > 0
        ):
            raise ValueError(f"reg: expected a finite number > 0, got {reg!r}")
        self.reg = float(reg)
        n, m = M64.shape
        self.a_in, self.b_in = given
        self.M_full = M64
        self.shape = (n, m)
        a64 = _weights(a, n, "a", "rows", M64)
        b64 = _weights(b, m, "b", "columns", M64, allow_2d=True)
        self.n_hists = b64.shape[1] if b64.ndim == 2 else 0
        if self.n_hists:
            self.a_full, self.b_all = a64, b64
            return
        self._set_weights(a64, b64)

    def _set_weights(self, a64: Any, b64: Any) -> None:
        sa, sb = float(a64.sum()), float(b64.sum())
        if abs(sa - sb) > 1e-6 * max(sa, sb):
            raise ValueError(
                f"a, b: total masses differ ({sa:.9g} vs {sb:.9g}); balanced OT needs equal "
                "sums, normalize both (or use unbalanced OT)"
            )
        # within tolerance the difference is rounding; rescale so the L1 target is reachable
        b64 = b64 * (sa / sb)
        n, m = self.shape
        self.a_full, self.b_full = a64, b64
        self.rows = _flatnonzero(a64 > 0)
        self.cols = _flatnonzero(b64 > 0)
        self.a, self.b = a64[self.rows], b64[self.cols]
        full = len(self.rows) == n and len(self.cols) == m
        # advanced indexing: a new C-ordered array (numpy) or contiguous tensor
        self.M = self.M_full if full else self.M_full[self.rows[:, None], self.cols[None, :]]

    @property
    def needs_grad(self) -> bool:
        return any(isinstance(t, torch.Tensor) and t.requires_grad
                   for t in (self.a_in, self.b_in, self.M_in))

    def histogram(self, k: int) -> _Problem:
        """The problem with the ``k``-th column of a 2-D ``b``."""
        out = object.__new__(_Problem)
        out.__dict__.update(self.__dict__)
        out.n_hists = 0
        out.b_in = None if self.b_in is None else self.b_in[:, k]
        out._set_weights(self.a_full, self.b_all[:, k])
        return out

    def expand(self, plan: Any, alpha: Any, beta: Any) -> tuple[Any, Any, Any]:
        """Plan and potentials on all points; zero-mass points get c-transform potentials."""
        n, m = self.shape
        if plan.shape == (n, m):
            return plan, alpha, beta
        xp = _xp(plan)
        rows, cols = self.rows, self.cols
        full = xp.zeros_like(self.M_full)
        full[rows[:, None], cols[None, :]] = plan
        reg, M = self.reg, self.M_full
        f, g = xp.zeros_like(self.a_full), xp.zeros_like(self.b_full)
        f[rows], g[cols] = alpha, beta
        other_rows = _flatnonzero(self.a_full <= 0)
        other_cols = _flatnonzero(self.b_full <= 0)
        # soft c-transforms of the other side's potentials: finite, where log(0) would give -inf
        if len(other_rows):
            z = (beta[None, :] - M[other_rows[:, None], cols[None, :]]) / reg
            f[other_rows] = -reg * _logsumexp(z)
        if len(other_cols):
            z = (alpha[None, :] - M[rows[:, None], other_cols[None, :]].T) / reg
            g[other_cols] = -reg * _logsumexp(z)
        return full, f, g

    def output(self, x: Any) -> Any:
        """``x`` in ``M``'s backend, dtype (float64 for integer costs) and device."""
        if self.is_torch:
            return torch.as_tensor(x, dtype=self.M_in.dtype, device=self.M_in.device)
        dtype = self.M_in.dtype if self.M_in.dtype.kind == "f" else np.float64
        return np.asarray(x).astype(dtype, copy=False)


def _size(x: Any) -> int:
    return 0 if x is None else int(np.prod(x.shape)) if hasattr(x, "shape") else len(x)


def _xp(x: Any) -> Any:
    """The array library of ``x``: ``torch`` for tensors, else ``numpy``."""
    return torch if isinstance(x, torch.Tensor) else np


def _quiet(x: Any) -> Any:
    """numpy's over/underflow warnings silenced (torch has none)."""
    if isinstance(x, torch.Tensor):
        return contextlib.nullcontext()
    return np.errstate(over="ignore", under="ignore", invalid="ignore")


def _flatnonzero(mask: Any) -> Any:
    return mask.nonzero().flatten() if isinstance(mask, torch.Tensor) else np.flatnonzero(mask)


def _logsumexp(z: Any) -> Any:
    if isinstance(z, torch.Tensor):
        return torch.logsumexp(z, 1)
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


def _numpy64(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _weights(w: Any, size: int, name: str, axis: str, like: Any,
             allow_2d: bool = False) -> Any:
    """Validated float64 weights in the backend (and device) of ``like``."""
    if _size(w) == 0:
        return (like.new_full((size,), 1.0 / size) if isinstance(like, torch.Tensor)
                else np.full(size, 1.0 / size))
    try:
        w64 = w.detach().to(torch.float64) if isinstance(like, torch.Tensor) else _numpy64(w)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a 1-D array of weights ({exc})") from None
    if w64.ndim != 1 and not (allow_2d and w64.ndim == 2):
        more = " (or 2-D, one histogram per column)" if allow_2d else ""
        raise ValueError(
            f"{name}: expected a 1-D array of weights{more}, got shape {tuple(w64.shape)}"
        )
    if w64.shape[0] != size:
        raise ValueError(
            f"{name}: has {w64.shape[0]} weights but M has {size} {axis}; they must match"
        )
    if not bool(_xp(w64).isfinite(w64).all()):
        raise ValueError(f"{name}: NaN or infinite weights")
    if bool((w64 < 0).any()):
        raise ValueError(f"{name}: negative weights; weights must be >= 0")
    if bool((w64.sum(axis=0) <= 0).any()):
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


def _check_scaling(s: Any) -> float | None:
    if s is None or s == "auto":
        return None if s is None else _SCALING_FACTOR
    if isinstance(s, bool) or not isinstance(s, (float, np.floating)) or not 0.0 < s < 1.0:
        raise ValueError(
            f"epsilon_scaling: expected 'auto', None or a ratio in (0, 1), got {s!r}"
        )
    return float(s)


# ---------------------------------------------------------------------------- the solver
@dataclass
class _Result:
    plan: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    info: dict[str, Any]


@dataclass
class _Trace:
    """Per-iteration record: L1 error, wall time, phase and stage; per Newton step: kept
    entries, CG iterations and step length."""

    err: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    stage: list[int] = field(default_factory=list)
    nnz: list[int] = field(default_factory=list)
    cg_iter: list[int] = field(default_factory=list)
    step: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _Engine:
    """The array-library pieces of the solver; the control flow (:class:`_Solver`, CG, line
    search) is shared and works on numpy arrays and torch tensors alike."""

    #: ``truncate(G, sparsity, row_sums=, row_scale=, col_scale=)``: the sparsified plan
    truncate: Callable[..., Any]
    #: ``sparse_direction(S, r, c, ga, gb, rtol, use_lu, coarse=None)``: the Newton step
    sparse_direction: Callable[..., Any]
    #: the two-level CG preconditioner class
    two_level: type


def _engine(on_torch: bool) -> _Engine:
    if not on_torch:
        return _NUMBA
    from bayesparse.optim.sinkhorn_newton_sparse_torch import TORCH_ENGINE

    return TORCH_ENGINE


class _Solver:
    """Epsilon-scaling stages, each a Sinkhorn warm-up then sparse Newton steps."""

    def __init__(self, a: Any, b: Any, M: Any, reg: float, bounds: tuple[float, float],
                 opts: _Options, engine: str = "numba", start: _Warm | None = None) -> None:
        self.a, self.b, self.opts = a, b, opts
        self.engine = _engine(engine == "torch")
        self.regs = _schedule(bounds[1] - bounds[0], reg, opts.scaling)
        # bounds of the full M also bound a submatrix (zero-mass points removed)
        self.kernel = StabilizedKernel(M, self.regs[0], bounds)
        self.trace = _Trace()
        if start is not None:  # batched Sinkhorn iterations on the same kernel
            self.kernel.u, self.kernel.v = start.u, start.v
            self.trace.err.extend(start.err)
            self.trace.time.extend(start.time)
            self.trace.phase.extend(["sinkhorn"] * len(start.err))
            self.trace.stage.extend([0] * len(start.err))
        self._start = time.perf_counter()
        self._stage = 0
        #: the warm-up's truncated plan, the first Newton step's pattern
        self._pattern: _Pattern | None = None
        #: two-level preconditioner (column aggregates from the first CG step on)
        self._coarse: _TwoLevel | None = None

    def clock(self) -> float:
        return time.perf_counter() - self._start

    def left(self) -> int:
        return self.opts.max_iter - len(self.trace.err)

    def run(self) -> _Result:
        t_sinkhorn = 0.0
        for k, reg in enumerate(self.regs):
            self._stage = k
            last = k == len(self.regs) - 1
            tol = self.opts.tol if last else max(self.opts.tol, _STAGE_TOL)
            if k:
                self.kernel.set_reg(reg, self.a)
            start = self.clock()
            warm = self.opts.warmup if k == 0 else None
            self.sinkhorn(self.left() if warm is None else min(warm, self.left()), tol,
                          auto=warm is None)
            t_sinkhorn += self.clock() - start
            if self.opts.verbose:
                print(f"stage {k} reg {reg:.3g}: sinkhorn err {self.trace.err[-1]:.3e}")
            if self.trace.err[-1] >= tol and self.left() > 0 and not self.newton(tol):
                break
            if self.left() <= 0:
                break
        alpha, beta = self.kernel.potentials()
        tr = self.trace
        n_sinkhorn = tr.phase.count("sinkhorn")
        info = {"err": tr.err, "time": tr.time, "phase": tr.phase, "stage": tr.stage,
                "regs": self.regs, "niter": len(tr.err), "n_sinkhorn": n_sinkhorn,
                "n_newton": len(tr.err) - n_sinkhorn, "time_sinkhorn": t_sinkhorn,
                "time_newton": self.clock() - t_sinkhorn, "nnz": tr.nnz,
                "cg_iter": tr.cg_iter, "step": tr.step, "n_absorb": self.kernel.n_absorb}
        return _Result(self.kernel.plan(overwrite=True), alpha, beta, info)

    def sinkhorn(self, budget: int, tol: float, auto: bool = False) -> None:
        """Up to ``budget`` Sinkhorn iterations, stopped early by the switch rule if
        ``auto``."""
        if budget <= 0:
            return
        times: list[float] = []
        stop = _SwitchRule(self.kernel, tol, self.opts.sparsity, self.engine) if auto else None
        errs = self.kernel.sinkhorn(self.a, self.b, budget, tol, stop=stop, times=times,
                                    clock=self.clock)
        self._record(errs, times, "sinkhorn")
        if stop is not None and stop.pattern is not None:
            self._pattern = _Pattern(stop.pattern, self.kernel)
        if self.opts.verbose:
            for k in range(0, len(errs), 100):
                print(f"sinkhorn {k:5d}  err {errs[k]:.3e}")

    def _record(self, errs: list[float], times: list[float], phase: str) -> None:
        tr = self.trace
        tr.err.extend(errs)
        tr.time.extend(times)
        tr.phase.extend([phase] * len(errs))
        tr.stage.extend([self._stage] * len(errs))

    def newton(self, tol: float) -> bool:
        """Newton steps until ``tol``; ``False`` if the stage stalled (no progress)."""
        kernel, a, b, tr, engine = self.kernel, self.a, self.b, self.trace, self.engine
        sparsity = self.opts.sparsity
        r, c = kernel.marginals()
        err = _l1(r, a) + _l1(c, b)
        size = len(r) * len(c)
        best, since_best = err, 0
        use_lu = dense = False
        slow = 0
        pattern, self._pattern = self._pattern, None
        while err >= tol and self.left() > 0:
            if not math.isfinite(err) or since_best >= _STALL_STEPS:
                return False
            ga, gb = a - r, b - c
            # inexact Newton: the residual shrinks by ``err`` (quadratic convergence) but
            # need not go below what reaching ``tol`` from ``err`` takes
            rtol = min(1e-2, max(err, 0.1 * tol / err))
            if dense:
                dx, dy, n_cg = _dense_direction(kernel.G, kernel.u, kernel.v, r, c, ga, gb,
                                               rtol, work=kernel.scaled_columns())
                nnz = size
            else:
                S = pattern.refill(kernel, r, sparsity) if pattern is not None else None
                if S is None:
                    S = engine.truncate(kernel.G, sparsity, row_sums=r / kernel.u,
                                        row_scale=kernel.u, col_scale=kernel.v)
                    pattern = _Pattern(S, kernel)
                if self._coarse is None and not use_lu:
                    self._coarse = engine.two_level(kernel.M)
                dx, dy, n_cg = engine.sparse_direction(S, r, c, ga, gb, rtol, use_lu,
                                                       self._coarse)
                use_lu, nnz = n_cg < 0, S.nnz
                # past this density a dense product beats CSR: keep the exact plan from now on
                dense = nnz > _DENSE_DENSITY * size and not use_lu
            step, r, c, new_err = _line_search(kernel, a, b, r, c, dx, dy, ga, gb, err)
            if step == 0.0:
                # no ascent along the sparse direction: a denser Hessian and a few Sinkhorn
                # iterations (which always make progress) before trying again
                sparsity *= 1e-2
                self.sinkhorn(min(10, self.left()), tol)
                r, c = kernel.marginals()
                new_err = tr.err[-1]
            else:
                self._record([new_err], [self.clock()], "newton")
                slow = slow + 1 if new_err > _SLOW_RATE * err else 0
                # a damped step, or two in a row that barely reduced the error (the dropped
                # entries set a floor), calls for a denser Hessian
                if step < 1.0 or slow >= 2:
                    sparsity *= 1e-2
                    pattern = None
                    slow = 0
            tr.nnz.append(nnz)
            tr.cg_iter.append(n_cg)
            tr.step.append(step)
            if self.opts.verbose:
                print(f"newton   {len(tr.err) - 1:5d}  err {new_err:.3e}  step {step:.3g}  "
                      f"nnz {nnz}  cg {n_cg}")
            err = new_err
            best, since_best = (err, 0) if err < best else (best, since_best + 1)
        return True


class _Pattern:
    """The kept entries of the last truncated plan, refilled with the current plan's values.

    The support of the significant entries barely moves between Newton steps, so later steps
    gather ``nnz`` values instead of thresholding all ``n x m`` entries again; the pattern is
    truncated afresh once it keeps less than ``1 - 10 sparsity`` of some row's mass.
    """

    def __init__(self, S: sp.csr_matrix | SparseTensor, kernel: StabilizedKernel) -> None:
        self.S = S
        # the scalings S was filled from (the kernel replaces, never mutates, them)
        self._filled = (kernel.u, kernel.v)

    def refill(self, kernel: StabilizedKernel, r: Any,
               sparsity: float) -> sp.csr_matrix | SparseTensor | None:
        S = self.S
        if self._filled[0] is kernel.u and self._filled[1] is kernel.v:
            return S
        self._filled = (kernel.u, kernel.v)
        u, v = kernel.u, kernel.v
        if isinstance(S, SparseTensor):
            # new values on the same index tensors (the preconditioner's cache key)
            row, col = S.row, S.col
            vals = u[row] * kernel.G[row, col] * v[col]
            kept = torch.zeros_like(r).index_add_(0, row, vals)
            S = self.S = S.with_values(vals)
        else:
            kept = _gather_plan(S.indptr, S.indices, kernel.G, u, v, S.data)
        return S if bool((kept >= (1.0 - 10.0 * sparsity) * r).all()) else None


@njit(cache=True)
def _gather_plan(indptr, indices, G, u, v, out):  # noqa: ANN001, ANN202
    """``out_k = u_i G_ij v_j`` on the CSR pattern; returns the row sums of ``out``."""
    n = indptr.size - 1
    kept = np.empty(n)
    for i in range(n):
        total = 0.0
        row, ui = G[i], u[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = np.uintp(indices[k])  # unsigned: no negative-index wraparound test
            w = ui * row[j] * v[j]
            out[k] = w
            total += w
        kept[i] = total
    return kept


def _schedule(spread: float, reg: float, factor: float | None) -> list[float]:
    """Epsilon-scaling regs from ``spread / _SCALING_RATIO`` down to ``reg``: as many stages
    as ratios ``1 / factor`` fit, in equal ratios (between ``1 / factor`` and its square;
    a last stage of up to ``1 / factor^2`` alone started too far from its optimum for
    Newton steps when the weights span many orders of magnitude)."""
    start = spread / _SCALING_RATIO
    k = 0 if factor is None or not start > reg else int(
        math.log(start / reg) / math.log(1.0 / factor) + 1e-9
    )
    if k == 0:
        return [reg]
    q = (reg / start) ** (1.0 / k)
    return [start * q**i for i in range(k)] + [reg]


class _SwitchRule:
    """Stop the warm-up once Sinkhorn would take longer to reach ``tol`` than Newton.

    Sinkhorn's remaining iterations are predicted from its measured linear rate; Newton's
    cost, in Sinkhorn iterations (two dense products each), from the density ``d`` of the
    plan it would keep: about ``3 + 40 d`` per sparse step (forming and truncating the plan,
    the line search, ~20 CG iterations on ``d n m`` entries), at most ``_DENSE_STEP`` with
    dense products, times ``_NEWTON_STEPS`` steps. The density is probed once, when the
    other conditions first hold, by truncating the plan; that truncation (``pattern``) is
    the first Newton step's sparsity pattern.
    """

    def __init__(self, kernel: StabilizedKernel, tol: float, sparsity: float,
                 engine: _Engine) -> None:
        self.kernel, self.tol, self.sparsity, self.engine = kernel, tol, sparsity, engine
        self.pattern: sp.csr_matrix | SparseTensor | None = None
        self._newton_cost = 0.0

    def __call__(self, errs: list[float]) -> bool:
        outlook = _sinkhorn_outlook(errs, self.tol)
        if outlook is None:
            return False
        rate, remaining = outlook
        if rate >= 1.0:
            return True
        if remaining <= _SWITCH_ITERS:
            return False
        if self.pattern is None:
            kernel = self.kernel
            self.pattern = self.engine.truncate(kernel.G, self.sparsity, row_scale=kernel.u,
                                                col_scale=kernel.v)
            density = self.pattern.nnz / (kernel.G.shape[0] * kernel.G.shape[1])
            self._newton_cost = _NEWTON_STEPS * min(3.0 + 40.0 * density, _DENSE_STEP)
        return remaining > self._newton_cost


def _sparse_direction(
    S: sp.csr_matrix, r: np.ndarray, c: np.ndarray, ga: np.ndarray, gb: np.ndarray,
    rtol: float, use_lu: bool, coarse: _TwoLevel | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Solve the sparsified Newton system (2) by its Schur complement in ``dy``.

    CG is preconditioned by Jacobi, plus the coarse correction of ``coarse`` when given.
    Returns ``dx, dy`` and the CG iteration count, negated when the sparse LU was used.
    """
    inv_r = 1.0 / ((1.0 + _RIDGE) * r)
    c = (1.0 + _RIDGE) * c
    rhs = gb - S.T @ (ga * inv_r)
    n_cg = 0
    if not use_lu:
        diag = _schur_diagonal(S.indptr, S.indices, S.data, inv_r, c)
        inv_d = 1.0 / np.maximum(diag, 1e-3 * c)
        precond = (coarse.preconditioner(S, inv_r, c, inv_d) if coarse is not None
                   else lambda res: res * inv_d)
        out = np.empty_like(c)
        dy, n_cg = _projected_pcg(
            lambda p: _schur_product(S.indptr, S.indices, S.data, inv_r, c, p, out),
            precond, c, rhs, rtol, _CG_MAX_ITER,
        )
    if use_lu or n_cg >= _CG_MAX_ITER:
        # A = diag(c) - S^T diag(1/r) S, grounded at the last column (the null direction)
        A = (sp.diags(c) - S.T @ sp.diags(inv_r) @ S).tocsc()[:-1, :-1]
        dy = np.zeros_like(c)
        dy[:-1] = spla.splu(A, permc_spec="MMD_AT_PLUS_A").solve(rhs[:-1])
        n_cg = -max(n_cg, 1)
    dx = (ga - S @ dy) * inv_r
    return dx, dy, n_cg


class _TwoLevel:
    r"""Additive two-level preconditioner ``z = D^{-1} res + R^T A_c^{-1} R res``.

    ``R`` sums the columns of each aggregate: column ``j`` joins the nearest (in cost) of
    ``k ~ m / _COARSE_COLUMNS`` seed rows spread over ``M``'s rows — for a geometric cost,
    the Voronoi cells of the target points around seed source points, groups of nearby
    columns on which the smooth error modes of the Schur complement are nearly constant.
    ``A_c = R A R^T`` is the Schur complement ``A = diag(c) - S^T diag(inv_r) S`` restricted
    to piecewise-constant vectors (Galerkin coarse operator, as in aggregation multigrid:
    Vanek, Mandel, Brezina, Computing 56, 1996): ``A_c = diag(R c) - B^T diag(inv_r) B`` with
    ``B = S R^T``, one pass over ``S`` and a dense ``k x k`` Cholesky factor. Jacobi handles
    the oscillating error modes, the coarse solve the smooth ones that Jacobi-CG converges
    on slowly (the plan of a smooth cost is a diffusion, whose Schur complement has many
    small eigenvalues). Both terms are symmetric positive semi-definite, so CG applies; the
    constant vector (the null direction removed by the projection) is lifted in ``A_c`` by a
    rank-one term.

    The factor is kept while the sparse pattern is refilled in place (the same ``S``
    object): between Newton steps the plan changes little, and a stale ``A_c`` is still a
    symmetric positive definite preconditioner. Without aggregates (fewer than
    ``_COARSE_MIN``) or when the factorization fails it is Jacobi alone.
    """

    def __init__(self, M: np.ndarray) -> None:
        n, m = M.shape
        self.labels: np.ndarray | None = None
        self._S: sp.csr_matrix | None = None
        self._factor: np.ndarray | None = None
        k = min(_COARSE_MAX, m // _COARSE_COLUMNS, n)
        if k >= _COARSE_MIN:
            seeds = np.linspace(0, n - 1, k).round().astype(np.intp)
            _, labels = np.unique(np.argmin(M[seeds], axis=0), return_inverse=True)
            self.labels = labels.astype(np.intp)

    def preconditioner(self, S: sp.csr_matrix, inv_r: np.ndarray, c: np.ndarray,
                       inv_d: np.ndarray) -> Any:
        labels = self.labels
        if labels is None:
            return lambda res: res * inv_d
        k = int(labels.max()) + 1
        if S is not self._S:
            self._S = S
            B = _aggregate_columns(S.indptr, S.indices, S.data, labels, k)
            Ac = B.T @ (inv_r[:, None] * B)
            np.subtract(np.diag(np.bincount(labels, c, minlength=k)), Ac, out=Ac)
            Ac += np.trace(Ac) / k**2
            try:
                self._factor = np.linalg.cholesky(Ac)
            except np.linalg.LinAlgError:
                self._factor = None
        L = self._factor
        if L is None:
            return lambda res: res * inv_d
        Lt = L.T

        def precond(res: np.ndarray) -> np.ndarray:
            w = np.bincount(labels, res, minlength=k)
            w = scipy.linalg.solve_triangular(Lt, scipy.linalg.solve_triangular(L, w, lower=True))
            return res * inv_d + w[labels]

        return precond


@njit(cache=True)
def _aggregate_columns(indptr, indices, data, labels, k):  # noqa: ANN001, ANN202
    """``B = S R^T``: the sums of each row of ``S`` over the column aggregates."""
    n = indptr.size - 1
    B = np.zeros((n, k))
    for i in range(n):
        for t in range(indptr[i], indptr[i + 1]):
            B[i, labels[indices[t]]] += data[t]
    return B


@njit(cache=True)
def _schur_product(indptr, indices, data, inv_r, c, p, out):  # noqa: ANN001, ANN202
    """``out = c p - S^T (inv_r * (S p))`` in one pass over ``S``.

    Each row's entries are read once from memory: the row's dot product with ``p``, then,
    while they are in cache, its scatter into ``out``. Four partial sums break the chain of
    dependent additions (scipy's CSR product is bound by it: ~25% slower for the two passes).
    """
    out[:] = 0.0
    for i in range(indptr.size - 1):
        start, end = indptr[i], indptr[i + 1]
        s0 = s1 = s2 = s3 = 0.0
        k = start
        while k + 4 <= end:
            s0 += data[k] * p[np.uintp(indices[k])]
            s1 += data[k + 1] * p[np.uintp(indices[k + 1])]
            s2 += data[k + 2] * p[np.uintp(indices[k + 2])]
            s3 += data[k + 3] * p[np.uintp(indices[k + 3])]
            k += 4
        while k < end:
            s0 += data[k] * p[np.uintp(indices[k])]
            k += 1
        s = ((s0 + s1) + (s2 + s3)) * inv_r[i]
        for k in range(start, end):
            out[np.uintp(indices[k])] += data[k] * s
    for j in range(out.size):
        out[j] = c[j] * p[j] - out[j]
    return out


@njit(cache=True)
def _schur_diagonal(indptr, indices, data, inv_r, c):  # noqa: ANN001, ANN202
    """Diagonal of ``diag(c) - S^T diag(inv_r) S``: the Jacobi preconditioner."""
    d = c.copy()
    for i in range(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            d[indices[k]] -= inv_r[i] * data[k] * data[k]
    return d


def _dense_direction(
    G: Any, u: Any, v: Any, r: Any, c: Any, ga: Any, gb: Any, rtol: float,
    work: Any = None,
) -> tuple[Any, Any, int]:
    """The exact Newton system (2), products with ``P = diag(u) G diag(v)`` by BLAS
    (``work``: an ``n x m`` buffer for the squares of ``G``); numpy or torch."""
    xp = _xp(G)
    inv_r = 1.0 / r
    Px = lambda y: u * (G @ (v * y))  # noqa: E731
    Pty = lambda x: v * (G.T @ (u * x))  # noqa: E731
    rhs = gb - Pty(ga * inv_r)
    squares = xp.square(G) if work is None else xp.square(G, out=work)
    diag = c - v**2 * (squares.T @ (u**2 * inv_r))
    inv_d = 1.0 / xp.maximum(diag, 1e-3 * c)
    dy, n_cg = _projected_pcg(
        lambda p: c * p - Pty(inv_r * Px(p)), lambda res: res * inv_d, c, rhs, rtol,
        _CG_MAX_ITER,
    )
    dx = (ga - Px(dy)) * inv_r
    return dx, dy, n_cg


def _projected_pcg(
    A: Any, precond: Any, c: Any, rhs: Any, rtol: float, max_iter: int,
) -> tuple[Any, int]:
    """Preconditioned CG for the Schur complement ``A y = rhs`` with its null direction
    removed.

    ``A`` is the product with ``diag(c) - S^T diag(1/r) S`` and ``precond`` a symmetric
    positive definite preconditioner. The (near-)null direction of the Schur complement is
    ``1``, the image of the Hessian's ``(1, -1)``; it is removed as in the Jacobi-scaled
    system ``diag(c)^(-1/2) A diag(c)^(-1/2)``, whose null vector ``sqrt(c)`` is well
    scaled: residuals lose their component along ``c`` (``res -= c sum(res) / sum(c)``) and
    search directions their ``c``-weighted mean (``z -= c.z / sum(c)``). For uniform ``c``
    these are the plain mean projections; with weights spanning many orders of magnitude
    the plain mean would move every small column by the (rounding-level) inconsistency of
    the large ones. numpy arrays or torch tensors.
    """
    w = c / c.sum()
    res = rhs - w * rhs.sum()
    y = _xp(c).zeros_like(c)
    z = precond(res)
    z -= float(w @ z)
    p = z
    rz = float(res @ z)
    stop = rtol * math.sqrt(float(res @ res))
    k = 0
    while k < max_iter:
        k += 1
        Ap = A(p)
        Ap -= w * Ap.sum()
        curvature = float(p @ Ap)
        if curvature <= 0:  # exact solution reached (zero residual) or rounding
            break
        alpha = rz / curvature
        y += alpha * p
        res -= alpha * Ap
        if math.sqrt(float(res @ res)) <= stop:
            break
        z = precond(res)
        z -= float(w @ z)
        rz_new = float(res @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return y, k


def _l1(x: Any, y: Any) -> float:
    return float(abs(x - y).sum())


def _line_search(
    kernel: StabilizedKernel, a: Any, b: Any, r: Any, c: Any, dx: Any, dy: Any, ga: Any,
    gb: Any, err: float,
) -> tuple[float, Any, Any, float]:
    """Backtracking from ``t = 1`` on the dual (1); updates ``kernel`` on success."""
    slope = float(ga @ dx + gb @ dy)
    lin = float(a @ dx + b @ dy)
    mass = float(r.sum())
    u, v, G = kernel.u, kernel.v, kernel.G
    xp = _xp(u)
    t = 1.0
    with _quiet(u):
        for _ in range(_MAX_HALVINGS):
            ut = u * xp.exp(t * dx)
            vt = v * xp.exp(t * dy)
            rt = ut * (G @ vt)
            gain = t * lin - (float(rt.sum()) - mass)
            # a scaling or marginal that underflows to zero (a point of tiny mass, a long
            # step) cannot be scaled back: log(0) at the next absorption, b / 0 in Sinkhorn
            if math.isfinite(gain) and float(rt.min()) > 0.0 and float(vt.min()) > 0.0:
                armijo = gain >= _ARMIJO * t * slope
                if armijo or gain >= _ARMIJO * t * slope - 1e-13 * mass:
                    ct = vt * (G.T @ ut)
                    new_err = _l1(rt, a) + _l1(ct, b)
                    if (armijo or new_err < err) and float(ct.min()) > 0.0:
                        kernel.u, kernel.v = ut, vt
                        if kernel.absorb():
                            rt, ct = kernel.marginals()
                        return t, rt, ct, new_err
            t *= 0.5
    return 0.0, r, c, err


_NUMBA = _Engine(row_mass_truncate_csr, _sparse_direction, _TwoLevel)
