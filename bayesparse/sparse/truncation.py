"""Mass-based row truncation of a non-negative dense matrix into a ``SparseTensor``.

``row_mass_truncate(x, tol)`` keeps, in every row ``i``, the entries with
``x_ij >= tol * s_i / n_cols`` where ``s_i`` is the row sum. The dropped entries of a row are
at most ``n_cols`` values each below ``tol * s_i / n_cols``, so at most a fraction ``tol`` of the
row's mass is dropped, whatever the row looks like, and the kept set adapts per row: a peaked
row keeps a few entries, a flat one many. The threshold is one comparison per entry (no sort).

Examples
--------
>>> import numpy as np
>>> from bayesparse.sparse.truncation import row_mass_truncate
>>> x = np.array([[0.7, 0.3, 1e-9], [0.5, 0.25, 0.25]])
>>> s = row_mass_truncate(x, 1e-6)
>>> s.nnz, s.to_dense().numpy().tolist()
(5, [[0.7, 0.3, 0.0], [0.5, 0.25, 0.25]])
"""

from __future__ import annotations

import numpy as np

from bayesparse.sparse.tensor import SparseTensor

__all__ = ["row_mass_truncate"]


def row_mass_truncate(
    x: np.ndarray,
    tol: float,
    row_sums: np.ndarray | None = None,
    row_scale: np.ndarray | None = None,
) -> SparseTensor:
    """Keep per row the entries of ``x`` holding at least ``1 - tol`` of the row's mass.

    Parameters
    ----------
    x : ndarray, shape ``n x m``
        Non-negative matrix (e.g. a transport plan).
    tol : float
        Fraction of each row's mass that may be dropped, in ``[0, 1)``; ``0`` keeps every
        non-zero entry.
    row_sums : ndarray, shape ``n``, optional
        Row sums of ``x`` if already known (saves one pass over ``x``).
    row_scale : ndarray, shape ``n``, optional
        Return the truncation of ``diag(row_scale) @ x`` instead. The rule is invariant to
        row scaling, so a caller holding ``P = diag(u) W`` passes ``W`` and ``u`` and never
        forms ``P``.

    Returns
    -------
    SparseTensor
        The kept entries (values as in ``x``, times ``row_scale``), in CSR order.

    Examples
    --------
    >>> import numpy as np
    >>> row_mass_truncate(np.eye(3) + 1e-12, 1e-6).nnz
    3
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x: expected a 2-D numpy array")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x: expected a real non-negative array, got dtype {x.dtype}")
    lo = x.min() if x.size else 0.0
    if np.isnan(lo):  # min propagates NaN: one pass finds both NaN and negatives
        raise ValueError("x: NaN entries make the row mass undefined; clean the data first")
    if lo < 0:
        raise ValueError(f"x: expected non-negative entries, got a minimum of {lo}")
    if not 0.0 <= tol < 1.0:
        raise ValueError(f"tol: expected 0 <= tol < 1, got {tol}")
    s = x.sum(axis=1) if row_sums is None else np.asarray(row_sums, dtype=x.dtype)
    if s.shape != (x.shape[0],):
        raise ValueError(f"row_sums: expected shape ({x.shape[0]},), got {s.shape}")
    thr = s * (tol / max(x.shape[1], 1))
    if tol > 0 and thr.min() > 0:
        keep = x >= thr[:, None]
    else:  # a zero threshold would keep the zeros of its row
        keep = (x >= thr[:, None]) & (x > 0)
    indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(keep, axis=1), out=indptr[1:])
    flat = np.flatnonzero(keep)
    idx = np.empty((2, flat.size), dtype=np.int64)
    np.floor_divide(flat, max(x.shape[1], 1), out=idx[0])
    np.subtract(flat, idx[0] * x.shape[1], out=idx[1])
    vals = x.ravel()[flat]
    if row_scale is not None:
        vals *= np.asarray(row_scale, dtype=x.dtype)[idx[0]]
    # the arrays are canonical by construction: hand them over without re-checking
    # (torch.repeat_interleave and bincount cost milliseconds per call on a busy machine)
    return SparseTensor.from_csr(indptr, idx[1], vals, x.shape, validate=False)
