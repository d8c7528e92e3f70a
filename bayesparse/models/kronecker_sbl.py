"""``KroneckerSBL``: SBL with a Kronecker-structured dictionary and prior (KroSBL, PC-KroSBL).

He & Joseph, "Bayesian Algorithms for Kronecker-structured Sparse Vector Recovery With
Application to IRS-MIMO Channel Estimation", IEEE TSP 2024 (arXiv 2307.14719). The estimator
holds the model ``y = (A_1 ⊗ … ⊗ A_d) x + n``, ``x ~ CN(0, diag(γ_1 ⊗ … ⊗ γ_d))`` and its
options; the EM solver (AM / SVD M-steps, pattern coupling, pruning, per-factor
eigendecompositions instead of the dense posterior) is
:func:`bayesparse.inference.kronecker_sbl.kronecker_sbl`.

Examples
--------
>>> import numpy as np
>>> from bayesparse.datasets.irs_mimo import kronecker_problem
>>> from bayesparse.models.kronecker_sbl import KroneckerSBL
>>> p = kronecker_problem((32, 32), (16, 16), (3, 3), snr_db=30.0, random_state=0)
>>> model = KroneckerSBL(method="svd", noise_variance=p.noise_variance).fit(p.factors, p.y)
>>> err = np.sum(np.abs(model.coef_ - p.x) ** 2) / np.sum(np.abs(p.x) ** 2)
>>> bool(err < 1e-2), model.support_.shape
(True, (1, 1024))
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions

from bayesparse.inference.kronecker_sbl import check_kronecker_problem, kronecker_sbl
from bayesparse.sparse import Kronecker, SparseTensor

__all__ = ["KroneckerSBL"]


class KroneckerSBL(BaseEstimator):
    """Kronecker-structured sparse Bayesian learning (AM-, SVD- and PC-KroSBL).

    Parameters
    ----------
    method : {"am", "svd"}, default="svd"
        M-step: rank-one (SVD) fit, or alternating minimisation over the factors (needed for
        ``coupling``; use it with ``prune_rel=1e-2``).
    noise_variance : float or None, default=None
        Known ``σ² > 0``; ``None`` learns it by EM.
    coupling : float, sequence of (float or None), or None
        Pattern-coupling ``β`` per factor (PC-KroSBL, ``method="am"``), e.g.
        ``(0.8, None, 0.8)`` couples the first and last factors; a scalar couples all.
    coupling_wrap : bool or sequence of bool, default=False
        Also couple the first and last grid entries of a coupled factor (circulant ``C_β``);
        the paper's code does not.
    max_iter : int, default=150
    tol : float, default=1e-4
        Stop when ``‖Δγ‖/‖γ‖ ≤ tol`` (paper's rule).
    inner_tol : float, default=1e-4
        AM inner-loop tolerance.
    prune_abs : float, default=1e-4
        Prune factor entries whose variance falls below this.
    prune_rel : float or sequence, default=1e-3
        Prune factor entries below ``prune_rel[i] * max(γ_i)``.

    Attributes
    ----------
    coef_ : (N,) array
        Posterior mean of ``x`` (np.kron order).
    coef_var_ : (N,) array
        Posterior variances ``diag(Σ)``.
    gammas_ : list of arrays
        Factor variances ``γ_i`` (0 where pruned).
    active_ : list of int arrays
        Surviving entries of each factor.
    support_ : SparseTensor (1 x N pattern)
        Entries of ``x`` kept by the Kronecker support ``active_1 × … × active_d``.
    noise_variance_ : float
    n_iter_ : int
    cost_ : list of float
        SBL cost per iteration.
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"am", "svd"})],
        "noise_variance": [Interval(Real, 0, None, closed="neither"), None],
        "coupling": [Interval(Real, 0, 1, closed="both"), "array-like", None],
        "coupling_wrap": ["boolean", "array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "inner_tol": [Interval(Real, 0, None, closed="left")],
        "prune_abs": [Interval(Real, 0, None, closed="left")],
        "prune_rel": [Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    def __init__(
        self, method: str = "svd", noise_variance: float | None = None,
        coupling: float | Sequence[float | None] | None = None,
        coupling_wrap: bool | Sequence[bool] = False, max_iter: int = 150,
        tol: float = 1e-4, inner_tol: float = 1e-4, prune_abs: float = 1e-4,
        prune_rel: float | Sequence[float] = 1e-3,
    ) -> None:
        self.method = method
        self.noise_variance = noise_variance
        self.coupling = coupling
        self.coupling_wrap = coupling_wrap
        self.max_iter = max_iter
        self.tol = tol
        self.inner_tol = inner_tol
        self.prune_abs = prune_abs
        self.prune_rel = prune_rel

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, factors: Sequence[Any], y: Any) -> KroneckerSBL:
        """Fit to measurements ``y`` given the dictionary factors.

        Parameters
        ----------
        factors : list of (m_i, n_i) arrays
            Dictionary factors ``A_1, …, A_d``, real or complex.
        y : (m_1 ⋯ m_d,) or (m_1, …, m_d) array
            A vector in ``np.kron`` (row-major) order, or a tensor indexed by the factors'
            rows: for two factors ``Y = A_1 X A_2^T + N`` and ``coef_`` is ``X.ravel()``.

        Returns
        -------
        self : KroneckerSBL
        """
        res = kronecker_sbl(
            factors, y, method=self.method, noise_variance=self.noise_variance,
            coupling=self.coupling, coupling_wrap=self.coupling_wrap, max_iter=self.max_iter,
            tol=self.tol, inner_tol=self.inner_tol, prune_abs=self.prune_abs,
            prune_rel=self.prune_rel,
        )
        self.coef_ = res.coef
        self.coef_var_ = res.coef_var
        self.gammas_ = res.gammas
        self.active_ = res.active
        self.noise_variance_ = res.noise_variance
        self.n_iter_ = res.n_iter
        self.cost_ = res.cost
        if not res.converged:
            warnings.warn(f"KroneckerSBL: reached max_iter={self.max_iter} before the relative "
                          f"change of γ fell below tol={self.tol}; increase max_iter",
                          ConvergenceWarning, stacklevel=3)
        sizes = [g.size for g in res.gammas]
        flat = np.ravel_multi_index(np.ix_(*res.active), sizes).ravel()
        self.support_ = SparseTensor.from_rows([np.sort(flat)], math.prod(sizes))
        return self

    @property
    def gamma_(self) -> np.ndarray:
        """Full prior variances ``γ_1 ⊗ … ⊗ γ_d`` (length N)."""
        self._check_fitted()
        out = self.gammas_[0]
        for g in self.gammas_[1:]:
            out = np.kron(out, g)
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise AttributeError("KroneckerSBL: not fitted yet; call fit(factors, y) first")

    def predict(self, factors: Sequence[Any]) -> np.ndarray:
        """``(A_1 ⊗ … ⊗ A_d) coef_`` for (new) factors with the fitted column counts."""
        self._check_fitted()
        sizes = [g.size for g in self.gammas_]
        As = [np.asarray(A) for A in factors]
        if [A.shape[1] if A.ndim == 2 else None for A in As] != sizes:
            raise ValueError(f"factors: expected {len(sizes)} matrices with {sizes} columns")
        check_kronecker_problem(As, np.zeros(math.prod(A.shape[0] for A in As)))
        return Kronecker(As) @ self.coef_
