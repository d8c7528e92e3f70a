"""Classic (vectorized) sparse Bayesian learning: EM and MacKay fixed-point updates.

Tipping, "Sparse Bayesian learning and the relevance vector machine", JMLR 2001 (MacKay
updates, eq. 16, 18); Wipf & Rao, "Sparse Bayesian learning for basis selection", IEEE TSP 2004
(EM updates, eq. 13-14). Model: :math:`y = \\Phi w + n`, :math:`w \\sim \\mathcal N(0,
\\mathrm{diag}(\\gamma))` (or :math:`\\mathcal{CN}` for complex data),
:math:`n \\sim \\mathcal N(0, \\sigma^2 I)`. The posterior is

.. math::

    \\Sigma = (\\Phi^H\\Phi/\\sigma^2 + \\Gamma^{-1})^{-1}, \\qquad
    \\mu = \\Sigma \\Phi^H y/\\sigma^2,

computed in whichever space is smaller: when the :math:`K` active columns outnumber the
:math:`M` rows, by Woodbury through the :math:`M\\times M` Cholesky factor of
:math:`\\Sigma_y = \\sigma^2 I + \\Phi\\Gamma\\Phi^H` (only ``diag(Σ)`` is formed, cost
:math:`O(M^2 K)`); otherwise through :math:`I + \\Gamma^{1/2}\\Phi^H\\Phi\\Gamma^{1/2}/\\sigma^2`
(:math:`K\\times K`, stable as :math:`\\gamma_i\\to 0`). Updates, with
:math:`\\rho_i = 1 - \\Sigma_{ii}/\\gamma_i`:

- EM: :math:`\\gamma_i \\leftarrow |\\mu_i|^2 + \\Sigma_{ii}`,
  :math:`\\sigma^2 \\leftarrow (\\|y-\\Phi\\mu\\|^2 + \\sigma^2 \\sum_i \\rho_i)/M`;
- MacKay: :math:`\\gamma_i \\leftarrow |\\mu_i|^2/\\rho_i`,
  :math:`\\sigma^2 \\leftarrow \\|y-\\Phi\\mu\\|^2/(M - \\sum_i \\rho_i)`.

Columns whose :math:`\\gamma_i` falls below ``prune_rel * max(γ)`` are removed. A learned
:math:`\\sigma^2` is held at its start for ``noise_warmup`` iterations before its rule runs.

Examples
--------
>>> import numpy as np
>>> from bayesparse.inference.sbl import sbl
>>> rng = np.random.default_rng(0)
>>> Phi = rng.normal(size=(30, 60)); w = np.zeros(60); w[[3, 17, 40]] = [1.0, -2.0, 0.5]
>>> res = sbl(Phi, Phi @ w, noise_variance=1e-6, method="mackay")
>>> np.flatnonzero(np.abs(res.coef) > 1e-3).tolist()
[3, 17, 40]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

__all__ = ["sbl", "SBLResult"]

_METHODS = ("em", "mackay")


@dataclass
class SBLResult:
    """What :func:`sbl` returns.

    Attributes
    ----------
    coef : (N,) array
        Posterior mean (zeros on pruned columns).
    gamma : (N,) array
        Prior variances (zeros on pruned columns).
    active : (K,) int array
        Surviving columns.
    sigma : (K, K) array
        Posterior covariance on the active columns.
    noise_variance : float
    n_iter : int
    cost : list of float
        ``log|Σ_y| + y^H Σ_y^{-1} y`` at the start of each iteration.
    converged : bool
    """

    coef: np.ndarray
    gamma: np.ndarray
    active: np.ndarray
    sigma: np.ndarray
    noise_variance: float
    n_iter: int
    cost: list[float] = field(default_factory=list)
    converged: bool = False


@dataclass
class _Posterior:
    mean: np.ndarray
    var: np.ndarray
    cost: float
    resid_sq: float
    rho_sum: float  # Σ_i (1 − Σ_ii/γ_i)


def _posterior(Phi: np.ndarray, g: np.ndarray, s2: float, y: np.ndarray,
               full: bool = False) -> tuple[_Posterior, np.ndarray | None]:
    M, K = Phi.shape
    if K > M:
        # Woodbury: everything through the M x M Cholesky factor of Σ_y.
        S = (Phi * g) @ Phi.conj().T
        S[np.diag_indices(M)] += s2
        L = np.linalg.cholesky(S)
        B = solve_triangular(L, Phi, lower=True, check_finite=False)
        b = solve_triangular(L, y, lower=True, check_finite=False)
        mean = g * (B.conj().T @ b)
        q = np.sum(np.abs(B) ** 2, axis=0)
        var = np.clip(g - g * g * q, 0.0, None)
        cost = 2.0 * float(np.sum(np.log(np.abs(np.diag(L))))) + float(np.vdot(b, b).real)
        sigma = None
        if full:
            Bg = B * g
            sigma = np.diag(g).astype(Bg.dtype) - Bg.conj().T @ Bg
    else:
        dg = np.sqrt(g)
        Pd = Phi * dg
        C = Pd.conj().T @ Pd / s2
        C[np.diag_indices(K)] += 1.0
        cf = cho_factor(C, lower=True, check_finite=False)
        u = Pd.conj().T @ y
        v = cho_solve(cf, u, check_finite=False)
        mean = dg * v / s2
        Cinv_diag = np.real(np.diag(cho_solve(cf, np.eye(K, dtype=C.dtype), check_finite=False)))
        var = g * np.clip(Cinv_diag, 0.0, None)
        logdet_c = 2.0 * float(np.sum(np.log(np.abs(np.diag(cf[0])))))
        quad = (float(np.vdot(y, y).real) - float(np.vdot(u, v).real) / s2) / s2
        cost = M * np.log(s2) + logdet_c + quad
        sigma = None
        if full:
            sigma = dg[:, None] * cho_solve(cf, np.eye(K, dtype=C.dtype),
                                            check_finite=False) * dg[None, :]
    resid = y - Phi @ mean
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(g > 0, 1.0 - var / g, 0.0)
    return _Posterior(mean, var, cost, float(np.vdot(resid, resid).real),
                      float(np.sum(rho))), sigma


def sbl(
    Phi: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "em",
    noise_variance: float | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
    prune_rel: float = 1e-4,
    noise_init: float = 1e-1,
    noise_warmup: int = 100,
) -> SBLResult:
    """Fit SBL to ``y ≈ Φ w`` (real or complex) and return the posterior and hyperparameters.

    Parameters
    ----------
    Phi : (M, N) array
        Dictionary (validated by the caller).
    y : (M,) array
    method : {"em", "mackay"}
    noise_variance : float or None
        Known ``σ² > 0``, or ``None`` to learn it.
    max_iter, tol : int, float
        Stop when ``‖Δγ‖/‖γ‖ ≤ tol``.
    prune_rel : float
        Remove columns with ``γ_i < prune_rel * max(γ)``; 0 disables.
    noise_init : float
        Learned noise only: ``σ²`` starts at ``noise_init * ‖y‖²/M``.
    noise_warmup : int
        Learned noise only: ``σ²`` is held for this many iterations (and the stopping rule is
        not checked) before its update runs, so that ``γ`` has concentrated first; updating
        from the start lets ``σ²`` collapse towards 0 (noise fitted by many small ``γ_i``).

    Returns
    -------
    SBLResult
    """
    if method not in _METHODS:
        raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
    if noise_variance is not None and not 0 < noise_variance < np.inf:
        raise ValueError(f"noise_variance: must be finite and > 0 (or None to learn it), got "
                         f"{noise_variance}; use a small positive value for noiseless data")
    if not 0 <= prune_rel < 1:
        raise ValueError(f"prune_rel: expected 0 <= prune_rel < 1, got {prune_rel}")
    if not 0 < noise_init < np.inf:
        raise ValueError(f"noise_init: expected a finite fraction > 0, got {noise_init}")
    if noise_warmup < 0:
        raise ValueError(f"noise_warmup: expected >= 0, got {noise_warmup}")
    M, N = Phi.shape
    learn = noise_variance is None
    if learn:
        s2 = max(noise_init * float(np.vdot(y, y).real) / M, 1e-12)
    else:
        s2 = float(noise_variance)
    active = np.arange(N)
    g = np.ones(N)
    cost: list[float] = []
    converged = False
    it = 0
    for _ in range(max_iter):
        it += 1
        keep = g >= prune_rel * g.max()
        if not keep.all():
            active, g = active[keep], g[keep]
        post, _ = _posterior(Phi[:, active], g, s2, y)
        cost.append(post.cost)
        old = np.zeros(N)
        old[active] = g
        amu2 = np.abs(post.mean) ** 2
        if method == "em":
            g = amu2 + post.var
        else:
            g = amu2 / np.maximum(1.0 - post.var / g, 1e-12)
        g = np.maximum(g, np.finfo(float).tiny)
        warm = learn and it <= noise_warmup
        if learn and not warm:
            if method == "em":
                s2 = (post.resid_sq + s2 * post.rho_sum) / M
            else:
                s2 = post.resid_sq / max(M - post.rho_sum, 1e-12)
            s2 = max(s2, 1e-12)
        new = np.zeros(N)
        new[active] = g
        if not warm and np.linalg.norm(new - old) <= tol * np.linalg.norm(old):
            converged = True
            break
    post, sigma = _posterior(Phi[:, active], g, s2, y, full=True)
    coef = np.zeros(N, dtype=np.result_type(Phi, y))
    coef[active] = post.mean
    gamma = np.zeros(N)
    gamma[active] = g
    return SBLResult(coef, gamma, active, sigma, s2, it, cost, converged)
