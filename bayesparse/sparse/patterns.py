"""Structured sparsity patterns: N:M, blocks and uniform random supports.

N:M sparsity keeps ``n`` of every ``m`` consecutive entries of a row (NVIDIA's 2:4 pattern;
Mishra et al., "Accelerating Sparse Deep Neural Networks", arXiv 2104.08378). Block patterns
keep whole ``bh x bw`` tiles. Random patterns draw a support of a given density uniformly
(the initial support of SSVI and of very sparse random projections).

Examples
--------
>>> import torch
>>> from bayesparse.sparse import nm_sparsify, random_pattern
>>> s = nm_sparsify(torch.arange(8.0).reshape(1, 8), n=2, m=4)
>>> s.col.tolist()
[2, 3, 6, 7]
>>> random_pattern((100, 50), density=0.1, random_state=0).nnz
500
"""

from __future__ import annotations

import numpy as np
import torch

from bayesparse.rng import check_generator
from bayesparse.sparse.tensor import ArrayLike, SparseTensor, _dense_2d, _reject_nan

__all__ = ["nm_sparsify", "random_pattern", "block_pattern", "check_density"]


def check_density(density: float, name: str = "density") -> float:
    """Validate a density in ``(0, 1]``.

    Parameters
    ----------
    density : float
    name : str, default "density"
        Argument name used in the error message.

    Returns
    -------
    float

    Examples
    --------
    >>> check_density(0.25)
    0.25
    """
    if not isinstance(density, (int, float, np.floating)) or not 0 < float(density) <= 1:
        raise ValueError(f"{name}: expected a number in (0, 1], got {density!r}")
    return float(density)


def nm_sparsify(x: ArrayLike, n: int, m: int) -> SparseTensor:
    """Keep the ``n`` largest-magnitude entries of every ``m`` consecutive entries per row.

    Parameters
    ----------
    x : ndarray or Tensor, shape ``rows x cols``
        Dense matrix; NaN entries raise ``ValueError`` (they have no magnitude to rank).
    n, m : int
        Keep ``n`` of every ``m`` entries (``0 < n <= m``, ``m`` divides ``cols``).

    Returns
    -------
    SparseTensor
        ``n / m`` of the entries, with their values.

    Examples
    --------
    >>> import torch
    >>> nm_sparsify(torch.tensor([[1.0, -3.0, 2.0, 0.5]]), n=2, m=4).to_dense().tolist()
    [[0.0, -3.0, 2.0, 0.0]]

    References
    ----------
    .. [1] Mishra et al., "Accelerating Sparse Deep Neural Networks", arXiv:2104.08378, 2021.
    """
    t = _dense_2d(x, "x")
    _reject_nan(t, "x", "ranking by magnitude")
    if not 0 < n <= m:
        raise ValueError(f"n, m: expected 0 < n <= m, got n={n}, m={m}")
    rows, cols = t.shape
    if cols % m:
        raise ValueError(f"m: the number of columns ({cols}) must be a multiple of m={m}")
    groups = t.reshape(rows, cols // m, m)
    keep = groups.abs().topk(n, dim=2).indices.sort(dim=2).values
    col = (keep + torch.arange(0, cols, m, device=t.device).reshape(1, -1, 1)).reshape(rows, -1)
    row = torch.arange(rows, device=t.device).repeat_interleave(col.shape[1])
    idx = torch.stack((row, col.reshape(-1)))
    return SparseTensor(idx, t[idx[0], idx[1]], t.shape, validate=False, _canonical=True)


def _block_indices(
    blocks: torch.Tensor, grid_cols: int, block: tuple[int, int]
) -> torch.Tensor:
    """Entry indices (CSR order) of the selected blocks (linear indices on the block grid)."""
    bh, bw = block
    br, bc = blocks // grid_cols, blocks % grid_cols
    r = (br[:, None, None] * bh + torch.arange(bh)[None, :, None]).expand(-1, bh, bw)
    c = (bc[:, None, None] * bw + torch.arange(bw)[None, None, :]).expand(-1, bh, bw)
    return torch.stack((r.reshape(-1), c.reshape(-1)))


def _check_block(shape: tuple[int, int], block: tuple[int, int]) -> tuple[int, int]:
    bh, bw = (int(b) for b in block)
    if bh <= 0 or bw <= 0 or shape[0] % bh or shape[1] % bw:
        raise ValueError(f"block: {block} must be positive and divide the shape {shape}")
    return shape[0] // bh, shape[1] // bw


def block_pattern(
    shape: tuple[int, int],
    block: tuple[int, int],
    density: float,
    random_state: int | np.random.Generator | None = None,
) -> SparseTensor:
    """A random binary pattern of whole blocks at the given density.

    Parameters
    ----------
    shape : (int, int)
    block : (int, int)
        Block height and width; they must divide ``shape``.
    density : float
        Fraction of blocks kept, in ``(0, 1]`` (at least one block).
    random_state : int, Generator or None

    Returns
    -------
    SparseTensor
        A binary pattern.

    Examples
    --------
    >>> block_pattern((4, 4), (2, 2), 0.5, random_state=0).nnz
    8
    """
    density = check_density(density)
    gr, gc = _check_block(tuple(shape), block)
    k = max(1, round(density * gr * gc))
    chosen = torch.from_numpy(check_generator(random_state).choice(gr * gc, size=k, replace=False))
    return SparseTensor(_block_indices(chosen, gc, tuple(block)), None, shape)


def random_pattern(
    shape: tuple[int, int],
    density: float,
    random_state: int | np.random.Generator | None = None,
    *,
    per_row: bool = False,
) -> SparseTensor:
    """A uniform random binary pattern with ``round(density * size)`` entries.

    Parameters
    ----------
    shape : (int, int)
    density : float
        In ``(0, 1]``; at least one entry is drawn.
    random_state : int, Generator or None
    per_row : bool, default False
        Put exactly ``max(1, round(density * n_cols))`` entries in every row.

    Returns
    -------
    SparseTensor
        A binary pattern, drawn uniformly among the supports of that size.

    Examples
    --------
    >>> random_pattern((10, 20), 0.1, random_state=0, per_row=True).crow.diff().tolist()
    [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]

    References
    ----------
    .. [1] Li, Hastie and Church, "Very sparse random projections", KDD 2006.
    """
    density = check_density(density)
    rows, cols = (int(s) for s in shape)
    rng = check_generator(random_state)
    if per_row:
        k = max(1, round(density * cols))
        col = np.argsort(rng.random((rows, cols)), axis=1)[:, :k] if cols <= 4096 else np.stack(
            [rng.choice(cols, size=k, replace=False) for _ in range(rows)]
        )
        # sorted columns: the indices arrive in CSR order, so construction skips its sort
        idx = np.stack((np.repeat(np.arange(rows), k), np.sort(col, axis=1).reshape(-1)))
        return SparseTensor(torch.from_numpy(idx), None, (rows, cols))
    k = max(1, round(density * rows * cols))
    flat = np.sort(_sample_without_replacement(rng, rows * cols, k))
    idx = np.stack((flat // cols, flat % cols))
    return SparseTensor(torch.from_numpy(idx), None, (rows, cols))


def _sample_without_replacement(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``k`` distinct integers from ``range(n)``; draws with rejection when ``k << n``."""
    if k > n // 4:
        return rng.choice(n, size=k, replace=False)
    out = _distinct(rng.integers(0, n, size=int(k * 1.1) + 16))
    while out.size < k:
        out = _distinct(np.concatenate((out, rng.integers(0, n, size=k - out.size + 16))))
    return rng.permutation(out)[:k]


def _distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values by sort-and-compare (``np.unique``'s hash path is slower here)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]]
