"""Working-set proximal Newton for L1 / L2 binary logistic regression (numba inner loops).

Solves ``min_w (1/n) sum_i log(1 + exp(-y_i (x_i^T w + c))) + a1 ||w||_1 + a2 ||w||^2 / 2``
(``y_i = +-1``, optional unpenalized intercept ``c``). The outer loop grows a working set of the
features with the largest KKT violation (the GS-r score of Nutini, Laradji & Schmidt 2022,
Sec. 2 and 5.1, on the distance of ``-grad_j`` to the subdifferential), of size
``max(100, 2 |support|)`` (skglm's rule with a larger floor). On the working set it runs proximal
Newton (Lee, Sun & Saunders 2014; Nutini et al. Sec. 5.2: once the active set is identified,
Newton steps on it converge superlinearly): the quadratic model with Hessian
``X^T diag(h) X / n``, ``h = s (1 - s)``, is minimized by numba coordinate descent, then an
Armijo backtracking line search on the true objective. Stops when the largest KKT violation is
``<= tol``; :func:`logistic_duality_gap` gives the duality gap of the L1 problem.

References
----------
.. [1] J. Nutini, I. Laradji, M. Schmidt. Let's Make Block Coordinate Descent Converge Faster.
   JMLR 23(131), 2022.
.. [2] J. Lee, Y. Sun, M. Saunders. Proximal Newton-type methods for minimizing composite
   functions. SIAM J. Optim. 24(3), 2014.
.. [3] Q. Bertrand et al. Beyond L1: Faster and Better Sparse Models with skglm. NeurIPS 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.special import expit, log_expit

from bayesparse.optim.bcd.working_set import _P0, _xt_dense


@dataclass
class LogisticWorkingSetResult:
    """Solution and diagnostics of :func:`logistic_working_set`.

    Attributes
    ----------
    coef : numpy.ndarray
        Weights (length p; shape (p, n_classes) from :func:`softmax_newton`).
    intercept : float or numpy.ndarray
        The intercept (one per class from :func:`softmax_newton`).
    kkt : float
        Largest KKT violation at the solution.
    n_iter : int
        Outer (working-set) iterations.
    dual_gap : float
        Duality gap of the L1 problem at the solution (:func:`logistic_duality_gap`); ``nan``
        with an intercept or an L2 term, where the stopping rule is the KKT violation.
    """

    coef: np.ndarray
    intercept: float | np.ndarray
    kkt: float
    n_iter: int
    dual_gap: float


@njit(cache=True, fastmath=True)
def _col_dot(X, data, indices, indptr, sparse, j, v):  # pragma: no cover - compiled
    s = 0.0
    if sparse:
        for k in range(indptr[j], indptr[j + 1]):
            s += data[k] * v[indices[k]]
    else:
        for i in range(X.shape[0]):
            s += X[i, j] * v[i]
    return s


@njit(cache=True, fastmath=True)
def _col_wsq(X, data, indices, indptr, sparse, j, h):  # pragma: no cover - compiled
    s = 0.0
    if sparse:
        for k in range(indptr[j], indptr[j + 1]):
            s += data[k] * data[k] * h[indices[k]]
    else:
        for i in range(X.shape[0]):
            s += X[i, j] * X[i, j] * h[i]
    return s


@njit(cache=True, fastmath=True)
def _col_wdot(X, data, indices, indptr, sparse, j, h, v):  # pragma: no cover - compiled
    s = 0.0
    if sparse:
        for k in range(indptr[j], indptr[j + 1]):
            s += data[k] * h[indices[k]] * v[indices[k]]
    else:
        for i in range(X.shape[0]):
            s += X[i, j] * h[i] * v[i]
    return s


@njit(cache=True, fastmath=True)
def _col_axpy(X, data, indices, indptr, sparse, j, a, v):  # pragma: no cover - compiled
    if sparse:
        for k in range(indptr[j], indptr[j + 1]):
            v[indices[k]] += a * data[k]
    else:
        for i in range(X.shape[0]):
            v[i] += a * X[i, j]


@njit(cache=True)
def _objective(z, y, w, a1, a2, n):  # pragma: no cover - compiled
    s = 0.0
    for i in range(z.size):
        t = -y[i] * z[i]
        s += t + np.log1p(np.exp(-t)) if t > 0 else np.log1p(np.exp(t))
    pen = 0.0
    for j in range(w.size):
        pen += a1 * abs(w[j]) + 0.5 * a2 * w[j] * w[j]
    return s / n + pen


@njit(cache=True)
def _ws_stats(X, data, indices, indptr, sparse, g, h, w, ws, a1, a2, grad_ws,
              lips):  # pragma: no cover - compiled
    """Gradient ``X_j^T g + a2 w_j`` and curvature ``X_j^T diag(h) X_j`` on the working set
    (into ``grad_ws``, ``lips``); returns the largest KKT violation there."""
    kkt = 0.0
    for t in range(ws.size):
        j = ws[t]
        gj = _col_dot(X, data, indices, indptr, sparse, j, g) + a2 * w[j]
        grad_ws[t] = gj
        if w[j] != 0.0:
            v = abs(gj + a1 * np.sign(w[j]))
        else:
            v = max(abs(gj) - a1, 0.0)
        kkt = max(kkt, v)
        lips[t] = _col_wsq(X, data, indices, indptr, sparse, j, h)
    return kkt


@njit(cache=True)
def _model_cd(X, data, indices, indptr, sparse, h, w, ws, grad_ws, lips, gsum, hsum, a1, a2,
              fit_intercept, max_cd, stop, delta, xd):  # pragma: no cover - compiled
    """Coordinate descent on the proximal Newton model ``g^T d + d^T X^T diag(h) X d / 2 +
    penalty(w + d)`` (Lee, Sun & Saunders 2014, Eq. 2.4) over the working set and the
    intercept; fills ``delta`` (working-set step) and ``xd = X delta + dc``, returns ``dc``."""
    n = xd.size
    for i in range(n):
        xd[i] = 0.0
    delta[:] = 0.0
    dc = 0.0
    for _cd in range(max_cd):
        big = 0.0
        for t in range(ws.size):
            j = ws[t]
            if lips[t] == 0.0:
                continue
            hxd = _col_wdot(X, data, indices, indptr, sparse, j, h, xd)
            old = w[j] + delta[t]
            L = lips[t] + a2
            # exact minimizer of the model along j (loss gradient = grad_ws - a2 w)
            u = (lips[t] * old - (grad_ws[t] - a2 * w[j]) - hxd) / L
            new = np.sign(u) * max(abs(u) - a1 / L, 0.0)
            d = new - old
            if d != 0.0:
                delta[t] += d
                _col_axpy(X, data, indices, indptr, sparse, j, d, xd)
                big = max(big, abs(d) * np.sqrt(lips[t]))
        if fit_intercept and hsum > 0:
            hx = 0.0
            for i in range(n):
                hx += h[i] * xd[i]
            d = -(gsum + hx) / hsum
            dc += d
            for i in range(n):
                xd[i] += d
            big = max(big, abs(d) * np.sqrt(hsum))
        # an inexact Newton direction is enough far from the solution (skglm: 0.3 x KKT)
        if big <= stop:
            break
    return dc


@njit(cache=True)
def _model_decrease(grad_ws, w, ws, delta, gsum, dc, a1, a2):  # pragma: no cover - compiled
    """Armijo's predicted decrease ``grad^T d + penalty(w + d) - penalty(w)``."""
    dec = gsum * dc
    for t in range(ws.size):
        wo = w[ws[t]]
        wn = wo + delta[t]
        dec += (grad_ws[t] - a2 * wo) * delta[t] + a1 * (abs(wn) - abs(wo)) + \
            0.5 * a2 * (wn * wn - wo * wo)
    return dec


@njit(cache=True)
def _prox_newton(X, data, indices, indptr, sparse, y, w, c, z, ws, a1, a2, fit_intercept,
                 max_pn, max_cd, inner_tol):  # pragma: no cover - compiled
    """Proximal Newton iterations on the working set; ``w`` and ``z`` updated in place."""
    n = y.size
    nw = ws.size
    g = np.empty(n)
    h = np.empty(n)
    xd = np.empty(n)
    delta = np.zeros(nw)
    lips = np.empty(nw)
    grad_ws = np.empty(nw)
    znew = np.empty(n)
    wnew = np.empty(nw)
    w_ws = np.empty(nw)
    for _ in range(max_pn):
        for i in range(n):
            s = 1.0 / (1.0 + np.exp(y[i] * z[i]))  # sigma(-y z)
            g[i] = -y[i] * s / n
            h[i] = s * (1.0 - s) / n
        # KKT violation on the working set (and the intercept)
        kkt = _ws_stats(X, data, indices, indptr, sparse, g, h, w, ws, a1, a2, grad_ws, lips)
        hsum = h.sum()
        gsum = g.sum()
        if fit_intercept:
            kkt = max(kkt, abs(gsum))
        if kkt <= inner_tol:
            return kkt
        dc = _model_cd(X, data, indices, indptr, sparse, h, w, ws, grad_ws, lips, gsum, hsum,
                       a1, a2, fit_intercept, max_cd, 0.3 * kkt, delta, xd)
        # Armijo backtracking on F along (delta, dc)
        for t in range(nw):
            w_ws[t] = w[ws[t]]
        f_old = _objective(z, y, w_ws, a1, a2, n)
        dec = _model_decrease(grad_ws, w, ws, delta, gsum, dc, a1, a2)
        step = 1.0
        for _ls in range(30):
            for i in range(n):
                znew[i] = z[i] + step * xd[i]
            for t in range(nw):
                wnew[t] = w_ws[t] + step * delta[t]
            f_new = _objective(znew, y, wnew, a1, a2, n)
            # Armijo, with slack for rounding of F near the optimum
            if f_new <= f_old + 1e-4 * step * dec + 1e-14 * abs(f_old):
                break
            step *= 0.5
        for i in range(n):
            z[i] = znew[i]
        for t in range(nw):
            w[ws[t]] = wnew[t]
        c[0] += step * dc
    return -1.0


@njit(cache=True)
def _row_max_sumexp(Z, i):  # pragma: no cover - compiled
    """``m = max_k Z_ik`` and ``sum_k exp(Z_ik - m)`` (a stable log-sum-exp of row ``i``)."""
    m = Z[i, 0]
    for k in range(1, Z.shape[1]):
        m = max(m, Z[i, k])
    e = 0.0
    for k in range(Z.shape[1]):
        e += np.exp(Z[i, k] - m)
    return m, e


@njit(cache=True)
def _softmax_objective(Z, yidx, W, a1, a2):  # pragma: no cover - compiled
    """``mean_i [logsumexp(Z_i) - Z_{i, y_i}] + a1 ||W||_1 + a2 ||W||^2 / 2``."""
    n, K = Z.shape
    s = 0.0
    for i in range(n):
        m, e = _row_max_sumexp(Z, i)
        s += m + np.log(e) - Z[i, yidx[i]]
    pen = 0.0
    for j in range(W.shape[0]):
        for k in range(K):
            pen += a1 * abs(W[j, k]) + 0.5 * a2 * W[j, k] * W[j, k]
    return s / n + pen


@njit(cache=True)
def _softmax_grad(Z, yidx, k, g, h):  # pragma: no cover - compiled
    """Class ``k``'s loss gradient ``(P_k - Y_k) / n`` and Hessian diagonal
    ``P_k (1 - P_k) / n`` in sample space."""
    n = Z.shape[0]
    for i in range(n):
        m, e = _row_max_sumexp(Z, i)
        pk = np.exp(Z[i, k] - m) / e
        g[i] = (pk - (1.0 if yidx[i] == k else 0.0)) / n
        h[i] = pk * (1.0 - pk) / n


@njit(cache=True)
def _softmax_kkt(X, data, indices, indptr, sparse, Z, yidx, W, a1, a2,
                 fit_intercept):  # pragma: no cover - compiled
    """Largest KKT violation over all classes, features and intercepts."""
    n, K = Z.shape
    p = W.shape[0]
    g = np.empty(n)
    h = np.empty(n)
    grad = np.empty(p)
    lips = np.empty(p)
    ws = np.arange(p)
    kkt = 0.0
    for k in range(K):
        _softmax_grad(Z, yidx, k, g, h)
        wk = np.ascontiguousarray(W[:, k])
        kkt = max(kkt, _ws_stats(X, data, indices, indptr, sparse, g, h, wk, ws, a1, a2, grad,
                                 lips))
        if fit_intercept:
            kkt = max(kkt, abs(g.sum()))
    return kkt


@njit(cache=True)
def _softmax_sweep(X, data, indices, indptr, sparse, Z, yidx, W, c, a1, a2, fit_intercept,
                   max_cd, stop):  # pragma: no cover - compiled
    """One proximal Newton step per class block ``(W[:, k], c[k])`` with its exact Hessian
    ``X^T diag(p_k (1 - p_k)) X / n`` (Nutini et al. 2022, Sec. 5.2, blocks = classes;
    Friedman, Hastie & Tibshirani 2010, Sec. 4), each with an Armijo search on F."""
    n, K = Z.shape
    p = W.shape[0]
    ws = np.arange(p)
    g = np.empty(n)
    h = np.empty(n)
    xd = np.empty(n)
    delta = np.empty(p)
    grad = np.empty(p)
    lips = np.empty(p)
    zk = np.empty(n)
    wk_old = np.empty(p)
    for k in range(K):
        _softmax_grad(Z, yidx, k, g, h)
        wk = np.ascontiguousarray(W[:, k])
        kkt = _ws_stats(X, data, indices, indptr, sparse, g, h, wk, ws, a1, a2, grad, lips)
        gsum = g.sum()
        if fit_intercept:
            kkt = max(kkt, abs(gsum))
        if kkt <= stop:
            continue
        dc = _model_cd(X, data, indices, indptr, sparse, h, wk, ws, grad, lips, gsum, h.sum(),
                       a1, a2, fit_intercept, max_cd, 0.3 * kkt, delta, xd)
        f_old = _softmax_objective(Z, yidx, W, a1, a2)
        dec = _model_decrease(grad, wk, ws, delta, gsum, dc, a1, a2)
        for i in range(n):
            zk[i] = Z[i, k]
        for j in range(p):
            wk_old[j] = wk[j]
        step = 1.0
        for _ls in range(30):
            for i in range(n):
                Z[i, k] = zk[i] + step * xd[i]
            for j in range(p):
                W[j, k] = wk_old[j] + step * delta[j]
            f_new = _softmax_objective(Z, yidx, W, a1, a2)
            if f_new <= f_old + 1e-4 * step * dec + 1e-14 * abs(f_old):
                break
            step *= 0.5
        c[k] += step * dc


def softmax_newton(
    X,
    y: np.ndarray,
    n_classes: int,
    a1: float,
    a2: float = 0.0,
    fit_intercept: bool = False,
    tol: float = 1e-6,
    max_iter: int = 100,
    max_cd: int = 20,
) -> LogisticWorkingSetResult:
    """Multinomial (softmax) logistic regression with L1 / L2 penalty by class-block proximal
    Newton.

    Minimizes ``mean_i [logsumexp(x_i^T W + c) - x_i^T W_{y_i} - c_{y_i}] + a1 ||W||_1
    + a2 ||W||^2 / 2``. Each iteration takes one proximal Newton step per class block (the
    block's exact Hessian, its model minimized by numba coordinate descent, Armijo search on
    the objective); stops when the largest KKT violation is ``<= tol``.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n, p)
    y : ndarray of shape (n,)
        Class indices in ``0 .. n_classes - 1``.
    n_classes : int
    a1, a2 : float
        L1 and L2 weights (of the mean loss).
    fit_intercept : bool
        Fit unpenalized intercepts (defined up to a common shift).
    tol : float
        KKT tolerance.
    max_iter : int
        Sweeps over the classes.
    max_cd : int
        Coordinate-descent passes per Newton model.

    Returns
    -------
    LogisticWorkingSetResult
        ``coef`` of shape (p, n_classes), ``intercept`` an array of n_classes, ``dual_gap``
        ``nan``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((90, 4)); y = np.argmax(X[:, :3], axis=1)
    >>> res = softmax_newton(X, y, 3, 0.0, 0.01, tol=1e-10)
    >>> bool(res.kkt <= 1e-10), res.coef.shape
    (True, (4, 3))

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    .. [2] J. Friedman, T. Hastie, R. Tibshirani. Regularization paths for generalized linear
       models via coordinate descent. J. Stat. Softw. 33(1), 2010.
    """
    n, p = X.shape
    yidx = np.asarray(y, dtype=np.int64).ravel()
    _, Xd, data, indices, indptr, sparse = _numba_design(X)
    W = np.zeros((p, n_classes))
    c = np.zeros(n_classes)
    Z = np.zeros((n, n_classes))
    kkt = np.inf
    it = 0
    while it < max_iter:
        kkt = _softmax_kkt(Xd, data, indices, indptr, sparse, Z, yidx, W, a1, a2,
                           fit_intercept)
        if kkt <= tol:
            break
        it += 1
        _softmax_sweep(Xd, data, indices, indptr, sparse, Z, yidx, W, c, a1, a2,
                       fit_intercept, max_cd, 0.3 * kkt)
    else:
        kkt = _softmax_kkt(Xd, data, indices, indptr, sparse, Z, yidx, W, a1, a2,
                           fit_intercept)
    return LogisticWorkingSetResult(coef=W, intercept=c, kkt=float(kkt), n_iter=it,
                                    dual_gap=np.nan)


def _numba_design(X):
    """``(X, Xd, data, indices, indptr, sparse)``: ``X`` as CSC with its arrays, or as a
    Fortran array ``Xd``."""
    if sp.issparse(X):
        X = sp.csc_matrix(X, dtype=np.float64)
        X.sort_indices()
        return (X, np.empty((0, 0)), X.data, X.indices.astype(np.int64),
                X.indptr.astype(np.int64), True)
    X = np.asfortranarray(X, dtype=np.float64)
    return X, X, np.empty(0), np.empty(0, np.int64), np.empty(1, np.int64), False


def logistic_kkt(X, y, w, c, a1, a2, fit_intercept, z=None) -> tuple[float, np.ndarray]:
    """Largest KKT violation and the per-feature scores at ``(w, c)`` (``z = X w + c``).

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n, p)
        Design.
    y : ndarray of shape (n,)
        Labels in {-1, +1}.
    w : ndarray of shape (p,)
        Coefficients.
    c : float
        Intercept.
    a1, a2 : float
        L1 and L2 penalty weights (objective in the module docstring).
    fit_intercept : bool
        Include the intercept's gradient in the violation.
    z : ndarray of shape (n,), optional
        Precomputed ``X w + c``.

    Returns
    -------
    kkt : float
        Largest violation over the features (and the intercept).
    score : ndarray of shape (p,)
        Distance of each ``-grad_j`` to the subdifferential of the penalty.
    """
    kkt, score, _ = _kkt_gap(X, y, w, c, a1, a2, fit_intercept, z, with_gap=False)
    return kkt, score


def _kkt_gap(X, y, w, c, a1, a2, fit_intercept, z, with_gap):
    """KKT violation, scores and (``with_gap``: L1, no intercept) the duality gap at ``w``.

    The gap shares ``X^T g`` with the scores: the dual norm of
    :func:`logistic_duality_gap` is ``n ||X^T g||_inf / n = ||grad||_inf``.
    """
    if z is None:
        z = np.asarray(X @ w).ravel() + c
    sig = expit(-y * z)
    g = -y * sig / len(y)
    grad = (np.asarray(X.T @ g).ravel() if sp.issparse(X) else _xt_dense(X, g)) + a2 * w
    score = np.where(w != 0, np.abs(grad + a1 * np.sign(w)), np.maximum(np.abs(grad) - a1, 0))
    kkt = float(score.max(initial=0.0))
    if fit_intercept:
        kkt = max(kkt, abs(float(g.sum())))
    gap = _gap(y, z, sig, w, a1, float(np.max(np.abs(grad), initial=0.0))) if with_gap \
        else np.nan
    return kkt, score, gap


def _gap(y, z, sig, w, a1, dual_norm) -> float:
    """Gap of :func:`logistic_duality_gap` from ``z = X w``, ``sig = sigma(-y z)`` and the dual
    norm ``||X^T (y sig)||_inf / n``."""
    n = len(y)
    primal = -float(np.sum(log_expit(y * z))) / n + a1 * float(np.abs(w).sum())
    s = sig * (min(1.0, a1 / dual_norm) if dual_norm > 0 else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(s > 0, s * np.log(s), 0.0) + np.where(s < 1, (1 - s) * np.log1p(-s), 0.0)
    return float(max(primal + float(ent.sum()) / n, 0.0))


def logistic_duality_gap(X, y: np.ndarray, w: np.ndarray, a1: float) -> float:
    """Duality gap of ``(1/n) sum log(1 + exp(-y_i x_i^T w)) + a1 ||w||_1`` (no intercept).

    The dual point is ``theta_i = y_i sigma(-y_i x_i^T w) / n``, rescaled into
    ``||X^T theta||_inf <= a1``; ``D(theta) = -(1/n) sum [s log s + (1 - s) log(1 - s)]`` with
    ``s_i = n y_i theta_i``.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n, p)
    y : ndarray of shape (n,), values +-1
    w : ndarray of shape (p,)
    a1 : float

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.eye(2); y = np.array([1.0, -1.0])
    >>> round(logistic_duality_gap(X, y, np.zeros(2), 10.0), 12)
    0.0
    """
    z = np.asarray(X @ w).ravel()
    sig = expit(-y * z)
    dual_norm = float(np.max(np.abs(X.T @ (y * sig)), initial=0.0)) / len(y)
    return _gap(y, z, sig, w, a1, dual_norm)


def logistic_working_set(
    X,
    y: np.ndarray,
    a1: float,
    a2: float = 0.0,
    fit_intercept: bool = False,
    w0: np.ndarray | None = None,
    tol: float = 1e-6,
    max_iter: int = 100,
    max_pn: int = 50,
    max_cd: int = 20,
    gap_tol: float | None = None,
) -> LogisticWorkingSetResult:
    """L1/L2 binary logistic regression by working-set proximal Newton.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n, p)
    y : ndarray of shape (n,), values -1 and +1
    a1, a2 : float
        L1 and L2 weights (of the mean loss).
    fit_intercept : bool
        Fit an unpenalized intercept.
    w0 : ndarray of shape (p,), optional
        Warm start.
    tol : float
        Stop when the largest KKT violation is below ``tol`` (ignored if ``gap_tol`` is set).
    max_iter : int
        Outer (working-set) iterations.
    max_pn, max_cd : int
        Proximal-Newton steps per working set, coordinate-descent passes per step.
    gap_tol : float, optional
        Stop instead when the duality gap (:func:`logistic_duality_gap`) is ``<= gap_tol``; L1
        problems without intercept only (``a2 = 0``, ``fit_intercept=False``). A KKT
        tolerance does not bound the gap: the gap is about ``kkt * ||w||_1``, and a nearly
        separable problem at small ``a1`` has a large ``||w||_1``.

    Returns
    -------
    LogisticWorkingSetResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 20)); y = np.sign(X[:, 0] + 0.1)
    >>> res = logistic_working_set(X, y, 0.05, tol=1e-10)
    >>> int(np.argmax(np.abs(res.coef)))
    0

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    n, p = X.shape
    if gap_tol is not None and (a2 != 0.0 or fit_intercept):
        raise ValueError("gap_tol: only for a2 = 0 and fit_intercept=False (use tol)")
    X, Xd, data, indices, indptr, sparse = _numba_design(X)
    w = np.zeros(p) if w0 is None else np.array(w0, dtype=np.float64)
    c = np.zeros(1)
    kkt = np.inf
    it = 0
    full = a1 == 0.0
    # the predictor is kept up to date by the Newton steps: one pass over X per round
    z = np.asarray(X @ w).ravel() if w0 is not None else np.zeros(n)
    with_gap = gap_tol is not None
    gap = np.nan
    while it < max_iter:
        it += 1
        kkt, score, gap = _kkt_gap(X, y, w, c[0], a1, a2, fit_intercept, z, with_gap)
        if (gap <= gap_tol) if with_gap else (kkt <= tol):
            break
        support = np.flatnonzero(w)
        ws_size = p if full else min(p, max(_P0, 2 * support.size))
        score[support] = np.inf
        if ws_size < p:
            ws = np.sort(np.argpartition(-score, ws_size - 1)[:ws_size]).astype(np.int64)
        else:
            ws = np.arange(p, dtype=np.int64)
        _prox_newton(Xd, data, indices, indptr, sparse, y, w, c, z, ws, a1, a2, fit_intercept,
                     max_pn, max_cd, 0.3 * kkt if ws_size < p or with_gap else tol)
    else:
        kkt, _, gap = _kkt_gap(X, y, w, c[0], a1, a2, fit_intercept, None, with_gap)
    if not with_gap and a2 == 0.0 and not fit_intercept:
        gap = logistic_duality_gap(X, y, w, a1)
    return LogisticWorkingSetResult(coef=w, intercept=float(c[0]), kkt=float(kkt), n_iter=it,
                                    dual_gap=float(gap))
