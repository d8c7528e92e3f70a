"""Encoders from scalars, categories and images to SDR codes (binary ``SparseTensor`` rows).

Scalar encoder (Purdy, "Encoding data for HTM systems", arXiv 1602.05925, section 3): a value
in ``[low, high]`` activates a run of ``w`` contiguous bits among ``n_bits``, whose start moves
linearly with the value, so nearby values share bits and the overlap falls off linearly with
distance. Multi-feature rows concatenate one such block per feature. Categories get disjoint
runs of ``w`` bits (no overlap between categories). A binary image's code is its set of active
pixels, optionally followed by one "off" bit per pixel so every code has the same number of
active bits (Sparsey assumes inputs of about constant size: its normalized input ``U`` counts
only active inputs, so a code of few active bits would match any cell that stored more).

References
----------
S. Purdy, "Encoding data for HTM systems", arXiv 1602.05925 (2016).

Examples
--------
>>> import numpy as np
>>> from bayesparse.models.sdr_encoders import scalar_encode
>>> codes = scalar_encode(np.array([[0.0], [0.1], [1.0]]), n_bits=20, w=5)
>>> codes.col.tolist()[:5], codes.sum(dim=1).tolist()
([0, 1, 2, 3, 4], [5, 5, 5])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayesparse.sparse import SparseTensor

__all__ = ["scalar_encode", "category_encode", "binary_image_encode"]


def scalar_encode(
    X: Any, n_bits: int, w: int, low: Any = None, high: Any = None
) -> SparseTensor:
    """Encode each row of real features as concatenated runs of ``w`` of ``n_bits`` bits.

    Parameters
    ----------
    X : array-like, ``n_rows x n_features`` (or 1-D: one feature)
    n_bits : int
        Bits per feature.
    w : int
        Active bits per feature, ``1 <= w <= n_bits``.
    low, high : float or array, optional
        Range per feature (defaults to the column min and max); values are clipped to it.

    Returns
    -------
    SparseTensor
        ``n_rows x (n_features n_bits)`` pattern with ``n_features w`` active bits per row.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or not np.all(np.isfinite(X)):
        raise ValueError("X: expected a finite 1-D or 2-D array of real values")
    if not 1 <= w <= n_bits:
        raise ValueError(f"w: expected 1 <= w <= n_bits={n_bits}, got {w}")
    lo = X.min(axis=0) if low is None else np.broadcast_to(np.asarray(low, float), X.shape[1])
    hi = X.max(axis=0) if high is None else np.broadcast_to(np.asarray(high, float), X.shape[1])
    span = np.where(hi > lo, hi - lo, 1.0)
    frac = np.clip((X - lo) / span, 0.0, 1.0)
    start = np.rint(frac * (n_bits - w)).astype(np.int64) + np.arange(X.shape[1]) * n_bits
    cols = (start[:, :, None] + np.arange(w)).reshape(X.shape[0], -1)
    return SparseTensor.from_rows(list(cols), X.shape[1] * n_bits)


def category_encode(labels: Any, n_categories: int, w: int) -> SparseTensor:
    """Encode integer labels ``0..n_categories-1`` as disjoint runs of ``w`` bits.

    Parameters
    ----------
    labels : array-like of int
    n_categories : int
    w : int
        Active bits per category.

    Returns
    -------
    SparseTensor
        ``n_labels x (n_categories w)`` pattern.

    Examples
    --------
    >>> category_encode([2, 0], 3, 2).col.tolist()
    [4, 5, 0, 1]
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.size and (
        labels.min() < 0 or labels.max() >= n_categories
    ):
        raise ValueError(f"labels: expected integers in [0, n_categories={n_categories})")
    if w < 1:
        raise ValueError(f"w: expected a positive integer, got {w}")
    cols = labels.reshape(-1, 1) * w + np.arange(w)
    return SparseTensor.from_rows(list(cols), n_categories * w)


def binary_image_encode(
    images: Any, threshold: float = 0.5, *, off_bits: bool = False
) -> SparseTensor:
    """Encode images (``n x h x w`` or ``n x pixels``) as their pixels above ``threshold``.

    Parameters
    ----------
    images : array-like
    threshold : float
        Pixels strictly above it are active.
    off_bits : bool
        Append one bit per pixel, active when the pixel is not: bit ``p`` is pixel ``p`` on,
        bit ``pixels + p`` pixel ``p`` off, so every code has ``pixels`` active bits.

    Returns
    -------
    SparseTensor
        ``n x pixels`` pattern (``n x 2 pixels`` with ``off_bits``).

    References
    ----------
    S. Purdy, "Encoding data for HTM systems", arXiv 1602.05925 (2016), section 2 (fixed
    code size).

    Examples
    --------
    >>> binary_image_encode([[[0.0, 0.9], [0.7, 0.1]]]).col.tolist()
    [1, 2]
    >>> binary_image_encode([[[0.0, 0.9], [0.7, 0.1]]], off_bits=True).col.tolist()
    [1, 2, 4, 7]
    """
    images = np.asarray(images, dtype=float)
    if images.ndim < 2 or not np.all(np.isfinite(images)):
        raise ValueError("images: expected a finite array of shape n x pixels or n x h x w")
    flat = images.reshape(images.shape[0], -1) > threshold
    if off_bits:
        flat = np.concatenate([flat, ~flat], axis=1)
    return SparseTensor.from_rows([np.flatnonzero(r) for r in flat], flat.shape[1])
