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
from numba import njit

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


def _row_weights(lam, d: int) -> np.ndarray:
    """Per-row penalty weights ``(d,)`` from a scalar or a ``(d,)`` / ``(d, 1)`` array."""
    lam = np.asarray(lam, dtype=np.float64)
    return np.broadcast_to(lam.reshape(-1) if lam.ndim else lam, (d,)).copy()


@njit(cache=True)
def _block_l1_qp(M, g, xb, lam, positive, n_pass):  # pragma: no cover - compiled
    """Minimize ``<g, d> + tr(d^T M d) / 2 + sum_j lam_j |x_b + d|_j`` by coordinate descent."""
    nb, k = xb.shape
    d = np.zeros_like(xb)
    Md = np.zeros_like(xb)
    for _ in range(n_pass):
        big = 0.0
        scale = 1.0
        for j in range(nb):
            mjj = M[j, j]
            if mjj <= 0:
                continue
            for c in range(k):
                v = xb[j, c] + d[j, c] - (g[j, c] + Md[j, c]) / mjj
                t = lam[j] / mjj
                new = max(v - t, 0.0) if positive else np.sign(v) * max(abs(v) - t, 0.0)
                delta = new - xb[j, c] - d[j, c]
                if delta != 0.0:
                    for i in range(nb):
                        Md[i, c] += M[i, j] * delta
                    d[j, c] += delta
                    big = max(big, abs(delta))
                scale = max(scale, abs(new))
        if big <= 1e-12 * scale:
            break
    return d


def _prox_newton_block(M, g, xb, penalty, n_pass=100):
    """The block's proximal-Newton step (L1 or non-negative L1)."""
    return _block_l1_qp(np.ascontiguousarray(M), np.ascontiguousarray(g), np.ascontiguousarray(xb),
                        penalty.lam_rows, penalty.positive, n_pass)


def _gsq_forward(datafit, z, g, lips, lam2, block_size, pool_size):
    """Greedy forward selection of a block raising ``g_b^T M_b^{-1} g_b`` most (GSQ-VB)."""
    d = len(g)
    score = (g**2).sum(1) / np.maximum(lips, 1e-300)
    pool = np.argpartition(-score, min(pool_size, d) - 1)[:pool_size] if pool_size < d else (
        np.arange(d))
    P = datafit.block_matrix(z, pool) + np.diag(lam2[pool])
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
    smooth = penalty.smooth
    lam2_rows = _row_weights(penalty.lam, d) if smooth else np.zeros(d)
    lam_rows = _row_weights(penalty.lam, d)
    lips_c = datafit.coordinate_lipschitz() + lam2_rows

    def step_for(idx, M, g):
        xb = x[idx]
        Ml = M + np.diag(lam2_rows[idx])
        if update == "gradient":
            L = _lmax(Ml)
            return _prox_rows(penalty, xb - g / L, 1.0 / L, lam_rows[idx, None]) - xb
        if smooth:
            return -(_pinv_psd(Ml) @ (g + lam2_rows[idx, None] * xb))
        return _prox_newton_block(M, g, xb, _RowPenalty(penalty, idx, d))

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
        lips_b = np.array([_lmax(M + np.diag(lam2_rows[b])) for M, b in zip(Ms, block_idx)])
        lip_glob = lips_b.max()
        rule = SELECTION_RULES[selection]
        inv_Ms = None
        if selection == "gsq" and smooth and update != "gradient":
            # zero-padded (n_blocks, block_size, block_size) inverses: one einsum per iteration
            inv_Ms = np.zeros((nb, block_size, block_size))
            for i, (M, b) in enumerate(zip(Ms, block_idx)):
                inv_Ms[i, :len(b), :len(b)] = _pinv_psd(M + np.diag(lam2_rows[b]))
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
            gp_s = gp + np.append(lam2_rows, 0.0)[blocks][..., None] * xp
            if smooth:
                d_own, d_glob = -gp_s / lb, -gp_s / lip_glob
            else:
                lam_pad = np.append(lam_rows, 0.0)[blocks][..., None]
                d_own = _prox_rows(penalty, xp - gp / lb, 1.0 / lb, lam_pad) - xp
                d_glob = _prox_rows(penalty, xp - gp / lip_glob, 1.0 / lip_glob, lam_pad) - xp
            quad = (np.einsum("bic,bij,bjc->b", gp_s, inv_Ms, gp_s, optimize=True)
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
            gs_ = g + lam2_rows[:, None] * x
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


def _prox_rows(penalty, v: np.ndarray, step, lam) -> np.ndarray:
    """``prox`` of ``penalty`` with its weights replaced by ``lam`` (broadcast to ``v``)."""
    t = lam * step
    if isinstance(penalty, NoPenalty):
        return v
    if penalty.smooth:
        return v / (1.0 + t)
    if penalty.positive:
        return np.maximum(v - t, 0.0)
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


class _RowPenalty:
    """Weights of the rows ``idx`` (for the block proximal-Newton solve)."""

    def __init__(self, penalty, idx, d):
        self.lam_rows = _row_weights(penalty.lam, d)[idx]
        self.positive = getattr(penalty, "positive", False)


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
