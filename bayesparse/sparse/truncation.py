"""Mass-based row truncation of a non-negative dense matrix into a sparse matrix.

``row_mass_truncate(x, tol)`` keeps, in every row ``i``, the entries with
``x_ij >= tol * s_i / n_cols`` where ``s_i`` is the row sum. The dropped entries of a row are
at most ``n_cols`` values each below ``tol * s_i / n_cols``, so at most a fraction ``tol`` of the
row's mass is dropped, whatever the row looks like, and the kept set adapts per row: a peaked
row keeps a few entries, a flat one many. The threshold is one comparison per entry (no sort),
in two fused numba passes over ``x`` (count, then fill), with no ``n x m`` temporary: a caller
holding ``diag(u) W diag(v)`` (a transport plan in scaled form) passes ``W``, ``u`` and ``v``.
A torch ``x`` is truncated with torch ops on its own device (CPU or CUDA), and the result
stays there.

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

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from numba import njit

from bayesparse.sparse.tensor import SparseTensor

__all__ = ["row_mass_truncate", "row_mass_truncate_csr"]


def row_mass_truncate(
    x: np.ndarray | torch.Tensor,
    tol: float,
    row_sums: Any = None,
    row_scale: Any = None,
    col_scale: Any = None,
) -> SparseTensor:
    """Keep per row the entries of ``x`` holding at least ``1 - tol`` of the row's mass.

    Parameters
    ----------
    x : ndarray or Tensor, shape ``n x m``
        Non-negative matrix (e.g. a transport plan). A tensor is truncated on its device
        (the scales and row sums are then tensors on that device too).
    tol : float
        Fraction of each row's mass that may be dropped, in ``[0, 1)``; ``0`` keeps every
        non-zero entry.
    row_sums : ndarray, shape ``n``, optional
        Row sums of ``x diag(col_scale)`` if already known (saves one pass over ``x``).
    row_scale : ndarray, shape ``n``, optional
        Return the truncation of ``diag(row_scale) @ x`` instead. The rule is invariant to
        row scaling, so a caller holding ``P = diag(u) W`` passes ``W`` and ``u`` and never
        forms ``P``.
    col_scale : ndarray, shape ``m``, optional
        Truncate ``x diag(col_scale)`` (non-negative) instead of ``x``, without forming it.

    Returns
    -------
    SparseTensor
        The kept entries (values as in ``x``, times ``row_scale`` and ``col_scale``), in CSR
        order, on ``x``'s device.

    Examples
    --------
    >>> import numpy as np
    >>> row_mass_truncate(np.eye(3) + 1e-12, 1e-6).nnz
    3
    >>> import torch
    >>> row_mass_truncate(torch.eye(3, dtype=torch.float64) + 1e-12, 1e-6).nnz
    3
    """
    if isinstance(x, torch.Tensor):
        return _truncate_torch(x, tol, row_sums, row_scale, col_scale)
    csr = row_mass_truncate_csr(x, tol, row_sums, row_scale, col_scale)
    # the arrays are canonical by construction: hand them over without re-checking
    # (torch.repeat_interleave and bincount cost milliseconds per call on a busy machine)
    return SparseTensor.from_csr(csr.indptr, csr.indices, csr.data, x.shape, validate=False)


def row_mass_truncate_csr(
    x: np.ndarray,
    tol: float,
    row_sums: np.ndarray | None = None,
    row_scale: np.ndarray | None = None,
    col_scale: np.ndarray | None = None,
) -> sp.csr_matrix:
    """:func:`row_mass_truncate` as a scipy CSR matrix, for numpy-only callers.

    Parameters
    ----------
    x, tol, row_sums, row_scale, col_scale
        As in :func:`row_mass_truncate`.

    Returns
    -------
    scipy.sparse.csr_matrix
        The kept entries, canonical (sorted column indices, no duplicates); 32-bit indices
        when they fit.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 1e-9], [0.5, 0.5]])
    >>> row_mass_truncate_csr(w, 1e-6, col_scale=np.array([1.0, 2.0])).toarray().tolist()
    [[1.0, 0.0], [0.5, 1.0]]
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x: expected a 2-D numpy array")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x: expected a real non-negative array, got dtype {x.dtype}")
    _check_mass(float(x.min()) if x.size else 0.0, tol)
    n, m = x.shape
    cs = _scale(col_scale, m, "col_scale")
    rs = _scale(row_scale, n, "row_scale")
    if row_sums is None:
        s = x.sum(axis=1) if col_scale is None else x @ cs
    else:
        s = np.asarray(row_sums, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"row_sums: expected shape ({n},), got {s.shape}")
    thr = s * (tol / max(m, 1))
    # a zero threshold would keep the zeros of its row
    strict = not (tol > 0 and n > 0 and thr.min() > 0)
    counts = _count_kept(x, cs, thr, strict)
    nnz = int(counts.sum())
    index = np.int32 if max(nnz, m) < 2**31 else np.int64
    indptr = np.zeros(n + 1, dtype=index)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz + 1, dtype=index)
    dtype = x.dtype if row_scale is None and col_scale is None else np.float64
    vals = np.empty(nnz + 1, dtype=dtype)
    _fill_kept(x, cs, rs, thr, strict, indptr, indices, vals)
    return sp.csr_matrix((vals[:nnz], indices[:nnz], indptr), shape=(n, m), copy=False)


def _check_mass(lo: float, tol: float) -> None:
    """``tol`` in ``[0, 1)`` and ``x``'s minimum ``lo`` neither NaN nor negative (min
    propagates NaN: one pass finds both)."""
    if not 0.0 <= tol < 1.0:
        raise ValueError(f"tol: expected 0 <= tol < 1, got {tol}")
    if lo != lo:
        raise ValueError("x: NaN entries make the row mass undefined; clean the data first")
    if lo < 0:
        raise ValueError(f"x: expected non-negative entries, got a minimum of {lo}")


def _truncate_torch(
    x: torch.Tensor, tol: float, row_sums: torch.Tensor | None,
    row_scale: torch.Tensor | None, col_scale: torch.Tensor | None,
) -> SparseTensor:
    """:func:`row_mass_truncate` by torch ops on ``x``'s device (one ``n x m`` temporary)."""
    if x.ndim != 2:
        raise ValueError(f"x: expected a 2-D tensor, got {x.ndim}-D")
    if not x.dtype.is_floating_point:
        raise TypeError(f"x: expected a real floating tensor, got {x.dtype}")
    _check_mass(float(x.min()) if x.numel() else 0.0, tol)
    n, m = x.shape
    w = x if col_scale is None else x * _scale_torch(col_scale, m, "col_scale", x)
    s = w.sum(1) if row_sums is None else torch.as_tensor(row_sums, device=x.device)
    if s.shape != (n,):
        raise ValueError(f"row_sums: expected shape ({n},), got {tuple(s.shape)}")
    thr = (s * (tol / max(m, 1))).to(w.dtype)
    keep = w >= thr[:, None]
    if not (tol > 0 and n > 0 and float(thr.min()) > 0):
        keep &= w > 0  # a zero threshold would keep the zeros of its row
    idx = keep.nonzero()  # row-major: CSR order
    row, col = idx[:, 0], idx[:, 1]
    vals = w[row, col]  # a gather: faster than boolean indexing on CPU
    if row_scale is not None:
        vals = vals * _scale_torch(row_scale, n, "row_scale", x)[row]
    return SparseTensor(idx.T.contiguous(), vals, (n, m), validate=False, _canonical=True)


def _scale_torch(w: Any, size: int, name: str, like: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(w, dtype=like.dtype, device=like.device)
    if w.shape != (size,):
        raise ValueError(f"{name}: expected shape ({size},), got {tuple(w.shape)}")
    if not bool((w >= 0).all()):
        raise ValueError(f"{name}: expected finite non-negative scales")
    return w


def _scale(w: np.ndarray | None, size: int, name: str) -> np.ndarray:
    if w is None:
        return np.ones(size)
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (size,):
        raise ValueError(f"{name}: expected shape ({size},), got {w.shape}")
    if not (w >= 0).all():
        raise ValueError(f"{name}: expected finite non-negative scales")
    return w


@njit(cache=True)
def _count_kept(x, col_scale, thr, strict):  # noqa: ANN001, ANN202
    """Kept entries per row (branch-free inner loops, which vectorize)."""
    n, m = x.shape
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        t = thr[i]
        k = 0
        if strict:
            for j in range(m):
                w = x[i, j] * col_scale[j]
                k += (w >= t) & (w > 0)
        else:
            for j in range(m):
                k += x[i, j] * col_scale[j] >= t
        counts[i] = k
    return counts


@njit(cache=True)
def _fill_kept(x, col_scale, row_scale, thr, strict, indptr, indices, vals):  # noqa: ANN001, ANN202
    """Write the kept entries, ``row_scale_i x_ij col_scale_j``, in CSR order.

    Every entry is written and the cursor advances only past kept ones (no unpredictable
    branch; ``indices`` and ``vals`` have one slot of slack for the last row's overwrite).
    """
    n, m = x.shape
    for i in range(n):
        p = indptr[i]
        t = thr[i]
        ri = row_scale[i]
        if strict:
            for j in range(m):
                w = x[i, j] * col_scale[j]
                indices[p] = j
                vals[p] = w * ri
                p += (w >= t) & (w > 0)
        else:
            for j in range(m):
                w = x[i, j] * col_scale[j]
                indices[p] = j
                vals[p] = w * ri
                p += w >= t
