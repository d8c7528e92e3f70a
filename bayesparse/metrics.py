"""Predictive-quality metrics for probabilistic classifiers.

``probs`` are predictive class probabilities (``n x n_classes``, e.g. a Monte Carlo
average over posterior samples), ``y`` the integer labels.

- accuracy: fraction with ``argmax(probs) == y``;
- negative log-likelihood: ``-mean(log p(y_i | x_i))``;
- expected calibration error (Naeini, Cooper, Hauskrecht, AAAI 2015; Guo et al., ICML 2017):
  ``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`` over ``n_bins`` equal-width confidence
  bins ``B_b``, with confidence the top probability;
- calibrated ECE: the ECE that a perfectly calibrated classifier with the same confidences
  would show on a test set of this size (labels correct with probability equal to the
  confidence), averaged over draws. ECE is biased upwards on small test sets; ECEs at or
  below this floor cannot be told apart from perfect calibration;
- predictive entropy ``H[p] = -sum_c p_c log p_c`` per example (higher on out-of-distribution
  inputs for a well-calibrated model).

Examples
--------
>>> import numpy as np
>>> from bayesparse.metrics import accuracy, nll
>>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
>>> accuracy(p, [0, 0]), round(nll(p, [0, 1]), 4)
(0.5, 0.1643)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesparse.rng import check_generator

__all__ = [
    "accuracy", "nll", "expected_calibration_error", "calibrated_ece", "predictive_entropy",
]

# Keeps log(0) finite when a predicted probability underflows.
_TINY = 1e-12


def _check(probs: Any, y: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probs: expected a 2-D array (n, n_classes), got {p.ndim}-D")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probs: entries must be finite and non-negative")
    if not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError("probs: rows must sum to 1 (pass probabilities, not logits)")
    if y is None:
        return p, None
    labels = np.asarray(y)
    if labels.shape != (p.shape[0],):
        raise ValueError(f"y: expected shape ({p.shape[0]},) to match probs, got {labels.shape}")
    if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= p.shape[1]:
        raise ValueError(f"y: expected integer labels in [0, {p.shape[1]})")
    return p, labels


def accuracy(probs: Any, y: Any) -> float:
    """Fraction of examples whose most probable class is the label.

    Parameters
    ----------
    probs : array-like, shape ``n x n_classes``
        Predicted class probabilities (rows sum to 1).
    y : array-like of int, shape ``n``
        True labels in ``[0, n_classes)``.

    Returns
    -------
    float

    Examples
    --------
    >>> accuracy([[0.3, 0.7]], [1])
    1.0
    """
    p, labels = _check(probs, y)
    return float((p.argmax(1) == labels).mean())


def nll(probs: Any, y: Any) -> float:
    """Mean negative log predictive probability of the labels.

    Parameters
    ----------
    probs : array-like, shape ``n x n_classes``
        Predicted class probabilities (rows sum to 1).
    y : array-like of int, shape ``n``
        True labels in ``[0, n_classes)``.

    Returns
    -------
    float
        In nats per example.

    Examples
    --------
    >>> round(nll([[0.5, 0.5]], [1]), 4)
    0.6931
    """
    p, labels = _check(probs, y)
    return float(-np.log(np.maximum(p[np.arange(len(labels)), labels], _TINY)).mean())


def expected_calibration_error(probs: Any, y: Any, n_bins: int = 15) -> float:
    """Expected calibration error over ``n_bins`` equal-width confidence bins.

    Bins are ``(b/n_bins, (b+1)/n_bins]`` (the first also holds confidence 0).

    Parameters
    ----------
    probs : array-like, shape ``n x n_classes``
        Predicted class probabilities (rows sum to 1).
    y : array-like of int, shape ``n``
        True labels in ``[0, n_classes)``.
    n_bins : int, default 15

    Returns
    -------
    float

    References
    ----------
    .. [1] Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
       ICML 2017 (eq. 3).

    Examples
    --------
    >>> round(expected_calibration_error([[0.8, 0.2], [0.8, 0.2]], [0, 1], n_bins=10), 6)
    0.3
    """
    p, labels = _check(probs, y)
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins: expected a positive int, got {n_bins!r}")
    return float(_binned_ece(p.max(1), p.argmax(1) == labels, n_bins)[0])


def _binned_ece(conf: np.ndarray, correct: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of each row of ``correct`` (``draws x n`` booleans) against the confidences."""
    correct = np.atleast_2d(correct)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = np.zeros(correct.shape[0])
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * np.abs(correct[:, sel].mean(1) - conf[sel].mean())
    return ece


def calibrated_ece(probs: Any, n_bins: int = 15, n_draws: int = 200,
                   random_state: int | np.random.Generator | None = None) -> float:
    """Mean ECE of a perfectly calibrated classifier with the confidences of ``probs``.

    Each draw marks example ``i`` correct with probability ``max_c probs[i, c]`` (what
    perfect calibration means) and computes :func:`expected_calibration_error`; the mean
    over ``n_draws`` draws is the ECE expected from finite-sample noise alone.

    Parameters
    ----------
    probs : array-like, shape ``n x n_classes``
    n_bins : int, default 15
    n_draws : int, default 200
    random_state : None, int or numpy Generator

    Returns
    -------
    float

    Examples
    --------
    >>> p = np.tile([[0.9, 0.1]], (360, 1))
    >>> 0.0 < calibrated_ece(p, random_state=0) < 0.05
    True
    """
    p, _ = _check(probs)
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins: expected a positive int, got {n_bins!r}")
    if not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"n_draws: expected a positive int, got {n_draws!r}")
    conf = p.max(1)
    correct = check_generator(random_state).random((n_draws, len(conf))) < conf
    return float(_binned_ece(conf, correct, n_bins).mean())


def predictive_entropy(probs: Any) -> np.ndarray:
    """Entropy (nats) of each row of ``probs``.

    Parameters
    ----------
    probs : array-like, shape ``n x n_classes``

    Returns
    -------
    ndarray, shape ``n``

    Examples
    --------
    >>> predictive_entropy([[0.5, 0.5], [1.0, 0.0]]).round(4).tolist()
    [0.6931, 0.0]
    """
    p, _ = _check(probs)
    return (p * -np.log(np.maximum(p, _TINY))).sum(1)
