"""scikit-learn estimators on block coordinate descent: Lasso, elastic net and their path.

``BCDElasticNet`` minimizes ``||y - X w - c||^2 / (2 n) + alpha l1_ratio ||w||_1
+ alpha (1 - l1_ratio) ||w||^2 / 2`` (scikit-learn's objective) and ``BCDLasso`` is its
``l1_ratio = 1`` case. ``selection="working_set"`` (default) runs the fast path
(:func:`bayesparse.optim.bcd.enet_working_set`: KKT-violation working sets, numba epochs);
any rule of :data:`bayesparse.optim.bcd.SELECTION_RULES` runs the block solver of Nutini,
Laradji & Schmidt (JMLR 2022) with ``block_size`` and ``update``. Both stop at a relative
duality gap ``gap <= tol * ||y - mean(y)||^2 / (2 n)`` and report ``dual_gap_``.

References
----------
.. [1] J. Nutini, I. Laradji, M. Schmidt. Let's Make Block Coordinate Descent Converge Faster.
   JMLR 23(131), 2022.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from bayesparse.optim.bcd.rules import SELECTION_RULES
from bayesparse.optim.bcd.solver import bcd_least_squares
from bayesparse.optim.bcd.working_set import EnetDesign, enet_duality_gap, enet_working_set
from bayesparse.rng import check_generator
from bayesparse.sparse import SparseTensor


def _as_matrix(X):
    return X.to_scipy("csr") if isinstance(X, SparseTensor) else X


def _center(X, y: np.ndarray, fit_intercept: bool):
    """Centred data (dense), or column means to subtract implicitly (sparse)."""
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), 0.0, None
    y_mean = float(y.mean())
    x_mean = np.asarray(X.mean(axis=0)).ravel()
    if sp.issparse(X):
        return X, y - y_mean, x_mean, y_mean, x_mean
    return X - x_mean, y - y_mean, x_mean, y_mean, None


def _solve_enet(X, y, a1, a2, tol_abs, max_iter, selection, block_size, update, w0, rng,
                offset):
    """One elastic-net solve; returns ``(coef, gap, n_iter)``."""
    if selection == "working_set":
        if block_size != 1 or update != "gradient":
            raise ValueError(
                "selection='working_set' updates one coordinate exactly: use block_size=1 and "
                "update='gradient', or pick a rule from SELECTION_RULES for blocks"
            )
        res = enet_working_set(X, y, a1, a2, w0=w0, tol=tol_abs, max_iter=max_iter,
                               X_offset=offset)
        return res.coef, res.dual_gap, res.n_iter
    n, p = X.shape
    A = X.toarray() - (0 if offset is None else offset) if sp.issparse(X) else np.asarray(X)
    # the L2 term is a least-squares term on sqrt(n a2) I rows: ||.||^2/2 + n a1 |w|_1
    if a2 > 0:
        A = np.vstack([A, np.sqrt(n * a2) * np.eye(p)])
        b = np.concatenate([y, np.zeros(p)])
    else:
        b = y
    w = np.zeros(p) if w0 is None else w0.copy()
    n_blocks = -(-p // block_size)
    gap, it = np.inf, 0
    while it < max_iter:
        it += 1
        # ten passes' worth of block updates between gap checks
        res = bcd_least_squares(A, b, lam=n * a1, block_size=block_size, selection=selection,
                                update=update, n_iter=10 * n_blocks, x0=w, random_state=rng)
        w = res.x
        gap = enet_duality_gap(A[:n], y, w, a1, a2)
        if gap <= tol_abs:
            break
    return w, gap, it


class BCDElasticNet(RegressorMixin, BaseEstimator):
    """Elastic net by (block) coordinate descent with greedy rules.

    Parameters
    ----------
    alpha : float, default=1.0
        Regularization strength (>= 0).
    l1_ratio : float, default=0.5
        Mix of L1 (1) and L2 (0).
    fit_intercept : bool, default=True
        Fit an unpenalized intercept (sparse X is centred implicitly, never densified).
    tol : float, default=1e-6
        Relative duality gap to stop at.
    max_iter : int, default=1000
        Maximum outer iterations (working-set rounds, or ten passes over the blocks).
    selection : str, default="working_set"
        ``"working_set"`` or a block rule: cyclic, random, lipschitz, gs, gsl, gsq.
    block_size : int, default=1
        Block size of the block rules.
    update : {"gradient", "matrix"}, default="gradient"
        Block update: proximal gradient step with ``1 / L_b``, or exact (needs ``l1_ratio=0``).
    warm_start : bool, default=False
        Start from the previous ``coef_``.
    random_state : None, int or numpy.random.Generator
        For the random rules.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
    dual_gap_ : float
        Duality gap at the solution, in objective units.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.models import BCDElasticNet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 8)); y = X[:, 0] + 1.0
    >>> m = BCDElasticNet(alpha=0.01, l1_ratio=0.7).fit(X, y)
    >>> bool(m.dual_gap_ <= 1e-6 * y.var() / 2)
    True

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "selection": [StrOptions({"working_set", *SELECTION_RULES})],
        "block_size": [Interval(Integral, 1, None, closed="left")],
        "update": [StrOptions({"gradient", "matrix"})],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, alpha: float = 1.0, l1_ratio: float = 0.5, fit_intercept: bool = True,
                 tol: float = 1e-6, max_iter: int = 1000, selection: str = "working_set",
                 block_size: int = 1, update: str = "gradient", warm_start: bool = False,
                 random_state=None) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.selection = selection
        self.block_size = block_size
        self.update = update
        self.warm_start = warm_start
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> BCDElasticNet:
        """Fit on ``X`` (dense, scipy.sparse or ``SparseTensor``) and targets ``y``.

        Parameters
        ----------
        X : array-like, scipy.sparse matrix or SparseTensor of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, _as_matrix(X), y, accept_sparse=["csr", "csc"],
                             dtype=np.float64, y_numeric=True)
        if self.update == "matrix" and self.l1_ratio > 0 and self.alpha > 0:
            raise ValueError("update='matrix' solves smooth blocks only: set l1_ratio=0 or "
                             "use update='gradient'")
        Xc, yc, x_mean, y_mean, offset = _center(X, y, self.fit_intercept)
        n = X.shape[0]
        a1 = self.alpha * self.l1_ratio
        a2 = self.alpha * (1.0 - self.l1_ratio)
        scale = max(float(yc @ yc) / (2 * n), np.finfo(float).tiny)
        w0 = self.coef_ if self.warm_start and hasattr(self, "coef_") else None
        rng = check_generator(self.random_state)
        coef, gap, n_iter = _solve_enet(Xc, yc, a1, a2, self.tol * scale, self.max_iter,
                                        self.selection, self.block_size, self.update, w0, rng,
                                        offset)
        if gap > self.tol * scale:
            warnings.warn(f"BCD did not reach the duality gap {self.tol * scale:.2e} (gap "
                          f"{gap:.2e}); increase max_iter", ConvergenceWarning, stacklevel=2)
        self.coef_ = coef
        self.intercept_ = float(y_mean - x_mean @ coef) if self.fit_intercept else 0.0
        self.n_iter_ = n_iter
        self.dual_gap_ = gap
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions ``X coef_ + intercept_``.

        Parameters
        ----------
        X : array-like, scipy.sparse matrix or SparseTensor of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, _as_matrix(X), accept_sparse=["csr", "csc"], dtype=np.float64,
                          reset=False)
        return np.asarray(X @ self.coef_).ravel() + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class BCDLasso(BCDElasticNet):
    """Lasso (``l1_ratio = 1``) by (block) coordinate descent with greedy rules.

    Parameters
    ----------
    alpha : float, default=1.0
    fit_intercept : bool, default=True
    tol : float, default=1e-6
        Relative duality gap to stop at.
    max_iter : int, default=1000
    selection : str, default="working_set"
    block_size : int, default=1
    update : {"gradient"}, default="gradient"
    warm_start : bool, default=False
    random_state : None, int or numpy.random.Generator

    Attributes
    ----------
    coef_, intercept_, n_iter_, dual_gap_ : see :class:`BCDElasticNet`.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.models import BCDLasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 8)); y = 2 * X[:, 1]
    >>> np.flatnonzero(BCDLasso(alpha=0.1).fit(X, y).coef_).tolist()
    [1]

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    """

    _parameter_constraints: dict = {
        k: v for k, v in BCDElasticNet._parameter_constraints.items() if k != "l1_ratio"
    }

    def __init__(self, alpha: float = 1.0, fit_intercept: bool = True, tol: float = 1e-6,
                 max_iter: int = 1000, selection: str = "working_set", block_size: int = 1,
                 update: str = "gradient", warm_start: bool = False, random_state=None) -> None:
        super().__init__(alpha=alpha, l1_ratio=1.0, fit_intercept=fit_intercept, tol=tol,
                         max_iter=max_iter, selection=selection, block_size=block_size,
                         update=update, warm_start=warm_start, random_state=random_state)

    def get_params(self, deep: bool = True) -> dict:
        params = super().get_params(deep)
        params.pop("l1_ratio", None)
        return params


def bcd_lasso_path(X, y, *, alphas=None, n_alphas: int = 100, eps: float = 1e-3,
                   tol: float = 1e-6, max_iter: int = 1000):
    """Lasso path with warm starts, like :func:`sklearn.linear_model.lasso_path`.

    No intercept is fitted (as in scikit-learn's ``lasso_path``).

    Parameters
    ----------
    X : array-like, scipy.sparse matrix or SparseTensor of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    alphas : array-like, optional
        Decreasing regularization strengths; by default ``n_alphas`` log-spaced values from
        ``alpha_max = ||X^T y||_inf / n`` down to ``eps * alpha_max``.
    n_alphas : int
    eps : float
    tol : float
        Relative duality gap (``gap <= tol * ||y||^2 / (2 n)``) at each alpha.
    max_iter : int

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
    coefs : ndarray of shape (n_features, n_alphas)
    dual_gaps : ndarray of shape (n_alphas,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 6)); y = X[:, 0]
    >>> alphas, coefs, gaps = bcd_lasso_path(X, y, n_alphas=5)
    >>> coefs.shape
    (6, 5)

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    """
    X = _as_matrix(X)
    if sp.issparse(X):
        X = sp.csc_matrix(X, dtype=np.float64)
    else:
        X = np.asfortranarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(X.data if sp.issparse(X) else X))):
        raise ValueError("X, y: must not contain NaN or inf")
    n = X.shape[0]
    if alphas is None:
        alpha_max = np.max(np.abs(X.T @ y)) / n
        alphas = alpha_max * np.logspace(0, np.log10(eps), n_alphas)
    alphas = np.sort(np.asarray(alphas, dtype=np.float64))[::-1]
    if np.any(alphas < 0):
        raise ValueError("alphas: must be >= 0")
    scale = max(float(y @ y) / (2 * n), np.finfo(float).tiny)
    coefs = np.zeros((X.shape[1], len(alphas)))
    gaps = np.zeros(len(alphas))
    # the design (CSC arrays, column norms) is prepared once; each alpha starts from the
    # previous solution and its residual, and its first working set holds that support
    design = EnetDesign(X)
    w = np.zeros(X.shape[1])
    r = y.copy()
    for k, a in enumerate(alphas):
        res = design.solve(y, a, 0.0, w, r, tol * scale, max_iter, 10_000)
        w, r = res.coef, res.residual
        coefs[:, k] = w
        gaps[k] = res.dual_gap
    return alphas, coefs, gaps
