"""A synthetic 1-D regression task with a gap, for predictive uncertainty of BNNs.

``y = sin(3x) + 0.3 x + eps``, ``eps ~ N(0, noise^2)``, with ``x`` uniform on
``[-3, -1] U [1, 3]``: a well-calibrated posterior is confident on the data and widens in
the gap ``(-1, 1)`` and outside ``[-3, 3]``.

Examples
--------
>>> from bayesparse.datasets.synthetic_regression import make_gap_regression
>>> X, y = make_gap_regression(100, random_state=0)
>>> X.shape, y.shape
((100, 1), (100,))
"""

from __future__ import annotations

import numpy as np

from bayesparse.rng import check_generator

__all__ = ["make_gap_regression", "gap_regression_truth"]


def gap_regression_truth(x: np.ndarray) -> np.ndarray:
    """Noise-free target ``sin(3x) + 0.3 x``.

    Parameters
    ----------
    x : ndarray
        Inputs, any shape.

    Returns
    -------
    ndarray
        The target at ``x``, same shape.
    """
    return np.sin(3 * x) + 0.3 * x


def make_gap_regression(
    n_samples: int = 200, noise: float = 0.1, random_state: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` noisy points on ``[-3, -1] U [1, 3]``.

    Parameters
    ----------
    n_samples : int, default=200
        Number of points (positive).
    noise : float, default=0.1
        Standard deviation of the Gaussian noise added to :func:`gap_regression_truth`.
    random_state : int or None, default=None
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n_samples, 1), float32
        Inputs, uniform on the two intervals.
    y : ndarray of shape (n_samples,), float32
        Noisy targets.

    Examples
    --------
    >>> X, y = make_gap_regression(50, random_state=1)
    >>> bool((abs(X) >= 1).all())
    True
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples: expected a positive int, got {n_samples!r}")
    if not noise >= 0:
        raise ValueError(f"noise: expected a non-negative number, got {noise!r}")
    rng = check_generator(random_state)
    x = rng.uniform(1.0, 3.0, n_samples) * rng.choice([-1.0, 1.0], n_samples)
    y = gap_regression_truth(x) + noise * rng.normal(size=n_samples)
    return x[:, None].astype(np.float32), y.astype(np.float32)
