"""Block coordinate descent with greedy rules, variable blocks and message passing.

Minimizes ``F(x) = f(x) + g(x)`` for a datafit ``f`` and a separable penalty ``g`` of
:mod:`bayesparse.optim.bcd.problems`, following Nutini, Laradji & Schmidt (JMLR 2022):

- partition: fixed blocks (``"contiguous"``, ``"sorted"`` by coordinate Lipschitz constant,
  ``"random"``), blocks chosen greedily each iteration (``"variable"``: the ``block_size`` best
  coordinates by GS / GSL score, or for GSQ a greedy forward selection that adds the coordinate
  raising ``g_b^T M_b^{-1} g_b`` most, Sec. 3.3), and for graph quadratics greedy
  forest blocks (``"forest"``, Sec. 4.3);
- selection (fixed blocks, ``rules.py``): cyclic, random, Lipschitz sampling, GS, GSL, GSQ;
- update: ``"gradient"`` the (proximal) step with the block Lipschitz constant ``1 / L_b``
  (eq. 3, Sec. 5); ``"matrix"`` the step with the block curvature matrix ``M_b`` (eq. 9; exact
  minimization for quadratics, Böhning's bound for logistic / softmax), and for an L1 penalty
  the proximal-Newton step whose block subproblem is solved by coordinate descent (Sec. 5.2,
  the superlinear phase once the active set is found); ``"newton"`` the same with the exact
  Hessian (logistic), halved until ``F`` decreases; ``"message_passing"`` the exact
  forest-block solve of :mod:`bayesparse.optim.bcd.message_passing`.

Every iteration computes the full gradient (as the greedy rules need), so an iteration costs
one product with the design; the working-set solvers (``working_set.py``,
``logistic_working_set.py``) are the wall-time path.

References
----------
.. [1] J. Nutini, I. Laradji, M. Schmidt. Let's Make Block Coordinate Descent Converge Faster:
   Faster Greedy Rules, Message-Passing, Active-Set Complexity, and Superlinear Convergence.
   JMLR 23(131), 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesparse.optim.bcd.message_passing import forest_solve, greedy_forest
from bayesparse.optim.bcd.problems import (
    L1,
    GraphQuadratic,
    LeastSquares,
    NoPenalty,
    datafit_value,
)
from bayesparse.optim.bcd.rules import SELECTION_RULES, BlockScores
from bayesparse.rng import check_generator

PARTITIONS = ("contiguous", "sorted", "random", "variable", "forest")
UPDATES = ("gradient", "matrix", "newton", "message_passing")
#: greedy rules that can choose variable blocks
VARIABLE_RULES = ("gs", "gsl", "gsq")


@dataclass
class BCDResult:
    """Result of :func:`bcd_solve`.

    Attributes
    ----------
    x : numpy.ndarray
        Final iterate (the shape of ``x0``).
    objective : numpy.ndarray
        ``F(x)`` before each iteration and at the end (length ``n_iter + 1``).
    kkt : float
        Largest distance of ``-grad f`` to the subdifferential of ``g`` at ``x`` (0 at the
        optimum).
    n_iter : int
        Number of block updates done.
    """

    x: np.ndarray
    objective: np.ndarray
    kkt: float
    n_iter: int


def _pinv_psd(M: np.ndarray) -> np.ndarray:
    return np.linalg.pinv(M, hermitian=True)


def _lmax(M: np.ndarray) -> float:
    return max(float(np.linalg.eigvalsh(M)[-1]), 1e-300)


def _l2_lam(penalty) -> float | np.ndarray:
    return 0.0 if isinstance(penalty, L1 | NoPenalty) else penalty.lam


def _rows(v, idx):
    return v[idx] if np.ndim(v) else v


def _prox_newton_block(M, g, xb, penalty, n_pass=100):
    """Minimize ``<g, d> + tr(d^T M d) / 2 + g(x_b + d)`` over the block by CD (columns at once)."""
    d = np.zeros_like(xb)
    Md = np.zeros_like(xb)
    lam = penalty.lam
    for _ in range(n_pass):
        big = 0.0
        for j in range(len(xb)):
            mjj = M[j, j]
            if mjj <= 0:
                continue
            v = xb[j] + d[j] - (g[j] + Md[j]) / mjj
            lam_j = lam[j] if np.ndim(lam) else lam
            new = (np.maximum(v - lam_j / mjj, 0.0) if penalty.positive
                   else np.sign(v) * np.maximum(np.abs(v) - lam_j / mjj, 0.0)) - xb[j]
            delta = new - d[j]
            if np.any(delta != 0):
                Md += np.outer(M[:, j], delta)
                d[j] = new
                big = max(big, float(np.max(np.abs(delta))))
        if big <= 1e-12 * (1.0 + float(np.max(np.abs(xb + d)))):
            break
    return d


def _gsq_forward(datafit, z, g, lips, lam2, block_size, pool_size):
    """Greedy forward selection of a block raising ``g_b^T M_b^{-1} g_b`` most (GSQ-VB)."""
    d = len(g)
    score = (g**2).sum(1) / np.maximum(lips, 1e-300)
    pool = np.argpartition(-score, min(pool_size, d) - 1)[:pool_size] if pool_size < d else (
        np.arange(d))
    P = datafit.block_matrix(z, pool) + np.diag(np.broadcast_to(
        np.asarray(lam2, dtype=float).reshape(-1) if np.ndim(lam2) else lam2, (d,))[pool])
    gp = g[pool]
    chosen = [int(np.argmax(score[pool]))]
    while len(chosen) < min(block_size, len(pool)):
        S = np.array(chosen)
        Pinv = _pinv_psd(P[np.ix_(S, S)])
        B = P[:, S] @ Pinv  # (pool, |S|)
        num = ((gp - B @ gp[S]) ** 2).sum(1)
        den = np.diag(P) - np.einsum("ij,ij->i", B, P[:, S])
        gain = np.where(den > 1e-12 * np.diag(P).clip(1e-300), num / np.maximum(den, 1e-300), 0)
        gain[S] = -1.0
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        chosen.append(best)
    return np.sort(pool[np.array(chosen)])


def bcd_solve(
    datafit,
    penalty=None,
    x0: np.ndarray | None = None,
    partition: str = "contiguous",
    block_size: int = 5,
    selection: str = "gsl",
    update: str = "gradient",
    n_iter: int = 500,
    tol: float = 0.0,
    random_state=None,
) -> BCDResult:
    """Block coordinate descent on ``f(x) + g(x)`` with the rules of Nutini et al. (2022).

    Parameters
    ----------
    datafit : a datafit of :mod:`bayesparse.optim.bcd.problems`
    penalty : a penalty of :mod:`bayesparse.optim.bcd.problems`, optional
        ``NoPenalty()`` by default.
    x0 : ndarray of shape ``datafit.shape`` (or its first dimension when ``k = 1``), optional
        Starting point (zeros by default).
    partition : {"contiguous", "sorted", "random", "variable", "forest"}
        Fixed blocks, blocks chosen greedily each iteration, or greedy forest blocks
        (graph quadratics, with ``update="message_passing"``).
    block_size : int
        Block size (the largest forest for ``"forest"``).
    selection : {"cyclic", "random", "lipschitz", "gs", "gsl", "gsq"}
        Block selection rule (variable blocks: gs, gsl or gsq).
    update : {"gradient", "matrix", "newton", "message_passing"}
    n_iter : int
        Largest number of block updates.
    tol : float
        Stop once the largest KKT violation (checked every iteration) is ``<= tol``.
    random_state : None, int or numpy.random.Generator
        For the random partition and rules.

    Returns
    -------
    BCDResult

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.optim.bcd.problems import LeastSquares
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 10)); b = rng.standard_normal(30)
    >>> res = bcd_solve(LeastSquares(A, b), block_size=3, selection="gsq", partition="variable",
    ...                 update="matrix", n_iter=100)
    >>> bool(np.allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-6))
    True

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    """
    penalty = NoPenalty() if penalty is None else penalty
    if selection not in SELECTION_RULES:
        raise ValueError(f"selection={selection!r}: choose one of {sorted(SELECTION_RULES)}")
    if partition not in PARTITIONS:
        raise ValueError(f"partition={partition!r}: choose one of {PARTITIONS}")
    if update not in UPDATES:
        raise ValueError(f"update={update!r}: choose one of {UPDATES}")
    if not isinstance(block_size, int | np.integer) or block_size < 1:
        raise ValueError(f"block_size={block_size!r}: must be a positive integer")
    graph = isinstance(datafit, GraphQuadratic)
    if (partition == "forest") != (update == "message_passing") or (partition == "forest"
                                                                      and not graph):
        raise ValueError("partition='forest' goes with update='message_passing', on a "
                         "GraphQuadratic (label propagation) problem")
    if partition == "variable" and selection not in VARIABLE_RULES:
        raise ValueError(f"selection={selection!r}: variable blocks are chosen by one of "
                         f"{VARIABLE_RULES}")
    rng = check_generator(random_state)
    d, k = datafit.shape
    x = np.zeros((d, k))
    if x0 is not None:
        x[:] = np.asarray(x0, dtype=np.float64).reshape(d, k)
    vector = x0 is None or np.ndim(x0) == 1 or k == 1
    z = datafit.init_state(x)
    lam2 = _l2_lam(penalty)
    lam2_rows = np.broadcast_to(np.asarray(lam2, dtype=float), (d, k))[:, 0] if np.ndim(
        lam2) else lam2
    lips_c = datafit.coordinate_lipschitz() + lam2_rows
    smooth = penalty.smooth

    def step_for(idx, M, g):
        xb = x[idx]
        if update == "gradient":
            L = _lmax(M + np.diag(np.broadcast_to(_rows(lam2_rows, idx), (len(idx),))))
            return penalty.prox(xb - g / L, 1.0 / L) - xb
        if smooth:
            Ml = M + np.diag(np.broadcast_to(_rows(lam2_rows, idx), (len(idx),)))
            return -(_pinv_psd(Ml) @ (g + _rows(lam2_rows, idx) * xb if np.ndim(lam2_rows)
                                      else g + lam2 * xb))
        return _prox_newton_block(M, g, xb, _RowPenalty(penalty, idx))

    blocks = None
    if partition in ("contiguous", "sorted", "random"):
        perm = {"contiguous": np.arange(d), "sorted": np.argsort(-lips_c, kind="stable"),
                "random": rng.permutation(d)}[partition]
        nb = -(-d // block_size)
        # pad with index d, a zero row appended to the per-coordinate arrays
        blocks = np.full(nb * block_size, d, dtype=np.int64)
        blocks[:d] = perm
        blocks = blocks.reshape(nb, block_size)
        block_idx = [b[b < d] for b in blocks]
        Ms = [datafit.block_matrix(z, b) for b in block_idx]
        lips_b = np.array([_lmax(M + np.diag(np.broadcast_to(_rows(lam2_rows, b), (len(b),))))
                           for M, b in zip(Ms, block_idx)])
        lip_glob = lips_b.max()
        rule = SELECTION_RULES[selection]
        inv_Ms = ([_pinv_psd(M + np.diag(np.broadcast_to(_rows(lam2_rows, b), (len(b),))))
                   for M, b in zip(Ms, block_idx)]
                  if selection == "gsq" and smooth and update != "gradient" else None)
    elif graph:
        off = datafit.Q.tocsr()
        diag_q = off.diagonal().copy()
        off.setdiag(0.0)
        off.eliminate_zeros()

    def objective():
        return datafit_value(datafit, x, z) + penalty.value(x)

    obj = [objective()]
    kkt = np.inf
    it = 0
    for it in range(1, n_iter + 1):
        g = datafit.gradient(z)
        kkt = float(np.max(penalty.subdiff_distance(x, g), initial=0.0))
        if kkt <= tol:
            it -= 1
            break
        if blocks is not None:
            lb = lips_b[:, None, None]
            gp = np.vstack([g, np.zeros((1, k))])[blocks]
            xp = np.vstack([x, np.zeros((1, k))])[blocks]
            lam_pad = lam2_rows if not np.ndim(lam2_rows) else np.append(lam2_rows, 0)[blocks][
                ..., None]
            gp_s = gp + lam_pad * xp if smooth else gp
            pen = penalty if smooth else _PaddedPenalty(penalty, blocks, d)
            if smooth:
                d_own, d_glob = -gp_s / lb, -gp_s / lip_glob
            else:
                d_own = pen.prox(xp - gp / lb, 1.0 / lb) - xp
                d_glob = pen.prox(xp - gp / lip_glob, 1.0 / lip_glob) - xp
            quad = (np.array([np.sum(gb * (Mi @ gb)) for gb, Mi in zip(gp_s, inv_Ms)])
                    if inv_Ms is not None else None)
            scores = BlockScores(d_glob=d_glob.reshape(len(blocks), -1),
                                 d_own=d_own.reshape(len(blocks), -1), lips=lips_b, quad=quad)
            i = rule(it - 1, scores, rng)
            idx, M = block_idx[i], Ms[i]
            if update == "newton":
                M = datafit.block_matrix(z, idx, exact=True)
        elif partition == "forest":
            score = (g**2).sum(1) / diag_q
            order = np.argsort(-score, kind="stable").astype(np.int64)
            order = order[score[order] > 0]
            idx = np.sort(greedy_forest(order, off.indptr, off.indices, block_size))
            dx = forest_solve(idx, off.indptr, off.indices, off.data, diag_q, -g[idx])
            x[idx] += dx
            datafit.update_state(z, idx, dx)
            obj.append(objective())
            continue
        else:
            gs_ = g + lam2 * x if smooth and not np.ndim(lam2) else (
                g + lam2_rows[:, None] * x if smooth else g)
            greedy_l = selection in ("gsl", "gsq")
            if selection == "gsq" and smooth and update != "gradient":
                idx = _gsq_forward(datafit, z, gs_, lips_c, lam2_rows, block_size,
                                   10 * block_size)
            else:
                if smooth:
                    dd = -gs_ / lips_c[:, None] if greedy_l else -gs_
                else:
                    step = 1.0 / lips_c[:, None] if greedy_l else 1.0 / lips_c.max()
                    dd = penalty.prox(x - g * step, step) - x
                sc = (dd**2).sum(1) * (lips_c if greedy_l else 1.0)
                bs = min(block_size, d)
                idx = np.sort(np.argpartition(-sc, bs - 1)[:bs])
            M = datafit.block_matrix(z, idx, exact=update == "newton")
        dx = step_for(idx, M, g[idx])
        if update == "newton":
            # F is only resolved to rounding near the optimum: accept steps within it
            f_old = obj[-1] + 1e-13 * abs(obj[-1])
            for _ in range(30):
                x[idx] += dx
                datafit.update_state(z, idx, dx)
                if objective() <= f_old:
                    break
                x[idx] -= dx
                datafit.update_state(z, idx, -dx)
                dx = dx / 2
        else:
            x[idx] += dx
            datafit.update_state(z, idx, dx)
        obj.append(objective())
    if len(obj) == n_iter + 1:
        kkt = float(np.max(penalty.subdiff_distance(x, datafit.gradient(z)), initial=0.0))
    out = x[:, 0].copy() if vector and k == 1 else x
    return BCDResult(x=out, objective=np.array(obj), kkt=kkt, n_iter=it)


class _RowPenalty:
    """The penalty restricted to rows ``idx`` (per-row weights sliced)."""

    def __init__(self, penalty, idx):
        self.lam = _rows(np.asarray(penalty.lam).reshape(-1) if np.ndim(penalty.lam)
                         else penalty.lam, idx)
        self.positive = getattr(penalty, "positive", False)


class _PaddedPenalty:
    """The penalty on the padded ``(n_blocks, block_size, k)`` layout of the block scores."""

    def __init__(self, penalty, blocks, d):
        self.penalty = penalty
        lam = penalty.lam
        self.lam = (np.append(np.asarray(lam).reshape(d, -1)[:, 0], 0.0)[blocks][..., None]
                    if np.ndim(lam) else lam)

    def prox(self, v, step):
        p = self.penalty
        t = self.lam * step
        if getattr(p, "positive", False):
            return np.maximum(v - t, 0.0)
        return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def bcd_least_squares(
    A,
    b: np.ndarray,
    lam: float = 0.0,
    block_size: int = 5,
    selection: str = "gsl",
    update: str = "gradient",
    n_iter: int = 500,
    x0: np.ndarray | None = None,
    partition: str = "contiguous",
    positive: bool = False,
    random_state=None,
) -> BCDResult:
    """Block coordinate descent for ``||A x - b||^2 / 2 + lam ||x||_1``.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or SparseTensor of shape (n, p)
    b : ndarray of shape (n,)
    lam : float
        L1 weight (0 for plain least squares).
    block_size : int
    selection : {"cyclic", "random", "lipschitz", "gs", "gsl", "gsq"}
    update : {"gradient", "matrix", "newton"}
        (Proximal) gradient step with ``1 / L_b``, or the exact block minimization (a
        proximal-Newton block solve when ``lam > 0``).
    n_iter : int
    x0 : ndarray of shape (p,), optional
    partition : {"contiguous", "sorted", "random", "variable"}
    positive : bool
        Constrain ``x >= 0`` (non-negative L1).
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    BCDResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 10)); b = rng.standard_normal(30)
    >>> res = bcd_least_squares(A, b, block_size=2, selection="gsq", update="matrix", n_iter=300)
    >>> bool(np.allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-6))
    True

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    """
    if lam < 0:
        raise ValueError(f"lam={lam}: must be >= 0")
    penalty = L1(lam, positive=positive) if lam > 0 or positive else NoPenalty()
    return bcd_solve(LeastSquares(A, b), penalty, x0=x0, partition=partition,
                     block_size=block_size, selection=selection, update=update, n_iter=n_iter,
                     random_state=random_state)
