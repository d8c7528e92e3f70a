"""Closed forms for sparse distributed representations (Ahmad & Hawkins).

A code has ``a`` of ``n`` cells active; a dendritic segment has ``s`` synapses onto the cells
of one stored code and fires when at least ``theta`` of them are active.

- Codes of size ``w`` with overlap ``b`` with a fixed code of size ``a``:
  ``|Ω(n, a, b)| = C(a, b) C(n - a, w - b)`` (eq. 2).
- False match against a random code: ``P(X >= theta)``, ``X ~ Hypergeom(n, s, a)`` (eq. 4).
- Noise: ``v`` of a stored code's ``a`` cells replaced; the segment misses when more than
  ``s - theta`` of its ``s`` synapses are among them,
  ``sum_{b = s - theta + 1} C(s, b) C(a - s, v - b) / C(a, v)``, independent of ``n`` (eq. 6).
- Union property: one segment stores ``M`` patterns, ``s`` synapses onto each, so its synapses
  are the union of ``M`` random size-``s`` sets. The exact false-match rate against a random
  code mixes eq. 4 over the distribution of that union's size (a Markov chain over the number
  of distinct cells); the paper's plug-in puts the expected size ``n (1 - (1 - s/n)^M)`` into
  eq. 4 instead (eq. 10), which underestimates (n=1000, a=200, s=25, θ=15, M=2: plug-in
  0.0474, exact 0.0508).

Every sum runs in log space (``gammaln`` and ``logsumexp``), so ``n`` up to 1e5 and tails far
below double-precision underflow of the binomials stay accurate.

References
----------
S. Ahmad and J. Hawkins, "How do neurons operate on sparse distributed representations? A
mathematical theory of sparsity, neurons and active dendrites", arXiv 1601.00720 (2016).

Examples
--------
>>> from bayesparse.theory import false_match_probability, noise_miss_probability
>>> f"{false_match_probability(10_000, 300, 24, 12):.4e}"
'8.3758e-13'
>>> round(noise_miss_probability(128, 30, 12, 64), 4)
0.0717
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = [
    "log_n_codes_with_overlap",
    "false_match_probability",
    "noise_miss_probability",
    "union_size_distribution",
    "union_false_match_probability",
]


def _int(x: int, name: str, low: int = 0) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {x!r}")
    return int(x)


def _check(n: int, a: int, s: int, theta: int) -> tuple[int, int, int, int]:
    n = _int(n, "n", 1)
    a = _int(a, "a")
    s = _int(s, "s")
    theta = _int(theta, "theta")
    if a > n:
        raise ValueError(f"a: {a} active cells exceed n={n}; pass a <= n")
    if s > n:
        raise ValueError(f"s: {s} synapses exceed n={n}; pass s <= n")
    if theta > s:
        raise ValueError(f"theta: threshold {theta} exceeds s={s} synapses; pass theta <= s")
    return n, a, s, theta


def _log_comb(n: np.ndarray | int, k: np.ndarray | int) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    k = np.asarray(k, dtype=float)
    out = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return np.where((k < 0) | (k > n), -np.inf, out)


def log_n_codes_with_overlap(n: int, a: int, b: int, w: int | None = None) -> float:
    """Log of the number of size-``w`` codes sharing exactly ``b`` cells with a size-``a`` code.

    Parameters
    ----------
    n, a : int
        Cells, and active cells of the fixed code.
    b : int
        Overlap.
    w : int, optional
        Active cells of the counted codes (defaults to ``a``).

    Returns
    -------
    float
        ``log(C(a, b) C(n - a, w - b))``; ``-inf`` when no such code exists.

    Examples
    --------
    >>> import math
    >>> round(math.exp(log_n_codes_with_overlap(10, 3, 1)))
    63
    """
    w = a if w is None else w
    n, a, _, _ = _check(n, a, 0, 0)
    b = _int(b, "b")
    w = _int(w, "w")
    if w > n:
        raise ValueError(f"w: {w} active cells exceed n={n}; pass w <= n")
    return float(_log_comb(a, b) + _log_comb(n - a, w - b))


def _log_tail(n: int, s: int, a: np.ndarray, theta: int) -> np.ndarray:
    """Log ``P(X >= theta)``, ``X ~ Hypergeom(n, s, a)``, for an array of ``a``."""
    a = np.asarray(a)[:, None]
    b = np.arange(theta, s + 1)[None, :]
    terms = _log_comb(s, b) + _log_comb(n - s, a - b) - _log_comb(n, a)
    return logsumexp(terms, axis=1)


def false_match_probability(n: int, a: int, s: int, theta: int) -> float:
    """Probability that a segment (``s`` synapses, threshold ``theta``) fires on a random code.

    Parameters
    ----------
    n : int
        Cells.
    a : int
        Active cells of the random code.
    s : int
        Synapses of the segment (a subsample of one stored code).
    theta : int
        Firing threshold, ``0 <= theta <= s``.

    Returns
    -------
    float
        ``sum_{b >= theta} C(s, b) C(n - s, a - b) / C(n, a)`` (eq. 4).

    Examples
    --------
    >>> f"{false_match_probability(1000, 200, 25, 15):.3e}"
    '1.001e-05'
    """
    n, a, s, theta = _check(n, a, s, theta)
    return float(np.exp(_log_tail(n, s, np.array([a]), theta)[0]))


def noise_miss_probability(a: int, s: int, theta: int, v: int) -> float:
    """Probability that a segment misses its own code after ``v`` of its ``a`` cells are replaced.

    Parameters
    ----------
    a : int
        Active cells of the stored code.
    s : int
        Synapses of the segment, all onto that code's cells (``s <= a``).
    theta : int
        Firing threshold.
    v : int
        Cells of the code replaced by noise (``v <= a``).

    Returns
    -------
    float
        ``sum_{b = s - theta + 1}^{s} C(s, b) C(a - s, v - b) / C(a, v)`` (eq. 6).

    Examples
    --------
    >>> noise_miss_probability(10, 4, 4, 0)
    0.0
    """
    a, _, s, theta = _check(max(a, 1), a, s, theta)
    v = _int(v, "v")
    if s > a:
        raise ValueError(f"s: {s} synapses exceed the code's a={a} cells; pass s <= a")
    if v > a:
        raise ValueError(f"v: {v} replaced cells exceed a={a}; pass v <= a")
    b = np.arange(s - theta + 1, s + 1)
    terms = _log_comb(s, b) + _log_comb(a - s, v - b) - _log_comb(a, v)
    return float(np.exp(logsumexp(terms))) if b.size else 0.0


def union_size_distribution(n: int, a: int, m: int) -> np.ndarray:
    """Distribution of the number of cells in the union of ``m`` random size-``a`` sets.

    Parameters
    ----------
    n, a : int
        Cells and cells per set.
    m : int
        Codes in the union (``m >= 1``).

    Returns
    -------
    numpy.ndarray
        ``p`` of length ``min(n, m a) + 1``; ``p[u]`` is the probability of ``u`` active cells.

    Examples
    --------
    >>> union_size_distribution(4, 2, 2).round(4).tolist()
    [0.0, 0.0, 0.1667, 0.6667, 0.1667]
    """
    n, a, _, _ = _check(n, a, 0, 0)
    m = _int(m, "m", 1)
    top = min(n, m * a)
    log_p = np.full(top + 1, -np.inf)
    log_p[a] = 0.0
    u = np.arange(top + 1)[:, None]
    k = np.arange(a + 1)[None, :]  # new cells brought in by the next code
    # Hypergeometric: k of the next code's a cells fall outside the current union of size u.
    log_step = _log_comb(n - u, k) + _log_comb(u, a - k) - _log_comb(n, a)
    for _ in range(m - 1):
        new = np.full(top + 1, -np.inf)
        contrib = log_p[:, None] + log_step
        dest = (u + k).ravel()
        ok = (dest <= top) & np.isfinite(contrib.ravel())
        np.logaddexp.at(new, dest[ok], contrib.ravel()[ok])
        log_p = new
    return np.exp(log_p)


def union_false_match_probability(
    n: int, a: int, s: int, theta: int, m: int, *, method: str = "exact"
) -> float:
    """False-match rate of a segment storing ``m`` patterns (``s`` synapses each) vs a random code.

    Parameters
    ----------
    n, a, s, theta : int
        As in :func:`false_match_probability`; ``s`` synapses per stored pattern.
    m : int
        Patterns stored on the segment (its synapses are the union of ``m`` size-``s`` sets).
    method : {"exact", "plug-in"}
        ``"exact"`` mixes eq. 4 over :func:`union_size_distribution` of the synapse set;
        ``"plug-in"`` is the paper's eq. 10 (eq. 4 at the expected union size, rounded).

    Returns
    -------
    float

    Examples
    --------
    >>> round(union_false_match_probability(1000, 200, 25, 15, 2), 4)
    0.0508
    >>> round(union_false_match_probability(1000, 200, 25, 15, 2, method="plug-in"), 4)
    0.0474
    """
    n, a, s, theta = _check(n, a, s, theta)
    if method == "plug-in":
        m = _int(m, "m", 1)
        size = int(round(n * (1.0 - (1.0 - s / n) ** m)))
        return false_match_probability(n, a, size, theta)
    if method != "exact":
        raise ValueError(f"method: expected 'exact' or 'plug-in', got {method!r}")
    p = union_size_distribution(n, s, m)
    sizes = np.nonzero(p > 0)[0]
    log_tail = np.array([_log_tail(n, int(u), np.array([a]), theta)[0] for u in sizes])
    return float(np.exp(logsumexp(log_tail, b=p[sizes])))
