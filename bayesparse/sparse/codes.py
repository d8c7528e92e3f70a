"""Binary sparse codes: overlaps and unions of sparse distributed representations.

An SDR is a binary vector with few active bits; a batch of codes is a ``SparseTensor``
pattern of shape ``n_codes x n_bits``. The overlap ``|a ∧ b|`` between codes is the match score
of Ahmad & Hawkins ("How do neurons operate on sparse distributed representations?",
arXiv 1601.00720, eq. 1); a union is the OR of codes (their eq. 9, union property).
``subsample`` keeps ``k`` active bits of each code (a dendritic segment's synapses, their
section 3) and ``add_noise`` moves ``k`` active bits of each code to random inactive positions
(their noise model, section 4: the code keeps its ``a`` active bits, ``k`` of them replaced).
Only non-zero entries count as active, so a pattern with stored zeros is read correctly.

Examples
--------
>>> from bayesparse.sparse import SparseTensor, overlap, union
>>> a = SparseTensor.from_rows([[0, 3, 5], [1, 2, 3]], n_cols=8)
>>> overlap(a).tolist()
[[3, 1], [1, 3]]
>>> union(a).col.tolist()
[0, 1, 2, 3, 5]
>>> subsample(a, 2, random_state=0).sum(dim=1).tolist()
[2, 2]
>>> overlap(add_noise(a, 1, random_state=0), a).diagonal().tolist()
[2, 2]
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bayesparse.rng import RandomState, check_generator
from bayesparse.sparse.tensor import SparseTensor

__all__ = ["overlap", "union", "subsample", "add_noise"]


def _binary_csr(codes: SparseTensor, name: str) -> sp.csr_matrix:
    """The codes as an int64 0/1 CSR matrix holding only the active (non-zero) bits."""
    if not isinstance(codes, SparseTensor):
        raise TypeError(f"{name}: expected a SparseTensor of codes, got {type(codes).__name__}")
    m = codes.to_scipy()
    if codes.is_pattern:
        return sp.csr_matrix(
            (np.ones(m.nnz, dtype=np.int64), m.indices, m.indptr), shape=m.shape
        )
    vals = np.asarray(m.data)
    if not np.all((vals == 0) | (vals == 1)):
        raise ValueError(
            f"{name}: codes must be binary (values 0 or 1); pass a pattern "
            "(SparseTensor without values) or threshold the values first"
        )
    # A stored 0.0 is an inactive bit: drop it before counting overlaps.
    out = sp.csr_matrix((vals.astype(np.int64), m.indices, m.indptr), shape=m.shape)
    out.eliminate_zeros()
    return out


def _rows(codes: SparseTensor, name: str) -> tuple[sp.csr_matrix, np.ndarray]:
    m = _binary_csr(codes, name)
    return m, np.diff(m.indptr)


def overlap(a: SparseTensor, b: SparseTensor | None = None) -> np.ndarray:
    """Overlap counts ``|a_i ∧ b_j|`` for all pairs of rows (``b`` defaults to ``a``).

    Parameters
    ----------
    a, b : SparseTensor
        Binary codes, one per row (a pattern, or values that are all 1; a stored 0 is not an
        active bit).

    Returns
    -------
    ndarray of int, shape ``len(a) x len(b)``

    Examples
    --------
    >>> overlap(SparseTensor.from_rows([[0, 1, 2], [2, 3]], n_cols=5)).tolist()
    [[3, 1], [1, 2]]

    References
    ----------
    .. [1] Ahmad & Hawkins, "How do neurons operate on sparse distributed representations?",
       arXiv:1601.00720, 2016 (overlap, eq. 2).
    """
    ma = _binary_csr(a, "a")
    mb = ma if b is None else _binary_csr(b, "b")
    if ma.shape[1] != mb.shape[1]:
        raise ValueError(f"b: codes have {mb.shape[1]} bits, a has {ma.shape[1]}")
    return (ma @ mb.T).toarray()


def union(codes: SparseTensor) -> SparseTensor:
    """The OR of all rows, as a ``1 x n_bits`` pattern.

    Parameters
    ----------
    codes : SparseTensor
        Binary codes, one per row.

    Returns
    -------
    SparseTensor
        A ``1 x n_bits`` pattern.

    Examples
    --------
    >>> union(SparseTensor.from_rows([[0, 1], [1, 4]], n_cols=5)).col.tolist()
    [0, 1, 4]
    """
    m = _binary_csr(codes, "codes")
    cols = np.unique(m.indices)
    return SparseTensor.from_rows([cols], m.shape[1])


def subsample(codes: SparseTensor, k: int, random_state: RandomState = None) -> SparseTensor:
    """Keep ``k`` active bits of each code, chosen uniformly at random without replacement.

    Parameters
    ----------
    codes : SparseTensor
        ``n_codes x n_bits`` binary codes; every row needs at least ``k`` active bits.
    k : int
        Active bits kept per code (a segment's number of synapses ``s``).
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    SparseTensor
        ``n_codes x n_bits`` pattern with ``k`` active bits per row.

    References
    ----------
    Ahmad & Hawkins, arXiv 1601.00720, section 3 (subsampling).
    """
    m, sizes = _rows(codes, "codes")
    k = _check_count(k, "k")
    if sizes.size and k > sizes.min():
        raise ValueError(
            f"k: cannot keep {k} bits of a code with {int(sizes.min())} active bits; "
            "pass k <= the smallest code size"
        )
    rng = check_generator(random_state)
    rows = [rng.choice(m.indices[m.indptr[i]:m.indptr[i + 1]], k, replace=False)
            for i in range(m.shape[0])]
    return SparseTensor.from_rows([np.sort(r) for r in rows], m.shape[1])


def add_noise(codes: SparseTensor, k: int, random_state: RandomState = None) -> SparseTensor:
    """Move ``k`` active bits of each code to random inactive positions (code size kept).

    Parameters
    ----------
    codes : SparseTensor
        ``n_codes x n_bits`` binary codes with at least ``k`` active and ``k`` inactive bits.
    k : int
        Bits replaced per code (the paper's ``v``).
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    SparseTensor
        The noisy codes; each shares exactly ``a - k`` bits with its original.

    References
    ----------
    Ahmad & Hawkins, arXiv 1601.00720, section 4 (robustness to noise).
    """
    m, sizes = _rows(codes, "codes")
    k = _check_count(k, "k")
    n = m.shape[1]
    if sizes.size and (k > sizes.min() or k > n - sizes.max()):
        raise ValueError(
            f"k: cannot move {k} bits with codes of {int(sizes.min())}-{int(sizes.max())} "
            f"active of {n} bits; pass k <= min(a, n - a)"
        )
    rng = check_generator(random_state)
    rows = []
    for i in range(m.shape[0]):
        act = m.indices[m.indptr[i]:m.indptr[i + 1]]
        keep = rng.choice(act, act.size - k, replace=False)
        free = np.setdiff1d(np.arange(n), act, assume_unique=True)
        rows.append(np.sort(np.concatenate([keep, rng.choice(free, k, replace=False)])))
    return SparseTensor.from_rows(rows, n)


def _check_count(k: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {k!r}")
    return int(k)
