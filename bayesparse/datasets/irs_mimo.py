"""IRS-aided MIMO uplink channels and random Gaussian Kronecker problems for KroSBL.

The IRS-MIMO generator follows the channel-estimation experiment of He & Joseph, "Bayesian
Algorithms for Kronecker-structured Sparse Vector Recovery With Application to IRS-MIMO
Channel Estimation" (IEEE TSP 2024, arXiv 2307.14719, Sec. VI and their PC-KroSBL code).
A mobile with ``n_ms`` antennas sends ``n_pilots`` QPSK pilots ``X / sqrt(n_ms)`` through an IRS
of ``n_irs`` elements to a base station with ``n_bs`` antennas, once per IRS pattern
``θ_p ∈ {±1/sqrt(n_irs)}^{n_irs}``. Channels are angular-sparse on cos-angle grids
``θ_g = −1 + 2g/G`` with unit-norm half-wavelength ULA columns
``u(θ) = exp(jπ θ k)/sqrt(n)``:

.. math::

    H_2 = c_2\\, U_{bs} \\mathrm{diag}(\\alpha_2) a_{irs}(\\theta_d)^H, \\qquad
    H_1 = c_1\\, a_{irs}(\\theta_a) \\mathrm{diag}(\\alpha_1) u_{ms}(\\theta_{ms})^H,

with one mobile angle, three adjacent IRS-arrival and base-station bins and CN(0, 1) gains.
The received block for pattern ``p`` is ``H_2 diag(θ_p) H_1 X + N``; stacked over patterns,
pilots and BS antennas (row-major) it is ``y = (A_1 ⊗ A_2 ⊗ A_3) x + n`` with
``A_1 = Θ^T V`` (cascaded IRS steering ``V[n, g] = exp(jπ n(−1 − θ_g))/n_irs``),
``A_2 = X^T conj(U_ms)`` and ``A_3 = U_bs``; ``x`` has 9 non-zeros, its IRS bins at
``(d − a) mod G`` (so the block can wrap around). Pilots and patterns are drawn once
(:func:`irs_mimo_setup`); each draw (:func:`irs_mimo_draw`) has its own channel and noise with
the SNR set from its own noiseless received power.

The error metric (:meth:`IRSMIMOSetup.channel_nmse`) is the authors': the NMSE of the
``n_bs x n_ms`` cascaded channel ``H_2 diag(θ_p) H_1`` averaged over the training patterns.

Examples
--------
>>> import numpy as np
>>> from bayesparse.datasets.irs_mimo import irs_mimo_setup, irs_mimo_draw
>>> setup = irs_mimo_setup(random_state=0)
>>> [A.shape for A in setup.factors]
[(6, 18), (3, 18), (16, 18)]
>>> draw = irs_mimo_draw(setup, snr_db=20.0, random_state=1)
>>> draw.y.shape, int(np.count_nonzero(draw.x))
((288,), 9)
>>> bool(setup.channel_nmse(draw.x, draw) < 1e-20)
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from bayesparse.rng import RandomState, check_generator
from bayesparse.sparse import Kronecker

__all__ = [
    "IRSMIMOSetup", "IRSMIMODraw", "irs_mimo_setup", "irs_mimo_draw", "ula_dictionary",
    "KroneckerProblem", "kronecker_problem",
]


def ula_dictionary(n: int, grid: int) -> np.ndarray:
    """Unit-norm ULA steering columns on the cos-angle grid ``θ_g = −1 + 2g/grid``.

    Parameters
    ----------
    n : int
        Antennas (half-wavelength spacing).
    grid : int
        Grid points.

    Returns
    -------
    ndarray (n, grid), complex
        Columns ``exp(jπ θ_g k) / sqrt(n)``, ``k = 0 … n − 1``.

    References
    ----------
    He & Joseph, IEEE TSP 2024 (arXiv 2307.14719), Sec. VI (angular grids of the IRS-MIMO
    experiment).

    Examples
    --------
    >>> U = ula_dictionary(4, 4)
    >>> bool(np.allclose(U.conj().T @ U, np.eye(4)))
    True
    """
    theta = -1.0 + 2.0 * np.arange(grid) / grid
    return np.exp(1j * np.pi * np.outer(np.arange(n), theta)) / math.sqrt(n)


def _cn(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / math.sqrt(2.0)


@dataclass
class IRSMIMODraw:
    """One channel draw: measurements, ground truth and the true cascaded channels.

    Attributes
    ----------
    y : (P T n_bs,) complex array
        Noisy measurements, row-major over (pattern, pilot, BS antenna).
    x : (G^3,) complex array
        True angular coefficients (exact on the grid), row-major over (IRS, mobile, BS) bins.
    noise_variance : float
        ``σ²`` set from this draw's noiseless received power and ``snr_db``.
    channels : (P, n_bs, n_ms) complex array
        True cascaded channels ``H_2 diag(θ_p) H_1`` for the training patterns.
    snr_db : float
    """

    y: np.ndarray
    x: np.ndarray
    noise_variance: float
    channels: np.ndarray
    snr_db: float


@dataclass
class IRSMIMOSetup:
    """Pilots, IRS patterns and dictionaries, drawn once and shared by all channel draws.

    Attributes
    ----------
    factors : list of 3 complex arrays
        ``[A_1 = Θ^T V (P x G), A_2 = X^T conj(U_ms) (T x G), A_3 = U_bs (n_bs x G)]``.
    pilots : (n_ms, T) complex array
    patterns : (n_irs, P) real array
    u_ms, u_bs, u_irs : ULA dictionaries on the grid.
    """

    factors: list[np.ndarray]
    pilots: np.ndarray
    patterns: np.ndarray
    u_ms: np.ndarray
    u_bs: np.ndarray
    u_irs: np.ndarray
    angle_spread: int

    @property
    def grid(self) -> int:
        """Angle-grid points per dimension."""
        return self.u_ms.shape[1]

    def cascaded_channels(self, coef: np.ndarray) -> np.ndarray:
        """Cascaded channels implied by angular coefficients.

        Parameters
        ----------
        coef : (grid**3,) array
            Coefficients, row-major over (IRS, mobile, BS) bins.

        Returns
        -------
        ndarray (P, n_bs, n_ms)
        """
        G = self.grid
        X = np.asarray(coef).reshape(G, G, G)
        Z = np.tensordot(self.factors[0], X, axes=([1], [0]))  # (P, G_ms, G_bs)
        return np.einsum("bj,pij,mi->pbm", self.u_bs, Z, self.u_ms.conj())

    def channel_nmse(self, coef: np.ndarray, draw: IRSMIMODraw) -> float:
        """NMSE of the cascaded channel, averaged over the training patterns (the authors').

        Parameters
        ----------
        coef : (grid**3,) array
            Estimated coefficients.
        draw : IRSMIMODraw
            The draw they estimate.

        Returns
        -------
        float
        """
        est = self.cascaded_channels(coef)
        err = np.sum(np.abs(est - draw.channels) ** 2, axis=(1, 2))
        return float(np.mean(err / np.sum(np.abs(draw.channels) ** 2, axis=(1, 2))))


def irs_mimo_setup(
    n_ms: int = 6, n_bs: int = 16, n_irs: int = 256, grid: int = 18, n_pilots: int = 3,
    n_patterns: int = 6, angle_spread: int = 3,
    random_state: RandomState = None,
) -> IRSMIMOSetup:
    """Draw the QPSK pilots and ±1 IRS patterns once; defaults are the paper's sizes.

    Parameters
    ----------
    n_ms, n_bs, n_irs : int
        Antennas at the mobile and base station, IRS elements.
    grid : int
        Angle-grid points per dimension (``x`` has ``grid**3`` entries).
    n_pilots, n_patterns : int
        Pilot symbols ``T`` and training IRS patterns ``P`` (``M = P T n_bs``).
    angle_spread : int
        Adjacent bins at the IRS-arrival and base-station angles.
    random_state : None, int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    IRSMIMOSetup

    References
    ----------
    He & Joseph, IEEE TSP 2024 (arXiv 2307.14719), Sec. VI.
    """
    for name, v in (("n_ms", n_ms), ("n_bs", n_bs), ("n_irs", n_irs), ("grid", grid),
                    ("n_pilots", n_pilots), ("n_patterns", n_patterns)):
        if int(v) < 1:
            raise ValueError(f"{name}: expected a positive integer, got {v}")
    if not 1 <= angle_spread <= grid:
        raise ValueError(f"angle_spread: expected 1..grid={grid}, got {angle_spread}")
    rng = check_generator(random_state)
    pilots = (rng.choice([-1.0, 1.0], (n_ms, n_pilots))
              + 1j * rng.choice([-1.0, 1.0], (n_ms, n_pilots))) / math.sqrt(2 * n_ms)
    patterns = rng.choice([-1.0, 1.0], (n_irs, n_patterns)) / math.sqrt(n_irs)
    u_ms, u_bs, u_irs = (ula_dictionary(n, grid) for n in (n_ms, n_bs, n_irs))
    theta = -1.0 + 2.0 * np.arange(grid) / grid
    # Cascaded IRS steering conj(a(θ_d)) ⊙ a(θ_a) reindexed by one grid angle (paper's code).
    V = np.exp(1j * np.pi * np.outer(np.arange(n_irs), -1.0 - theta)) / n_irs
    factors = [patterns.T @ V, pilots.T @ u_ms.conj(), u_bs]
    return IRSMIMOSetup(factors, pilots, patterns, u_ms, u_bs, u_irs, angle_spread)


def irs_mimo_draw(
    setup: IRSMIMOSetup, snr_db: float, random_state: RandomState = None
) -> IRSMIMODraw:
    """Draw a channel and noise for ``setup`` at ``snr_db`` (SNR of this draw's received power).

    The channel is built physically (``H_1``, ``H_2`` from steering vectors); ``x`` is its exact
    grid representation, so ``Kronecker(setup.factors) @ x`` equals the noiseless ``y``.

    Parameters
    ----------
    setup : IRSMIMOSetup
        Pilots, patterns and dictionaries from :func:`irs_mimo_setup`.
    snr_db : float
        SNR of this draw's noiseless received power.
    random_state : None, int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    IRSMIMODraw

    References
    ----------
    He & Joseph, IEEE TSP 2024 (arXiv 2307.14719), Sec. VI.
    """
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db: expected a finite number, got {snr_db}")
    rng = check_generator(random_state)
    G, s = setup.grid, setup.angle_spread
    n_ms, n_bs, n_irs = setup.u_ms.shape[0], setup.u_bs.shape[0], setup.u_irs.shape[0]
    ms = int(rng.integers(G))
    irs_a = np.arange(s) + int(rng.integers(G - s + 1))
    irs_d = int(rng.integers(G))
    bs = np.arange(s) + int(rng.integers(G - s + 1))
    alpha1, alpha2 = _cn(rng, s), _cn(rng, s)
    c1, c2 = math.sqrt(n_ms * n_irs / s), math.sqrt(n_bs * n_irs / s)
    H2 = c2 * (setup.u_bs[:, bs] @ alpha2)[:, None] * setup.u_irs[:, irs_d].conj()[None, :]
    H1 = c1 * (setup.u_irs[:, irs_a] @ alpha1)[:, None] * setup.u_ms[:, ms].conj()[None, :]
    channels = np.einsum("bn,np,nm->pbm", H2, setup.patterns, H1)
    y_clean = np.einsum("pbm,mt->ptb", channels, setup.pilots).ravel()
    x = np.zeros((G, G, G), dtype=complex)
    x[np.ix_((irs_d - irs_a) % G, [ms], bs)] = c1 * c2 * np.multiply.outer(alpha1, alpha2)[
        :, None, :]
    power = float(np.mean(np.abs(y_clean) ** 2))
    s2 = power / 10.0 ** (snr_db / 10.0)
    y = y_clean + math.sqrt(s2) * _cn(rng, y_clean.size)
    return IRSMIMODraw(y=y, x=x.ravel(), noise_variance=s2, channels=channels,
                       snr_db=float(snr_db))


@dataclass
class KroneckerProblem:
    """A random Kronecker sparse-recovery problem ``y = (A_1 ⊗ … ⊗ A_d) x + n``.

    Attributes
    ----------
    factors : list of ndarray
        ``A_1, …, A_d``.
    y : ndarray
        Noisy measurements in ``np.kron`` order.
    x : ndarray
        True coefficients.
    noise_variance : float
    """

    factors: list[np.ndarray]
    y: np.ndarray
    x: np.ndarray
    noise_variance: float


def kronecker_problem(
    n: Sequence[int], m: Sequence[int], support: Sequence[int] | int, snr_db: float = 20.0,
    *, complex_valued: bool = True, random_state: RandomState = None,
) -> KroneckerProblem:
    """A random sparse-recovery problem with a Kronecker dictionary.

    Gaussian factors ``A_i`` (``m_i x n_i``, entries of variance ``1/m_i``), ``x`` with
    i.i.d. Gaussian non-zeros, and noise at ``snr_db`` of the mean noiseless power.

    Parameters
    ----------
    n, m : sequence of int
        Columns and rows of each factor.
    support : sequence of int, or int
        A sequence: a Kronecker-structured support with ``support[i]`` entries per factor (a
        product of per-factor supports, as KroSBL assumes). An int: that many non-zeros at
        uniformly random positions of ``x`` (e.g. random pixels of an image).
    snr_db : float, default=20.0
        Signal-to-noise ratio.
    complex_valued : bool, default=True
        Complex Gaussian factors, coefficients and noise, or real ones.
    random_state : None, int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    KroneckerProblem
        ``factors``, ``y`` (``np.kron`` order), the true ``x`` and the noise variance.

    References
    ----------
    He & Joseph, IEEE TSP 2024 (arXiv 2307.14719), Sec. VI-A (Gaussian factors, Kronecker
    supports).

    Examples
    --------
    >>> p = kronecker_problem((16, 16), (8, 8), (2, 2), random_state=0)
    >>> p.y.shape, int(np.count_nonzero(p.x)), p.x.dtype
    ((64,), 4, dtype('complex128'))
    >>> int(np.count_nonzero(kronecker_problem((16, 16), (8, 8), 5, random_state=0).x))
    5
    """
    n, m = list(n), list(m)
    if not len(n) == len(m) or len(n) < 1:
        raise ValueError("n, m: need one entry per factor, same lengths")
    N = math.prod(n)
    kron = not isinstance(support, Integral)
    if kron:
        support = list(support)
        if len(support) != len(n):
            raise ValueError("n, m, support: need one entry per factor, same lengths")
        if any(not 1 <= k <= ni for k, ni in zip(support, n)):
            raise ValueError(f"support: expected 1 <= support[i] <= n[i], got {support} for "
                             f"n={n}")
    elif not 1 <= support <= N:
        raise ValueError(f"support: expected 1 <= support <= prod(n) = {N}, got {support}")
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db: expected a finite number, got {snr_db}")
    rng = check_generator(random_state)

    def draw(size: tuple[int, ...]) -> np.ndarray:
        return _cn(rng, size) if complex_valued else rng.standard_normal(size)

    factors = [draw((mi, ni)) / math.sqrt(mi) for mi, ni in zip(m, n)]
    x = np.zeros(n, dtype=complex if complex_valued else float)
    if kron:
        idx = [np.sort(rng.choice(ni, k, replace=False)) for ni, k in zip(n, support)]
        x[np.ix_(*idx)] = draw(tuple(support))
    else:
        x.reshape(-1)[np.sort(rng.choice(N, int(support), replace=False))] = draw((support,))
    x = x.ravel()
    y_clean = Kronecker(factors) @ x
    s2 = float(np.mean(np.abs(y_clean) ** 2)) / 10.0 ** (snr_db / 10.0)
    noise = draw(y_clean.shape) * math.sqrt(s2)
    return KroneckerProblem(factors, y_clean + noise, x, s2)
