"""Binary sparse codes: overlaps and unions of sparse distributed representations.

An SDR is a binary vector with few active bits; a batch of codes is a ``SparseTensor``
pattern of shape ``n_codes x n_bits``. The overlap ``|a ∧ b|`` between codes is the match score
of Ahmad & Hawkins ("How do neurons operate on sparse distributed representations?",
arXiv 1601.00720, eq. 1); a union is the OR of codes (their eq. 9, union property).

Examples
--------
>>> from bayesparse.sparse import SparseTensor, overlap, union
>>> a = SparseTensor.from_rows([[0, 3, 5], [1, 2, 3]], n_cols=8)
>>> overlap(a).tolist()
[[3, 1], [1, 3]]
>>> union(a).col.tolist()
[0, 1, 2, 3, 5]
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bayesparse.sparse.tensor import SparseTensor

__all__ = ["overlap", "union"]


def _binary_csr(codes: SparseTensor, name: str) -> sp.csr_matrix:
    if not isinstance(codes, SparseTensor):
        raise TypeError(f"{name}: expected a SparseTensor of codes, got {type(codes).__name__}")
    m = codes.to_scipy()
    return sp.csr_matrix(
        (np.ones(m.nnz, dtype=np.int64), m.indices, m.indptr), shape=m.shape
    )


def overlap(a: SparseTensor, b: SparseTensor | None = None) -> np.ndarray:
    """Overlap counts ``|a_i ∧ b_j|`` for all pairs of rows (``b`` defaults to ``a``)."""
    ma = _binary_csr(a, "a")
    mb = ma if b is None else _binary_csr(b, "b")
    if ma.shape[1] != mb.shape[1]:
        raise ValueError(f"b: codes have {mb.shape[1]} bits, a has {ma.shape[1]}")
    return (ma @ mb.T).toarray()


def union(codes: SparseTensor) -> SparseTensor:
    """The OR of all rows, as a ``1 x n_bits`` pattern."""
    m = _binary_csr(codes, "codes")
    cols = np.unique(m.indices)
    return SparseTensor.from_rows([cols], m.shape[1])
