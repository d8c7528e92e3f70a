"""Monte Carlo estimates of the SDR false-match rates (checks of :mod:`bayesparse.theory.sdr`).

A segment's ``s`` synapses sit on cells ``0..s-1``; a uniformly random code of ``a`` of ``n``
cells contains cell ``i`` exactly when ``i``'s rank in a uniform random permutation of the
``n`` cells is below ``a``. Only the ranks of the ``s`` synapse cells matter, and they are
``s`` distinct uniform draws from ``range(n)``: sampling those (by rejection of rows with a
repeat, or by random keys when repeats are likely) costs ``O(trials s)`` instead of
``O(trials n)``, so ``n = 1e5`` is as cheap as ``n = 1e3``. A segment storing ``M`` patterns
has the union of ``M`` independent size-``s`` synapse sets; it fires when at least ``theta``
distinct synapse cells are active.

References
----------
S. Ahmad and J. Hawkins, arXiv 1601.00720 (2016), section 3 (simulations of eqs. 4 and 10).

Examples
--------
>>> from bayesparse.theory import simulate_false_match
>>> r = simulate_false_match(1000, 200, 25, 10, n_trials=20_000, random_state=0)
>>> abs(r.probability - 0.0161) < 4 * r.stderr
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayesparse.rng import RandomState, check_generator
from bayesparse.theory.sdr import _check, _int

__all__ = ["MonteCarloEstimate", "simulate_false_match", "simulate_union_false_match"]

#: Rows drawn per batch, bounding memory at ``batch x m x s`` integers.
_BATCH = 65_536


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte Carlo rate: ``probability`` ± ``stderr`` (binomial) from ``n_trials`` trials."""

    probability: float
    stderr: float
    n_trials: int


def _distinct_ranks(rng: np.random.Generator, rows: int, s: int, n: int) -> np.ndarray:
    # Rows with a repeat are rejected whole, so accepted rows are uniform over distinct tuples;
    # when repeats are likely (s^2 > 2n), random keys over all n cells are cheaper.
    if s * (s - 1) / (2 * n) > 1.0:
        return np.argsort(rng.random((rows, n)), axis=1)[:, :s]
    out = np.empty((0, s), dtype=np.int64)
    while out.shape[0] < rows:
        draw = rng.integers(0, n, size=(rows, s))
        srt = np.sort(draw, axis=1)
        ok = np.all(srt[:, 1:] != srt[:, :-1], axis=1)
        out = np.concatenate([out, draw[ok]])
    return out[:rows]


def _estimate(hits: int, trials: int) -> MonteCarloEstimate:
    p = hits / trials
    return MonteCarloEstimate(p, float(np.sqrt(max(p * (1 - p), 1.0 / trials) / trials)), trials)


def simulate_union_false_match(
    n: int, a: int, s: int, theta: int, m: int, *, n_trials: int = 100_000,
    random_state: RandomState = None,
) -> MonteCarloEstimate:
    """Fraction of random codes that a segment storing ``m`` patterns fires on.

    Parameters
    ----------
    n, a, s, theta : int
        Cells, active cells of the random code, synapses per stored pattern, threshold.
    m : int
        Patterns stored on the segment (``m = 1`` is the plain false match).
    n_trials : int
        Independent (segment, code) pairs drawn.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    MonteCarloEstimate

    Examples
    --------
    >>> r = simulate_union_false_match(1000, 200, 25, 15, 2, n_trials=5000, random_state=0)
    >>> 0.04 < r.probability < 0.06
    True
    """
    n, a, s, theta = _check(n, a, s, theta)
    m = _int(m, "m", 1)
    n_trials = _int(n_trials, "n_trials", 1)
    rng = check_generator(random_state)
    hits = 0
    done = 0
    while done < n_trials:
        rows = min(_BATCH // m + 1, n_trials - done)
        # The random code is cells 0..a-1 (by symmetry); each row of ``cells`` holds the m
        # synapse sets of one segment, and a cell hit twice counts once.
        cells = np.sort(_distinct_ranks(rng, rows * m, s, n).reshape(rows, m * s), axis=1)
        first = np.ones_like(cells, dtype=bool)
        first[:, 1:] = cells[:, 1:] != cells[:, :-1]
        active = np.count_nonzero(first & (cells < a), axis=1)
        hits += int(np.count_nonzero(active >= theta))
        done += rows
    return _estimate(hits, n_trials)


def simulate_false_match(
    n: int, a: int, s: int, theta: int, *, n_trials: int = 100_000,
    random_state: RandomState = None,
) -> MonteCarloEstimate:
    """Fraction of random size-``a`` codes on which a segment (``s`` synapses, ``theta``) fires.

    Parameters
    ----------
    n, a, s, theta : int
        Cells, active cells, synapses, threshold.
    n_trials : int
        Random codes drawn.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    MonteCarloEstimate

    Examples
    --------
    >>> simulate_false_match(100, 10, 5, 0, n_trials=10, random_state=0).probability
    1.0
    """
    return simulate_union_false_match(
        n, a, s, theta, 1, n_trials=n_trials, random_state=random_state
    )
