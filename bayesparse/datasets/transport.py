"""Optimal-transport test problems: two 2-D point clouds and their normalized cost matrix.

The problems of the Sinkhorn-Newton-Sparse benchmark and tests (Tang et al., "Accelerating
Sinkhorn Algorithm with Sparse Newton Iterations", ICLR 2024, use uniform 2-D points).

Examples
--------
>>> from bayesparse.datasets.transport import make_point_clouds
>>> a, b, M = make_point_clouds("uniform", 5, random_state=0)
>>> a.sum(), M.shape, float(M.max())
(np.float64(1.0), (5, 5), 1.0)
"""

from __future__ import annotations

import numpy as np
import ot

from bayesparse.rng import RandomState, check_generator

__all__ = ["make_point_clouds"]


def make_point_clouds(
    kind: str, n: int, random_state: RandomState = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniform marginals and the squared-distance cost between two clouds of ``n`` points.

    Parameters
    ----------
    kind : {"uniform", "gmm"}
        Points uniform on the unit square, or from a mixture of three Gaussians (sd 0.3).
    n : int
        Points per cloud (positive).
    random_state : None, int or numpy Generator

    Returns
    -------
    a, b : ndarray, shape ``n``
        Uniform weights ``1 / n``.
    M : ndarray, shape ``n x n``
        Squared Euclidean costs, normalized to maximum 1.
    """
    if kind not in ("uniform", "gmm"):
        raise ValueError(f"kind: expected 'uniform' or 'gmm', got {kind!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    rng = check_generator(random_state)
    if kind == "uniform":
        x, y = rng.random((n, 2)), rng.random((n, 2))
    else:
        centers = rng.normal(size=(3, 2))
        x = centers[rng.integers(0, 3, n)] + 0.3 * rng.normal(size=(n, 2))
        y = centers[rng.integers(0, 3, n)] + 0.3 * rng.normal(size=(n, 2))
    M = ot.dist(x, y)
    return np.full(n, 1.0 / n), np.full(n, 1.0 / n), M / M.max()
