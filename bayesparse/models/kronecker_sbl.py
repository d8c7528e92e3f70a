"""``KroneckerSBL``: SBL with a Kronecker dictionary (KroSBL, PC-KroSBL, or a diagonal prior).

He & Joseph, "Bayesian Algorithms for Kronecker-structured Sparse Vector Recovery With
Application to IRS-MIMO Channel Estimation", IEEE TSP 2024 (arXiv 2307.14719). The estimator
holds the model ``y = (A_1 ⊗ … ⊗ A_d) x + n`` with ``x ~ CN(0, diag(γ_1 ⊗ … ⊗ γ_d))``
(``prior="kronecker"``) or ``x ~ CN(0, diag(γ))`` (``prior="diagonal"``) and its options; the
EM solver (AM / SVD M-steps, pattern coupling, pruning, E-steps through the factors, never the
Kronecker dictionary or the dense posterior) is
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
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from bayesparse.inference.kronecker_sbl import check_kronecker_problem, kronecker_sbl
from bayesparse.models.sbl import store_result
from bayesparse.sparse import Kronecker

__all__ = ["KroneckerSBL"]


class KroneckerSBL(BaseEstimator):
    """Sparse Bayesian learning with a Kronecker dictionary (AM-, SVD- and PC-KroSBL).

    Parameters
    ----------
    prior : {"kronecker", "diagonal"}, default="kronecker"
        ``"kronecker"``: prior variances ``γ_1 ⊗ … ⊗ γ_d`` (KroSBL), for supports that are a
        product of per-factor supports (angular channels, separable images). ``"diagonal"``:
        one variance per entry of ``x`` (classic SBL), for supports at arbitrary positions;
        the dictionary is still never formed.
    method : {"svd", "am", "em", "mackay"} or None, default=None
        Kronecker prior: the M-step, ``"svd"`` (rank-one fit; ``None`` picks it) or ``"am"``
        (alternating minimisation over the factors, needed for ``coupling``; use it with
        ``prune_rel=1e-2``). Diagonal prior: ``"mackay"`` updates (``None`` picks them; the
        algorithm of :class:`~bayesparse.models.sbl.SBLRegression`) or ``"em"`` (more
        accurate, slower: see ``docs/sbl.md``).
    noise_variance : float or None, default=None
        Known ``σ² > 0``; ``None`` learns it by EM.
    coupling : float, sequence of (float or None), or None, default=None
        Pattern-coupling ``β`` per factor (PC-KroSBL, ``method="am"``), e.g.
        ``(0.8, None, 0.8)`` couples the first and last factors; a scalar couples all.
    coupling_wrap : bool or sequence of bool, default=False
        Also couple the first and last grid entries of a coupled factor (circulant ``C_β``);
        the paper's code does not.
    max_iter : int, default=150
        Maximum number of EM iterations.
    tol : float, default=1e-4
        Stop when ``‖Δγ‖/‖γ‖ ≤ tol`` (paper's rule).
    inner_tol : float, default=1e-4
        AM inner-loop tolerance.
    prune_abs : float, default=1e-4
        Prune variances below this.
    prune_rel : float, sequence or None, default=None
        Kronecker prior: prune factor entries below ``prune_rel[i] * max(γ_i)``. Diagonal
        prior: prune entries below ``prune_rel * max(γ)`` (a scalar). ``None``: ``1e-4`` for
        ``method="mackay"`` (the diagonal prior's default), ``1e-3`` otherwise.

    Attributes
    ----------
    coef_ : (N,) array
        Posterior mean of ``x`` (np.kron order).
    coef_var_ : (N,) array
        Posterior variances ``diag(Σ)``.
    gamma_ : (N,) array
        Prior variances of ``x`` (``γ_1 ⊗ … ⊗ γ_d`` for the Kronecker prior).
    gammas_ : list of arrays or None
        Kronecker prior: factor variances ``γ_i`` (0 where pruned). ``None`` for the
        diagonal prior.
    active_ : list of int arrays or None
        Kronecker prior: surviving entries of each factor. ``None`` for the diagonal prior.
    support_ : SparseTensor (1 x N pattern)
        Surviving entries of ``x`` (for the Kronecker prior ``active_1 × … × active_d``).
    sizes_ : list of int
        Column counts of the fitted factors.
    noise_variance_ : float
        Given or learned ``σ²``.
    n_iter_ : int
        EM iterations run.
    cost_ : list of float
        SBL cost per iteration.
    converged_ : bool
        Whether the stopping rule was met before ``max_iter``.

    References
    ----------
    He & Joseph, IEEE TSP 2024 (arXiv 2307.14719); Tipping, JMLR 2001 (MacKay updates of the
    diagonal prior); Wipf & Rao, IEEE TSP 2004 (its EM updates). The solver is
    :func:`bayesparse.inference.kronecker_sbl.kronecker_sbl`.
    """

    _parameter_constraints: dict = {
        "prior": [StrOptions({"kronecker", "diagonal"})],
        "method": [StrOptions({"svd", "am", "em", "mackay"}), None],
        "noise_variance": [Interval(Real, 0, None, closed="neither"), None],
        "coupling": [Interval(Real, 0, 1, closed="both"), "array-like", None],
        "coupling_wrap": ["boolean", "array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "inner_tol": [Interval(Real, 0, None, closed="left")],
        "prune_abs": [Interval(Real, 0, None, closed="left")],
        "prune_rel": [Interval(Real, 0, 1, closed="left"), "array-like", None],
    }

    def __init__(
        self, prior: str = "kronecker", method: str | None = None,
        noise_variance: float | None = None,
        coupling: float | Sequence[float | None] | None = None,
        coupling_wrap: bool | Sequence[bool] = False, max_iter: int = 150,
        tol: float = 1e-4, inner_tol: float = 1e-4, prune_abs: float = 1e-4,
        prune_rel: float | Sequence[float] | None = None,
    ) -> None:
        self.prior = prior
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
        store_result(self, kronecker_sbl(factors, y, **self.get_params()))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise AttributeError("KroneckerSBL: not fitted yet; call fit(factors, y) first")

    def predict(self, factors: Sequence[Any]) -> np.ndarray:
        """Noiseless measurements ``(A_1 ⊗ … ⊗ A_d) coef_`` for (new) factors.

        Parameters
        ----------
        factors : list of (m_i, n_i) arrays
            Factors with the fitted column counts ``n_i``.

        Returns
        -------
        ndarray (m_1 ⋯ m_d,)
            In ``np.kron`` (row-major) order.
        """
        self._check_fitted()
        As = [np.asarray(A) for A in factors]
        if [A.shape[1] if A.ndim == 2 else None for A in As] != self.sizes_:
            raise ValueError(f"factors: expected {len(self.sizes_)} matrices with "
                             f"{self.sizes_} columns")
        check_kronecker_problem(As, np.zeros(math.prod(A.shape[0] for A in As)))
        return Kronecker(As) @ self.coef_
