"""Monte Carlo estimates of the SDR false-match rates (checks of :mod:`bayesparse.theory.sdr`).

A segment's ``s`` synapses sit on cells ``0..s-1``; a uniformly random code of ``a`` of ``n``
cells contains cell ``i`` exactly when ``i``'s rank in a uniform random permutation of the
``n`` cells is below ``a``. Only the ranks of the ``s`` synapse cells matter, and they are
``s`` distinct uniform draws from ``range(n)``: sampling those (by rejection of rows with a
repeat, or by random keys when repeats are likely) costs ``O(trials s)`` instead of
``O(trials n)``, so ``n = 1e5`` is as cheap as ``n = 1e3``. A segment storing ``M`` patterns
has the union of ``M`` independent size-``s`` synapse sets; it fires when at least ``theta``
distinct synapse cells are active.

Rates far below ``1 / n_trials`` need importance sampling (``method="importance"``): the
segment's cells are drawn one at a time, each falling into one of four classes (active or not,
already in the union or new) with its exact without-replacement probability; the proposal
multiplies the weight of the active classes by a tilt ``t`` chosen so the expected number of
active synapse cells is near ``theta``, and each trial is weighted by its likelihood ratio
(Rubinstein & Kroese, "Simulation and the Monte Carlo method", 3rd ed. 2016, ch. 5), so rates
of 1e-9 get a relative standard error of a few percent from 1e5 trials.

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


def _estimate_weighted(w: np.ndarray) -> MonteCarloEstimate:
    return MonteCarloEstimate(float(w.mean()), float(w.std() / np.sqrt(w.size)), int(w.size))


def _tilt(n: int, a: int, s: int, theta: int, m: int) -> float:
    """Tilt putting the expected active synapse cells near ``theta`` (1 when already there)."""
    union = n * (1.0 - (1.0 - s / n) ** m)
    share = min((theta + 0.5) / union, 0.95)
    return max(1.0, share * (n - a) / ((1.0 - share) * max(a, 1)))


def _importance_weights(
    rng: np.random.Generator, rows: int, n: int, a: int, s: int, theta: int, m: int
) -> np.ndarray:
    t = _tilt(n, a, s, theta, m)
    act_u = np.zeros(rows)  # active cells in the union so far
    ina_u = np.zeros(rows)  # inactive cells in the union so far
    log_lr = np.zeros(rows)
    for _ in range(m):
        act_c = np.zeros(rows)  # active / inactive cells of the current pattern
        ina_c = np.zeros(rows)
        for j in range(s):
            counts = (act_u - act_c, a - act_u, ina_u - ina_c, n - a - ina_u)
            act_w = t * (counts[0] + counts[1])
            total = act_w + counts[2] + counts[3]
            r = rng.random(rows) * total
            c0 = r < t * counts[0]
            c1 = ~c0 & (r < act_w)
            c3 = r >= act_w + counts[2]
            active = c0 | c1
            log_lr += np.log(total / (n - j)) - np.where(active, np.log(t), 0.0)
            act_c += active
            act_u += c1
            ina_c += ~active
            ina_u += c3
    return np.where(act_u >= theta, np.exp(log_lr), 0.0)


def simulate_union_false_match(
    n: int, a: int, s: int, theta: int, m: int, *, n_trials: int = 100_000,
    method: str = "plain", random_state: RandomState = None,
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
    method : {"plain", "importance"}
        ``"plain"`` draws the synapse cells and counts hits (standard error from the binomial);
        ``"importance"`` draws them under an exponential tilt towards the active cells and
        weights each trial by its likelihood ratio (for rates far below ``1 / n_trials``).
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    MonteCarloEstimate

    References
    ----------
    Ahmad & Hawkins, arXiv 1601.00720, section 3; R. Y. Rubinstein and D. P. Kroese,
    "Simulation and the Monte Carlo method", 3rd ed., Wiley (2016), ch. 5 (importance sampling).

    Examples
    --------
    >>> r = simulate_union_false_match(1000, 200, 25, 15, 2, n_trials=5000, random_state=0)
    >>> 0.04 < r.probability < 0.06
    True
    >>> r = simulate_union_false_match(10_000, 300, 24, 12, 1, n_trials=20_000,
    ...                                method="importance", random_state=0)
    >>> abs(r.probability / 8.3758e-13 - 1) < 0.1
    True
    """
    n, a, s, theta = _check(n, a, s, theta)
    m = _int(m, "m", 1)
    n_trials = _int(n_trials, "n_trials", 1)
    rng = check_generator(random_state)
    if method == "importance":
        w = np.concatenate([
            _importance_weights(rng, min(_BATCH, n_trials - done), n, a, s, theta, m)
            for done in range(0, n_trials, _BATCH)
        ])
        return _estimate_weighted(w)
    if method != "plain":
        raise ValueError(f"method: expected 'plain' or 'importance', got {method!r}")
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
    n: int, a: int, s: int, theta: int, *, n_trials: int = 100_000, method: str = "plain",
    random_state: RandomState = None,
) -> MonteCarloEstimate:
    """Fraction of random size-``a`` codes on which a segment (``s`` synapses, ``theta``) fires.

    Parameters
    ----------
    n, a, s, theta : int
        Cells, active cells, synapses, threshold.
    n_trials : int
        Random codes drawn.
    method : {"plain", "importance"}
        As in :func:`simulate_union_false_match`.
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
        n, a, s, theta, 1, n_trials=n_trials, method=method, random_state=random_state
    )
