"""Riemann ("bar") distribution: the PFN output head for regression.

The real line is cut into ``K`` buckets with equal prior mass (borders are quantiles of a large
prior sample of ``y``). The network outputs logits ``l``; bucket ``b`` gets probability
``p_b = softmax(l)_b`` spread uniformly over its width ``w_b``, so the density is
``p_b / w_b`` (Müller et al. 2022, Sec. 4.1, "Riemann distribution"). The two outer buckets
become half-normal tails starting at the inner borders ``b_1`` and ``b_{K-1}``, with their
median at the bucket width (as in the authors' ``FullSupportBarDistribution``), so the support
is the whole real line and every target has a finite loss.

References
----------
.. [1] S. Müller, N. Hollmann, S. Pineda Arango, J. Grabocka, F. Hutter, "Transformers Can Do
   Bayesian Inference", ICLR 2022, Sec. 4.1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BarDistribution"]

#: E|Z| for Z ~ N(0, 1): the mean of a unit half-normal.
_HALF_NORMAL_MEAN = math.sqrt(2.0 / math.pi)
#: Median of a unit half-normal, sqrt(2) erfinv(1/2); the tail scale is width / this.
_HALF_NORMAL_MEDIAN = 0.6744897501960817


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return t.gather(-1, idx.unsqueeze(-1)).squeeze(-1)


class BarDistribution(nn.Module):
    """Piecewise-uniform distribution with half-normal tails on fixed bucket borders.

    Parameters
    ----------
    borders : torch.Tensor of shape (K + 1,)
        Strictly increasing bucket borders (``K >= 3``).

    Examples
    --------
    >>> import torch
    >>> bar = BarDistribution(torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]))
    >>> logits = torch.zeros(1, 4)
    >>> float(bar.mean(logits)[0]), float(bar.median(logits)[0])
    (0.0, 0.0)
    >>> round(float(bar.cdf(logits, torch.tensor([1.0]))[0]), 6)
    0.75

    References
    ----------
    .. [1] Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022, Sec. 4.1.
    """

    def __init__(self, borders: torch.Tensor) -> None:
        super().__init__()
        borders = torch.as_tensor(borders, dtype=torch.float32)
        if borders.ndim != 1 or borders.numel() < 4:
            raise ValueError("borders: need a 1-D tensor with at least 4 entries (3 buckets)")
        if not bool((borders[1:] > borders[:-1]).all()):
            raise ValueError("borders: must be strictly increasing")
        self.register_buffer("borders", borders)

    @classmethod
    def from_samples(cls, y: torch.Tensor, n_buckets: int = 1000) -> BarDistribution:
        """Equal-prior-mass borders: the ``k / n_buckets`` quantiles of a prior sample ``y``.

        Parameters
        ----------
        y : torch.Tensor
            Prior sample of targets (any shape; flattened). Use many more values than buckets.
        n_buckets : int, default 1000

        Returns
        -------
        BarDistribution
            With at most ``n_buckets`` buckets (tied quantiles are merged).

        Examples
        --------
        >>> import torch
        >>> bar = BarDistribution.from_samples(torch.randn(10_000), n_buckets=10)
        >>> bar.n_buckets
        10
        """
        if n_buckets < 3:
            raise ValueError(f"n_buckets: need at least 3, got {n_buckets}")
        y = torch.as_tensor(y, dtype=torch.float64).flatten()
        if y.numel() < n_buckets or not bool(torch.isfinite(y).all()):
            raise ValueError("y: need at least n_buckets finite prior samples")
        q = torch.quantile(y, torch.linspace(0, 1, n_buckets + 1, dtype=torch.float64))
        # Ties in a discrete-ish sample would give empty buckets; merge them.
        return cls(torch.unique_consecutive(q).float())

    @property
    def n_buckets(self) -> int:
        """Number of buckets ``K``."""
        return self.borders.numel() - 1

    @property
    def widths(self) -> torch.Tensor:
        """Bucket widths ``w_b``."""
        return self.borders[1:] - self.borders[:-1]

    def _tail_scales(self) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.widths
        return w[0] / _HALF_NORMAL_MEDIAN, w[-1] / _HALF_NORMAL_MEDIAN

    def _probs(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] != self.n_buckets:
            raise ValueError(
                f"logits: last dimension must be n_buckets={self.n_buckets}, "
                f"got {logits.shape[-1]}"
            )
        return torch.softmax(logits, -1)

    def log_prob(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Log density of ``y`` under the distribution given by ``logits``.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
        y : torch.Tensor of shape (...)

        Returns
        -------
        torch.Tensor of shape (...)
        """
        self._probs(logits)
        logp = torch.log_softmax(logits, -1)
        b, w, K = self.borders, self.widths, self.n_buckets
        y = y.to(logits.dtype)
        idx = (torch.searchsorted(b, y.contiguous(), right=True) - 1).clamp(0, K - 1)
        inner = _gather(logp, idx) - w[idx].log()
        s_left, s_right = self._tail_scales()
        # Half-normal density 2/s * phi(d/s), d measured outwards from the inner border.
        c = math.log(2.0) - 0.5 * math.log(2 * math.pi)
        d_left = (b[1] - y).clamp_min(0) / s_left
        d_right = (y - b[K - 1]).clamp_min(0) / s_right
        left = logp[..., 0] + c - s_left.log() - 0.5 * d_left**2
        right = logp[..., K - 1] + c - s_right.log() - 0.5 * d_right**2
        return torch.where(y < b[1], left, torch.where(y >= b[K - 1], right, inner))

    def nll(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Negative log density, the prior-fitting loss (Müller et al. 2022, Eq. 2).

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
            Unnormalized bucket log-probabilities, ``K = n_buckets``.
        y : torch.Tensor of shape (...)
            Targets.

        Returns
        -------
        torch.Tensor of shape (...)
        """
        return -self.log_prob(logits, y)

    def _first_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Per-bucket E[y] and E[y^2]; tails: c -/+ s|Z| with E|Z| = sqrt(2/pi), E Z^2 = 1.
        b, K = self.borders, self.n_buckets
        s_left, s_right = self._tail_scales()
        m1 = (b[1:] + b[:-1]) / 2
        m2 = (b[1:] ** 2 + b[1:] * b[:-1] + b[:-1] ** 2) / 3
        m1 = torch.cat([(b[1] - s_left * _HALF_NORMAL_MEAN).view(1), m1[1:-1],
                        (b[K - 1] + s_right * _HALF_NORMAL_MEAN).view(1)])
        m2_left = b[1] ** 2 - 2 * b[1] * s_left * _HALF_NORMAL_MEAN + s_left**2
        m2_right = b[K - 1] ** 2 + 2 * b[K - 1] * s_right * _HALF_NORMAL_MEAN + s_right**2
        m2 = torch.cat([m2_left.view(1), m2[1:-1], m2_right.view(1)])
        return m1, m2

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        """Predictive mean ``sum_b p_b E[y | bucket b]``, shape ``logits.shape[:-1]``.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
            Unnormalized bucket log-probabilities, ``K = n_buckets``.

        Returns
        -------
        torch.Tensor of shape (...)
        """
        p = self._probs(logits)
        return p @ self._first_moments()[0].to(p.dtype)

    def variance(self, logits: torch.Tensor) -> torch.Tensor:
        """Predictive variance from the per-bucket second moments.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
            Unnormalized bucket log-probabilities, ``K = n_buckets``.

        Returns
        -------
        torch.Tensor of shape (...)
            Non-negative variances.
        """
        p = self._probs(logits)
        m1, m2 = (m.to(p.dtype) for m in self._first_moments())
        return (p @ m2 - (p @ m1) ** 2).clamp_min(0)

    def cdf(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cumulative distribution function at ``y`` (shape ``logits.shape[:-1]``).

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
            Unnormalized bucket log-probabilities, ``K = n_buckets``.
        y : torch.Tensor of shape (...)
            Points at which to evaluate the CDF.

        Returns
        -------
        torch.Tensor of shape (...)
            Values in [0, 1].
        """
        p = self._probs(logits)
        b, w, K = self.borders, self.widths, self.n_buckets
        y = y.to(p.dtype)
        cum = torch.cat([torch.zeros_like(p[..., :1]), p.cumsum(-1)], -1)
        idx = (torch.searchsorted(b, y.contiguous(), right=True) - 1).clamp(1, K - 2)
        frac = ((y - b[idx]) / w[idx]).clamp(0, 1)
        inner = _gather(cum, idx) + _gather(p, idx) * frac
        s_left, s_right = self._tail_scales()
        left = p[..., 0] * torch.erfc((b[1] - y).clamp_min(0) / (s_left * math.sqrt(2)))
        right = 1 - p[..., K - 1] * torch.erfc((y - b[K - 1]).clamp_min(0)
                                               / (s_right * math.sqrt(2)))
        return torch.where(y < b[1], left, torch.where(y >= b[K - 1], right, inner))

    def icdf(self, logits: torch.Tensor, q: torch.Tensor | float) -> torch.Tensor:
        """Quantile function at levels ``q`` in (0, 1), broadcast to ``logits.shape[:-1]``.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
        q : float or torch.Tensor broadcastable to ``logits.shape[:-1]``

        Returns
        -------
        torch.Tensor of shape ``logits.shape[:-1]``
        """
        p = self._probs(logits).double()
        q = torch.as_tensor(q, dtype=torch.float64)
        if bool(((q <= 0) | (q >= 1)).any()):
            raise ValueError("q: quantile levels must lie strictly inside (0, 1)")
        q = q.expand(p.shape[:-1]).contiguous()
        b, w, K = self.borders.double(), self.widths.double(), self.n_buckets
        cum = p.cumsum(-1)
        idx = torch.searchsorted(cum, q.unsqueeze(-1)).squeeze(-1).clamp(0, K - 1)
        below = _gather(cum, idx) - _gather(p, idx)
        pb = _gather(p, idx).clamp_min(1e-300)
        inner = b[idx] + w[idx] * ((q - below) / pb).clamp(0, 1)
        # Tails invert p_tail * erfc(d / (s sqrt 2)) = mass beyond the quantile, i.e.
        # d = s sqrt(2) erfcinv(u) = -s ndtri(u / 2).
        s_left, s_right = (s.double() for s in self._tail_scales())
        u_left = (q / p[..., 0].clamp_min(1e-300)).clamp(1e-300, 1.0)
        left = b[1] + s_left * torch.special.ndtri(u_left / 2)
        u_right = ((1 - q) / p[..., K - 1].clamp_min(1e-300)).clamp(1e-300, 1.0)
        right = b[K - 1] - s_right * torch.special.ndtri(u_right / 2)
        out = torch.where(idx == 0, left, torch.where(idx == K - 1, right, inner))
        return out.to(logits.dtype)

    def median(self, logits: torch.Tensor) -> torch.Tensor:
        """Predictive median, ``icdf(logits, 0.5)``.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
            Unnormalized bucket log-probabilities, ``K = n_buckets``.

        Returns
        -------
        torch.Tensor of shape (...)
        """
        return self.icdf(logits, 0.5)

    def quantiles(self, logits: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """Quantiles at each level of ``levels`` (1-D), shape ``(*logits.shape[:-1], L)``.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
            Unnormalized bucket log-probabilities, ``K = n_buckets``.
        levels : torch.Tensor or array-like of shape (L,)
            Levels in (0, 1); flattened.

        Returns
        -------
        torch.Tensor of shape (..., L)
        """
        levels = torch.as_tensor(levels, dtype=torch.float64).flatten()
        return torch.stack([self.icdf(logits, float(lv)) for lv in levels], -1)

    def sample(self, logits: torch.Tensor, n_samples: int,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``n_samples`` draws by inverse-CDF sampling, shape ``(n_samples, *logits.shape[:-1])``.

        Parameters
        ----------
        logits : torch.Tensor of shape (..., K)
        n_samples : int
        generator : torch.Generator, optional

        Returns
        -------
        torch.Tensor
        """
        u = torch.rand((n_samples, *logits.shape[:-1]), generator=generator, dtype=torch.float64)
        u = u.clamp(1e-12, 1 - 1e-12)
        return self.icdf(logits.expand(n_samples, *logits.shape), u)
