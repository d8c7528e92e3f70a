"""``SBLRegression``: classic sparse Bayesian learning as a scikit-learn regressor.

The estimator wires :func:`bayesparse.inference.sbl.sbl` (Tipping 2001 MacKay updates; Wipf &
Rao 2004 EM updates; Woodbury ``M x M`` solves when there are fewer rows than active columns)
into the scikit-learn API, for real or complex data. With ``method="mackay"`` and a learned
noise variance updated from the start (``noise_warmup=0``) the model is sklearn's
``ARDRegression`` with vanishing Gamma hyper-priors.

Examples
--------
>>> import numpy as np
>>> from bayesparse.models.sbl import SBLRegression
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(40, 80)); w = np.zeros(80); w[[5, 30]] = [2.0, -1.0]
>>> model = SBLRegression(fit_intercept=False).fit(X, X @ w + 0.01 * rng.normal(size=40))
>>> np.flatnonzero(np.abs(model.coef_) > 0.1).tolist()
[5, 30]
>>> mean, std = model.predict(X[:2], return_std=True)
>>> mean.shape, bool(np.all(std > 0))
((2,), True)
"""

from __future__ import annotations

import warnings
from dataclasses import fields
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from bayesparse.inference.sbl import sbl

__all__ = ["SBLRegression"]


def store_result(estimator: BaseEstimator, result: Any) -> None:
    """Keep a solver's result dataclass as fitted attributes (``coef`` → ``coef_``, …) and warn
    with sklearn's ``ConvergenceWarning`` when it stopped at ``max_iter``.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted (its ``max_iter`` and ``tol`` go into the warning).
    result : dataclass
        :class:`~bayesparse.inference.sbl.SBLResult` or
        :class:`~bayesparse.inference.kronecker_sbl.KroneckerSBLResult`.
    """
    for f in fields(result):
        setattr(estimator, f.name + "_", getattr(result, f.name))
    if not result.converged:
        # stacklevel 4: past this helper, fit and sklearn's _fit_context, at the user's call
        warnings.warn(f"{type(estimator).__name__}: reached max_iter={estimator.max_iter} "
                      f"before the relative change of γ fell below tol={estimator.tol}; "
                      "increase max_iter", ConvergenceWarning, stacklevel=4)


def _is_complex(a: Any) -> bool:
    dtype = getattr(a, "dtype", None)
    if dtype is None or not hasattr(dtype, "kind"):
        dtype = np.asarray(a).dtype
    return dtype.kind == "c"


def _check_complex(X: Any, name: str, ensure_2d: bool) -> np.ndarray:
    """sklearn's validators refuse complex input; check real and imaginary parts instead."""
    X = np.asarray(X)
    check_array(X.real, ensure_2d=ensure_2d, input_name=name)
    check_array(X.imag, ensure_2d=ensure_2d, input_name=name)
    return X.astype(np.complex128, copy=False)


class SBLRegression(RegressorMixin, BaseEstimator):
    """Sparse Bayesian learning (relevance vector / ARD regression), EM or MacKay updates.

    Parameters
    ----------
    method : {"em", "mackay"}, default="mackay"
        Hyperparameter updates: EM (Wipf & Rao) or MacKay's fixed point (Tipping), faster.
        With learned noise use ``"mackay"``: under EM updates the learned ``σ²`` collapses
        towards 0 when there are fewer samples than features.
    noise_variance : float or None, default=None
        Known noise variance ``σ² > 0``; ``None`` learns it (held at ``0.1 ‖y‖²/n`` for the
        first 100 iterations, then updated; see :func:`bayesparse.inference.sbl.sbl`).
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` (the intercept is not shrunk).
    max_iter : int, default=300
    tol : float, default=1e-4
        Stop when ``‖Δγ‖ / ‖γ‖ ≤ tol``.
    prune_rel : float, default=1e-4
        Drop columns with ``γ_i < prune_rel * max(γ)`` (the paper's classic-SBL rule).
    noise_warmup : int, default=100
        With learned noise, iterations during which ``σ²`` is held at ``0.1 ‖y‖²/n`` before
        it is updated; ``0`` updates it from the start (sklearn's ``ARDRegression``).

    Attributes
    ----------
    coef_ : (n_features,) array
        Posterior mean of the weights (real or complex).
    gamma_ : (n_features,) array
        Prior variances ``γ`` (0 for pruned features).
    sigma_ : (n_active, n_active) array
        Posterior covariance over ``active_``.
    active_ : (n_active,) int array
    noise_variance_ : float
    intercept_ : float or complex
    n_iter_ : int
    cost_ : list of float
        SBL cost ``log|Σ_y| + y^H Σ_y^{-1} y`` per iteration.
    coef_var_ : (n_features,) array
        Posterior variances (0 for pruned features).
    converged_ : bool
        Whether the stopping rule was met before ``max_iter``.

    References
    ----------
    Tipping, "Sparse Bayesian learning and the relevance vector machine", JMLR 1, 2001;
    Wipf & Rao, "Sparse Bayesian learning for basis selection", IEEE TSP 52(8), 2004. The
    solver is :func:`bayesparse.inference.sbl.sbl`.
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"em", "mackay"})],
        "noise_variance": [Interval(Real, 0, None, closed="neither"), None],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "prune_rel": [Interval(Real, 0, 1, closed="left")],
        "noise_warmup": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self, method: str = "mackay", noise_variance: float | None = None,
        fit_intercept: bool = True, max_iter: int = 300, tol: float = 1e-4,
        prune_rel: float = 1e-4, noise_warmup: int = 100,
    ) -> None:
        self.method = method
        self.noise_variance = noise_variance
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.prune_rel = prune_rel
        self.noise_warmup = noise_warmup

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> SBLRegression:
        """Fit the posterior and the hyperparameters.

        Parameters
        ----------
        X : (n_samples, n_features) array
            Dictionary, real or complex.
        y : (n_samples,) array
            Targets, real or complex.

        Returns
        -------
        self : SBLRegression
        """
        if _is_complex(X) or _is_complex(y):
            X = _check_complex(X, "X", True)
            y = _check_complex(y, "y", False).ravel()
            validate_data(self, X.real, y.real, y_numeric=True)
        else:
            X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), y.mean()
            Xc, yc = X - x_mean, y - y_mean
        else:
            x_mean, y_mean = np.zeros(X.shape[1], X.dtype), 0.0
            Xc, yc = X, y
        if np.vdot(yc, yc).real == 0:
            # constant target: nothing to explain, the empty model is exact
            yc = yc + np.finfo(float).eps
        params = self.get_params()
        del params["fit_intercept"]  # the only option that is not the solver's
        store_result(self, sbl(Xc, yc, **params))
        self.intercept_ = y_mean - x_mean @ self.coef_
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predictive mean, and with ``return_std`` the predictive standard deviation.

        Parameters
        ----------
        X : (n_samples, n_features) array
            Inputs, real or complex.
        return_std : bool, default=False
            Also return ``sqrt(σ² + x_a^H Σ x_a)`` over the active features ``a``.

        Returns
        -------
        mean : (n_samples,) array
        std : (n_samples,) array
            Only with ``return_std=True``.
        """
        check_is_fitted(self)
        if _is_complex(X):
            X = _check_complex(X, "X", True)
            validate_data(self, X.real, reset=False)
        else:
            X = validate_data(self, X, reset=False, dtype=np.float64)
        mean = X @ self.coef_ + self.intercept_
        if not return_std:
            return mean
        Xa = X[:, self.active_]
        var = np.real(np.sum((Xa @ self.sigma_) * Xa.conj(), axis=1))
        return mean, np.sqrt(np.clip(var, 0.0, None) + self.noise_variance_)
