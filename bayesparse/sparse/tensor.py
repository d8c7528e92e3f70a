"""``SparseTensor``: the one sparse matrix type every bayesparse component shares.

A ``SparseTensor`` is a 2-D matrix held in canonical CSR order (rows sorted, columns sorted
within a row, no duplicates) as three torch tensors: a ``2 x nnz`` index tensor, the row
pointer, and optional values (``None`` means a binary pattern: a mask, a support, an SDR code).
It adds no kernels of its own: products run on ``torch.sparse`` (autograd, threads, devices) or
``scipy.sparse`` (numpy operands), and conversions to both are zero-copy where layouts allow.

Examples
--------
>>> import torch
>>> from bayesparse.sparse import SparseTensor
>>> x = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, -3.0]])
>>> s = SparseTensor.from_dense(x)
>>> s.nnz, s.shape
(3, (2, 3))
>>> (s @ torch.ones(3)).tolist()
[2.0, -2.0]
>>> SparseTensor.topk(x, 1, dim=1).to_dense().tolist()
[[0.0, 2.0, 0.0], [0.0, 0.0, -3.0]]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["SparseTensor", "SUPPORTED_DTYPES"]

SUPPORTED_DTYPES = (
    torch.bool,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
)

ArrayLike = np.ndarray | torch.Tensor

#: torch.sparse has no CPU CSR product kernel for these; ``@`` computes in the wider dtype and
#: casts back (half types in float32; integers in float64, exact below 2**53, checked).
_MATMUL_UPCAST = {
    torch.float16: torch.float32,
    torch.bfloat16: torch.float32,
    torch.int32: torch.float64,
    torch.int64: torch.float64,
}


def _csr_tensor(
    crow: torch.Tensor, col: torch.Tensor, vals: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """``torch.sparse_csr_tensor`` without its "beta" warning, silenced here only.

    A process-wide filter would also hide the warning in the user's own code.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, vals, shape, check_invariants=False)


def _as_values(values: Any, device: torch.device | None = None) -> torch.Tensor:
    """Turn user values into a torch tensor, refusing dtypes torch.sparse cannot multiply."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biufc":
            raise TypeError(
                f"values: unsupported dtype {values.dtype}; pass a numeric or boolean array"
            )
        values = torch.from_numpy(np.ascontiguousarray(values))
    elif not isinstance(values, torch.Tensor):
        values = torch.as_tensor(values)
    if values.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"values: unsupported dtype {values.dtype}; use one of "
            f"{', '.join(str(d).removeprefix('torch.') for d in SUPPORTED_DTYPES)}"
        )
    return values if device is None else values.to(device)


def _as_index(idx: Any, name: str) -> torch.Tensor:
    if isinstance(idx, np.ndarray):
        idx = torch.from_numpy(idx)
    idx = torch.as_tensor(idx)
    if idx.numel() == 0:  # an empty list arrives as float32
        return idx.to(torch.int64)
    if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
        raise TypeError(f"{name}: indices must be integers, got {idx.dtype}")
    return idx.to(torch.int64)


class SparseTensor:
    """A 2-D sparse matrix (or binary pattern) in canonical CSR order.

    Parameters
    ----------
    indices : array or tensor, shape ``2 x nnz``
        Row indices in the first row, column indices in the second. Any order; duplicates
        are summed (their values) or merged (patterns).
    values : array or tensor, shape ``nnz``, optional
        Entry values. ``None`` makes a binary pattern whose entries are all one.
    shape : (int, int)
        Matrix shape.
    validate : bool, default True
        Check indices are in range (always cheap). Internal callers that construct from
        already-canonical data pass ``False``.
    check_finite : bool, default False
        Also reject NaN or infinite values.

    Examples
    --------
    >>> s = SparseTensor([[0, 1], [2, 0]], [1.0, 5.0], (2, 3))
    >>> s.to_dense().tolist()
    [[0.0, 0.0, 1.0], [5.0, 0.0, 0.0]]
    """

    __slots__ = (
        "_indices", "_crow", "_values", "_shape", "_scipy", "_transpose", "_perm_t", "_csr"
    )
    # numpy must defer ``ndarray @ SparseTensor`` to __rmatmul__ instead of wrapping us in an array.
    __array_ufunc__ = None

    def __init__(
        self,
        indices: Any,
        values: Any | None,
        shape: Sequence[int],
        *,
        validate: bool = True,
        check_finite: bool = False,
        _canonical: bool = False,
    ) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"shape: expected two non-negative sizes, got {shape}")
        idx = _as_index(indices, "indices")
        if idx.ndim != 2 or idx.shape[0] != 2:
            raise ValueError(f"indices: expected shape (2, nnz), got {tuple(idx.shape)}")
        vals = None if values is None else _as_values(values, idx.device)
        if vals is not None and (vals.ndim != 1 or vals.shape[0] != idx.shape[1]):
            raise ValueError(
                f"values: expected shape ({idx.shape[1]},) to match indices, "
                f"got {tuple(vals.shape)}"
            )
        if validate and idx.numel():
            # numpy's single-threaded reductions on CPU: torch's intra-op threads made these
            # checks 10-30x slower on a busy machine
            chk = idx.numpy() if idx.device.type == "cpu" else idx
            if int(chk.min()) < 0:
                raise ValueError("indices: negative index; indices must be >= 0")
            for axis, name in ((0, "row"), (1, "column")):
                top = int(chk[axis].max())
                if top >= shape[axis]:
                    raise ValueError(
                        f"indices: {name} index {top} out of range for shape {shape}"
                    )
        if check_finite and vals is not None and vals.is_floating_point() | vals.is_complex():
            if not bool(torch.isfinite(vals).all()):
                raise ValueError("values: NaN or infinite entries; clean the data first")
        if not _canonical:
            idx, vals = _canonicalize(idx, vals, shape)
        self._indices = idx
        self._values = vals
        self._shape = shape
        self._crow: torch.Tensor | None = None
        self._scipy: sp.csr_matrix | None = None
        self._transpose: SparseTensor | None = None
        self._perm_t: torch.Tensor | None = None
        self._csr: torch.Tensor | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dense(
        cls, x: ArrayLike, threshold: float | None = None, *, check_finite: bool = False
    ) -> SparseTensor:
        """Keep the entries of ``x`` with ``|x| > threshold`` (all non-zeros when ``None``).

        Parameters
        ----------
        x : ndarray or Tensor, shape ``n x m``
            Dense matrix.
        threshold : float, optional
            Magnitude threshold. With a threshold NaN entries have no rank and raise
            ``ValueError``; without one a NaN is a non-zero and is kept.
        check_finite : bool, default False
            Reject NaN or infinite entries in every case.

        Returns
        -------
        SparseTensor

        Examples
        --------
        >>> import torch
        >>> SparseTensor.from_dense(torch.tensor([[0.5, -2.0]]), threshold=1.0).nnz
        1
        """
        t = _dense_2d(x, "x")
        if check_finite and (t.is_floating_point() or t.is_complex()):
            if not bool(torch.isfinite(t).all()):
                raise ValueError("x: NaN or infinite entries; clean the data first")
        if threshold is not None:
            if not np.isfinite(threshold) and not threshold == np.inf:
                raise ValueError(f"threshold: expected a number, got {threshold}")
            _reject_nan(t, "x", "thresholding by magnitude")
        keep = t != 0 if threshold is None else t.abs() > threshold
        idx = keep.nonzero().T.contiguous()
        return cls(idx, t[keep], t.shape, validate=False, _canonical=True)

    @classmethod
    def topk(
        cls, x: ArrayLike, k: int, dim: int | None = None, *, by: str = "abs"
    ) -> SparseTensor:
        """Keep the ``k`` largest entries of ``x``: over the whole matrix or per row (``dim=1``).

        Parameters
        ----------
        x : ndarray or Tensor, shape ``rows x cols``
            Dense matrix; NaN raises ``ValueError`` (it has no rank).
        k : int
            Entries kept in all (``dim=None``) or per row (``dim=1``).
        dim : None or 1
            Rank over the whole matrix or within each row.
        by : {"abs", "value"}
            Rank by magnitude, or by signed value (scores; real input only).

        Returns
        -------
        SparseTensor
            The kept entries with their values, in CSR order.

        Examples
        --------
        >>> import torch
        >>> SparseTensor.topk(torch.tensor([[1.0, -5.0], [3.0, 0.5]]), 2).to_dense().tolist()
        [[0.0, -5.0], [3.0, 0.0]]
        """
        t = _dense_2d(x, "x")
        _reject_nan(t, "x", "ranking by magnitude")
        if by not in ("abs", "value"):
            raise ValueError(f"by: expected 'abs' or 'value', got {by!r}")
        key = t.abs() if by == "abs" else t
        if key.is_complex():
            raise TypeError("x: complex input needs by='abs'")
        if dim is None:
            if not 0 <= k <= t.numel():
                raise ValueError(f"k: expected 0 <= k <= {t.numel()}, got {k}")
            flat = key.reshape(-1).topk(k).indices.sort().values
            idx = torch.stack((flat // t.shape[1], flat % t.shape[1]))
        elif dim in (1, -1):
            if not 0 <= k <= t.shape[1]:
                raise ValueError(f"k: expected 0 <= k <= {t.shape[1]} per row, got {k}")
            cols = key.topk(k, dim=1).indices.sort(dim=1).values
            rows = torch.arange(t.shape[0], device=t.device).repeat_interleave(k)
            idx = torch.stack((rows, cols.reshape(-1)))
        else:
            raise ValueError(f"dim: expected None (global) or 1 (per row), got {dim}")
        return cls(idx, t[idx[0], idx[1]], t.shape, validate=False, _canonical=True)

    @classmethod
    def from_scipy(
        cls, m: sp.spmatrix | sp.sparray, *, pattern: bool = False, check_finite: bool = False
    ) -> SparseTensor:
        """Wrap any scipy sparse matrix (CSR is zero-copy for the values).

        Parameters
        ----------
        m : scipy.sparse matrix or array
            Any format; duplicates are summed.
        pattern : bool, default False
            Drop the values and keep the binary pattern.
        check_finite : bool, default False
            Reject NaN or infinite stored values.

        Returns
        -------
        SparseTensor

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> SparseTensor.from_scipy(sp.eye(3, format="csr")).nnz
        3
        """
        if not sp.issparse(m):
            raise TypeError(f"m: expected a scipy.sparse matrix, got {type(m).__name__}")
        if check_finite and m.dtype.kind in "fc" and not np.isfinite(m.tocoo().data).all():
            raise ValueError("m: NaN or infinite entries; clean the data first")
        csr = m.tocsr()
        if not csr.has_canonical_format:
            csr = csr.copy()
            csr.sum_duplicates()
        indptr = csr.indptr.astype(np.int64, copy=False)
        # numpy's repeat: torch.repeat_interleave costs milliseconds per call on a busy machine
        row = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(indptr))
        idx = torch.from_numpy(np.stack((row, csr.indices.astype(np.int64, copy=False))))
        vals = None if pattern else _as_values(csr.data)
        out = cls(idx, vals, csr.shape, validate=False, _canonical=True)
        out._crow = torch.from_numpy(indptr)
        return out

    @classmethod
    def from_torch(cls, t: torch.Tensor, *, pattern: bool = False) -> SparseTensor:
        """Wrap a torch sparse tensor (COO, CSR or CSC) or a dense tensor.

        torch's constructors do not check their indices, so they are validated here like in
        every other constructor: out-of-range indices raise, duplicates are summed and the
        entries are sorted into CSR order.

        Parameters
        ----------
        t : torch.Tensor
            A 2-D dense, ``sparse_coo``, ``sparse_csr`` or ``sparse_csc`` tensor.
        pattern : bool, default False
            Drop the values and keep the binary pattern.

        Returns
        -------
        SparseTensor

        Examples
        --------
        >>> import torch
        >>> t = torch.sparse_coo_tensor([[0, 0], [1, 1]], [1.0, 2.0], (1, 2), check_invariants=True)
        >>> SparseTensor.from_torch(t).to_dense().tolist()  # duplicates summed
        [[0.0, 3.0]]
        """
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"t: expected a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"t: expected a 2-D tensor, got {t.ndim}-D")
        if t.layout == torch.strided:
            out = cls.from_dense(t)
        elif t.layout == torch.sparse_coo:
            out = cls(t._indices(), t._values(), t.shape)
        elif t.layout == torch.sparse_csr:
            crow, col = t.crow_indices().to(torch.int64), t.col_indices().to(torch.int64)
            steps = crow.diff()
            if (
                crow.shape != (t.shape[0] + 1,)
                or int(crow[0]) != 0
                or int(crow[-1]) != col.numel()
                or bool((steps < 0).any())
            ):
                raise ValueError(
                    "t: invalid CSR row pointer (crow_indices must start at 0, be "
                    "non-decreasing and end at nnz)"
                )
            row = torch.repeat_interleave(torch.arange(t.shape[0], device=t.device), steps)
            out = cls(torch.stack((row, col)), t.values(), t.shape)
            if out.nnz == col.numel():  # nothing merged: the row pointer still holds
                out._crow = crow
        elif t.layout == torch.sparse_csc:
            out = cls.from_torch(t.to_sparse_coo())
        else:
            raise TypeError(f"t: unsupported layout {t.layout}")
        return out.pattern() if pattern else out

    @classmethod
    def from_csr(
        cls,
        indptr: np.ndarray,
        indices: np.ndarray,
        values: np.ndarray | None,
        shape: Sequence[int],
        *,
        validate: bool = True,
    ) -> SparseTensor:
        """Build from CSR arrays (numpy), keeping the row pointer and a scipy view of them.

        Parameters
        ----------
        indptr : ndarray of int, shape ``n_rows + 1``
            Row pointer.
        indices : ndarray of int, shape ``nnz``
            Column index of each entry.
        values : ndarray, shape ``nnz``, optional
            Entry values; ``None`` makes a binary pattern.
        shape : (int, int)
            Matrix shape.
        validate : bool, default True
            Check the arrays and canonicalize (sort, sum duplicates). Callers that built
            canonical arrays themselves (sorted columns, no duplicates) pass ``False`` and
            the arrays are shared without a copy.

        Returns
        -------
        SparseTensor

        Examples
        --------
        >>> import numpy as np
        >>> s = SparseTensor.from_csr(np.array([0, 1, 3]), np.array([2, 0, 1]),
        ...                           np.array([1.0, 2.0, 3.0]), (2, 3))
        >>> s.to_dense().tolist()
        [[0.0, 0.0, 1.0], [2.0, 3.0, 0.0]]
        """
        indptr = np.asarray(indptr)
        indices = np.asarray(indices)
        shape = tuple(int(d) for d in shape)
        if len(shape) != 2:
            raise ValueError(f"shape: expected two sizes, got {shape}")
        if indptr.shape != (shape[0] + 1,) or indices.ndim != 1:
            raise ValueError(
                f"indptr: expected shape ({shape[0] + 1},) and 1-D indices, got "
                f"{indptr.shape} and {indices.shape}"
            )
        steps = np.diff(indptr)
        if validate and (indptr[0] != 0 or indptr[-1] != indices.size or (steps < 0).any()):
            raise ValueError("indptr: must start at 0, be non-decreasing and end at nnz")
        row = np.repeat(np.arange(shape[0], dtype=np.int64), steps)
        idx = torch.from_numpy(np.stack((row, indices.astype(np.int64, copy=False))))
        vals = None if values is None else _as_values(values)
        out = cls(idx, vals, shape, validate=validate, _canonical=not validate)
        if out.nnz == indices.size:
            out._crow = torch.from_numpy(indptr.astype(np.int64, copy=False))
            if not validate and isinstance(values, np.ndarray) and values.dtype.kind in "fc":
                out._scipy = sp.csr_matrix((values, indices, indptr), shape=shape, copy=False)
        return out

    @classmethod
    def from_rows(
        cls, rows: Sequence[ArrayLike | Sequence[int]], n_cols: int
    ) -> SparseTensor:
        """A binary pattern whose row ``i`` has ones at the column indices ``rows[i]``.

        Parameters
        ----------
        rows : sequence of int sequences
            Active column indices per row (in any order; duplicates raise).
        n_cols : int
            Number of columns.

        Returns
        -------
        SparseTensor
            A ``len(rows) x n_cols`` pattern.

        Examples
        --------
        >>> SparseTensor.from_rows([[2, 0], [1]], n_cols=3).to_dense().int().tolist()
        [[1, 0, 1], [0, 1, 0]]
        """
        parts = [_as_index(r, f"rows[{i}]").reshape(-1) for i, r in enumerate(rows)]
        lens = torch.tensor([p.numel() for p in parts], dtype=torch.int64)
        col = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)
        row = torch.repeat_interleave(torch.arange(len(parts)), lens)
        return cls(torch.stack((row, col)), None, (len(parts), n_cols))

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def nnz(self) -> int:
        return int(self._indices.shape[1])

    @property
    def density(self) -> float:
        size = self._shape[0] * self._shape[1]
        return self.nnz / size if size else 0.0

    @property
    def dtype(self) -> torch.dtype:
        return torch.bool if self._values is None else self._values.dtype

    @property
    def device(self) -> torch.device:
        return self._indices.device

    @property
    def indices(self) -> torch.Tensor:
        """``2 x nnz`` int64 tensor of (row, column) pairs in CSR order."""
        return self._indices

    @property
    def row(self) -> torch.Tensor:
        return self._indices[0]

    @property
    def col(self) -> torch.Tensor:
        return self._indices[1]

    @property
    def crow(self) -> torch.Tensor:
        """CSR row pointer (``n_rows + 1`` int64 entries)."""
        if self._crow is None:
            counts = torch.bincount(self.row, minlength=self._shape[0])
            self._crow = torch.cat((counts.new_zeros(1), counts.cumsum(0)))
        return self._crow

    @property
    def values(self) -> torch.Tensor | None:
        """Entry values in CSR order, or ``None`` for a binary pattern."""
        return self._values

    @property
    def is_pattern(self) -> bool:
        return self._values is None

    def values_or_ones(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The values, or ones of ``dtype`` for a pattern.

        Parameters
        ----------
        dtype : torch.dtype, default float32
            The dtype of the ones a pattern returns (values keep their own).

        Returns
        -------
        Tensor, shape ``nnz``
        """
        if self._values is not None:
            return self._values
        return torch.ones(self.nnz, dtype=dtype, device=self.device)

    # ------------------------------------------------------------------ conversion
    def to_torch(self, layout: str = "csr") -> torch.Tensor:
        """A torch sparse tensor sharing this tensor's memory.

        Parameters
        ----------
        layout : {"csr", "coo"}

        Returns
        -------
        Tensor
            ``torch.sparse_csr`` or coalesced ``torch.sparse_coo`` (a pattern gives float32 ones).
        """
        vals = self.values_or_ones()
        if layout == "csr":
            return _csr_tensor(self.crow, self.col, vals, self._shape)
        if layout == "coo":
            return torch.sparse_coo_tensor(
                self._indices, vals, self._shape, is_coalesced=True, check_invariants=False
            )
        raise ValueError(f"layout: expected 'csr' or 'coo', got {layout!r}")

    def to_scipy(self, format: str = "csr") -> sp.csr_matrix:
        """A scipy sparse matrix; CSR shares the values' memory on CPU (cached).

        Parameters
        ----------
        format : {"csr", "csc", "coo"}

        Returns
        -------
        scipy.sparse matrix
            A pattern gives float64 ones; bfloat16 values are widened to float32.
        """
        if self._scipy is None:
            vals = self.values_or_ones(torch.float64).detach().cpu()
            if vals.dtype == torch.bfloat16:
                vals = vals.float()
            self._scipy = sp.csr_matrix(
                (vals.numpy(), self.col.cpu().numpy(), self.crow.cpu().numpy()),
                shape=self._shape,
                copy=False,
            )
        if format == "csr":
            return self._scipy
        if format in ("coo", "csc"):
            return self._scipy.asformat(format)
        raise ValueError(f"format: expected 'csr', 'csc' or 'coo', got {format!r}")

    def to_dense(self) -> torch.Tensor:
        out = torch.zeros(
            self._shape, dtype=self.values_or_ones().dtype, device=self.device
        )
        out[self.row, self.col] = self.values_or_ones()
        return out

    def numpy(self) -> np.ndarray:
        """Dense numpy copy (for small matrices and tests)."""
        return self.to_dense().detach().cpu().numpy()

    def to(
        self, device: str | torch.device | None = None, dtype: torch.dtype | None = None
    ) -> SparseTensor:
        """Move to ``device`` and/or cast the values to ``dtype`` (a pattern keeps no values).

        Parameters
        ----------
        device : str or torch.device, optional
        dtype : torch.dtype, optional
            One of ``SUPPORTED_DTYPES``.

        Returns
        -------
        SparseTensor
        """
        if dtype is not None and dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"dtype: unsupported {dtype}; use one of SUPPORTED_DTYPES")
        device = self.device if device is None else torch.device(device)
        vals = self._values
        if vals is not None:
            vals = vals.to(device=device, dtype=dtype or vals.dtype)
        return SparseTensor(
            self._indices.to(device), vals, self._shape, validate=False, _canonical=True
        )

    # ------------------------------------------------------------------ structure
    def pattern(self) -> SparseTensor:
        """The binary pattern of this tensor (values dropped)."""
        out = SparseTensor(self._indices, None, self._shape, validate=False, _canonical=True)
        out._crow = self._crow
        return out

    def with_values(self, values: Any) -> SparseTensor:
        """Same pattern, new values (``nnz`` of them, in CSR order).

        The index arrays are shared, not copied; with numpy ``values`` the scipy view
        (``to_scipy``) is shared too, so mapping values stays on the scipy side (e.g.
        ``s.with_values(s.to_scipy().data ** 2)`` for the squares of a Hessian's entries).

        Parameters
        ----------
        values : array or tensor, shape ``nnz``

        Returns
        -------
        SparseTensor

        Examples
        --------
        >>> s = SparseTensor([[0, 1], [1, 0]], [2.0, -3.0], (2, 2))
        >>> s.with_values(s.to_scipy().data ** 2).to_scipy().toarray().tolist()
        [[0.0, 4.0], [9.0, 0.0]]
        """
        vals = _as_values(values, self.device)
        if vals.shape != (self.nnz,):
            raise ValueError(f"values: expected shape ({self.nnz},), got {tuple(vals.shape)}")
        out = SparseTensor(self._indices, vals, self._shape, validate=False, _canonical=True)
        out._crow = self._crow
        out._perm_t = self._perm_t
        if self._scipy is not None and isinstance(values, np.ndarray) and vals.dtype in (
            torch.float32, torch.float64, torch.complex64, torch.complex128
        ):
            out._scipy = sp.csr_matrix(
                (values, self._scipy.indices, self._scipy.indptr), shape=self._shape, copy=False
            )
        return out

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> SparseTensor:
        """Apply an elementwise torch function to the stored values (zeros stay zeros).

        Parameters
        ----------
        fn : callable
            Maps the values tensor to a tensor of the same shape.

        Returns
        -------
        SparseTensor

        Examples
        --------
        >>> import torch
        >>> SparseTensor([[0], [1]], [-3.0], (1, 2)).apply(torch.square).values.tolist()
        [9.0]
        """
        return self.with_values(fn(self.values_or_ones()))

    def transpose_order(self) -> torch.Tensor:
        """The permutation taking this tensor's entries to its transpose's CSR order.

        ``self.T.values == self.values[self.transpose_order()]``. Computed once and cached:
        it is the one transpose path (``transpose`` and ``SparseLinearPlan`` both use it).

        Returns
        -------
        Tensor of int64, shape ``nnz``

        Examples
        --------
        >>> s = SparseTensor([[0, 0, 1], [1, 2, 0]], [1.0, 2.0, 3.0], (2, 3))
        >>> s.transpose_order().tolist()
        [2, 0, 1]
        """
        if self._perm_t is None:
            # entries are sorted by row, so a stable sort by column gives (column, row) order
            self._perm_t = torch.sort(self.col, stable=True).indices
        return self._perm_t

    def transpose(self) -> SparseTensor:
        """The transpose, in canonical CSR order (cached; the two share their values).

        Returns
        -------
        SparseTensor

        Examples
        --------
        >>> s = SparseTensor([[0], [2]], [5.0], (1, 3))
        >>> s.T.shape, s.T.to_dense().tolist()
        ((3, 1), [[0.0], [0.0], [5.0]])
        """
        if self._transpose is None:
            perm = self.transpose_order()
            vals = None if self._values is None else self._values[perm]
            # two 1-D gathers straight into the swapped rows: ~8x faster on a CPU than
            # ``indices[:, perm].flip(0)`` or ``torch.stack`` of the gathers
            idx = self._indices.new_empty(self._indices.shape)
            torch.index_select(self.col, 0, perm, out=idx[0])
            torch.index_select(self.row, 0, perm, out=idx[1])
            t = SparseTensor(idx, vals, self._shape[::-1], validate=False, _canonical=True)
            t._transpose = self
            self._transpose = t
        return self._transpose

    def kron(self, other: SparseTensor) -> SparseTensor:
        """Kronecker product ``self ⊗ other`` (patterns give a pattern).

        A separable support (rows of one factor times columns of another, as in KroSBL's
        Kronecker-structured prior) is the Kronecker product of its 1-D supports.

        Parameters
        ----------
        other : SparseTensor

        Returns
        -------
        SparseTensor, shape ``(m1 * m2, n1 * n2)``

        Examples
        --------
        >>> a = SparseTensor.from_rows([[0, 2]], 3)
        >>> b = SparseTensor.from_rows([[1]], 2)
        >>> a.kron(b).col.tolist()  # flat indices of the separable support
        [1, 5]
        """
        if not isinstance(other, SparseTensor):
            raise TypeError(f"other: expected a SparseTensor, got {type(other).__name__}")
        m2, n2 = other.shape
        row = (self.row[:, None] * m2 + other.row[None, :]).reshape(-1)
        col = (self.col[:, None] * n2 + other.col[None, :]).reshape(-1)
        if self._values is None and other._values is None:
            vals = None
        else:
            dtype = (self._values if self._values is not None else other._values).dtype
            vals = (
                self.values_or_ones(dtype)[:, None] * other.values_or_ones(dtype)[None, :]
            ).reshape(-1)
        shape = (self._shape[0] * m2, self._shape[1] * n2)
        return SparseTensor(torch.stack((row, col)), vals, shape, validate=False)

    @property
    def T(self) -> SparseTensor:  # noqa: N802 - numpy/torch name
        return self.transpose()

    def __getitem__(self, rows: int | slice | Sequence[int] | ArrayLike) -> SparseTensor:
        """Row slicing: an int, a slice, or an index array of rows."""
        n = self._shape[0]
        if isinstance(rows, (int, np.integer)):
            if not -n <= rows < n:
                raise IndexError(f"rows: {rows} out of range for {n} rows")
            rows = [int(rows) % n]
        if isinstance(rows, slice):
            sel = torch.tensor(range(n)[rows], dtype=torch.int64)
        else:
            sel = _as_index(rows, "rows").reshape(-1)
            if sel.numel() and (int(sel.min()) < -n or int(sel.max()) >= n):
                raise IndexError(f"rows: index out of range for {n} rows")
            sel = sel % n
        sel = sel.to(self.device)
        crow = self.crow
        starts, counts = crow[sel], crow[sel + 1] - crow[sel]
        offsets = torch.cat((counts.new_zeros(1), counts.cumsum(0)[:-1]))
        pos = torch.repeat_interleave(starts - offsets, counts)
        pos = pos + torch.arange(int(counts.sum()), device=self.device)
        new_row = torch.repeat_interleave(torch.arange(sel.numel(), device=self.device), counts)
        vals = None if self._values is None else self._values[pos]
        return SparseTensor(
            torch.stack((new_row, self.col[pos])),
            vals,
            (sel.numel(), self._shape[1]),
            validate=False,
            _canonical=True,
        )

    def sum(self, dim: int | None = None) -> torch.Tensor:
        """Sum of all entries, or per row (``dim=1``) / per column (``dim=0``).

        Parameters
        ----------
        dim : None, 0 or 1

        Returns
        -------
        Tensor
            A scalar, or one sum per row/column (a pattern counts its entries as int64).

        Examples
        --------
        >>> SparseTensor.from_rows([[0, 2], [1]], n_cols=3).sum(dim=1).tolist()
        [2, 1]
        """
        v = self.values_or_ones(torch.int64)
        if dim is None:
            return v.sum()
        if dim not in (0, 1, -1):
            raise ValueError(f"dim: expected None, 0 or 1, got {dim}")
        axis = 0 if dim in (1, -1) else 1
        out = torch.zeros(self._shape[axis], dtype=v.dtype, device=self.device)
        return out.index_add(0, self._indices[axis], v)

    # ------------------------------------------------------------------ products
    def matmul(self, other: Any) -> Any:
        """``self @ other``: torch dense → torch.sparse, numpy/scipy → scipy, sparse → sparse.

        Parameters
        ----------
        other : Tensor, ndarray, scipy sparse matrix or SparseTensor
            1-D or 2-D. float16/bfloat16 are computed in float32 and int32/int64 in float64
            (exact below 2**53, checked) and returned in ``other``'s dtype.

        Returns
        -------
        Tensor, ndarray or SparseTensor
            In ``other``'s backend; torch results carry autograd to the values and ``other``.

        Examples
        --------
        >>> import torch
        >>> s = SparseTensor([[0, 1], [1, 0]], [2.0, 3.0], (2, 2))
        >>> (s @ torch.tensor([1.0, 1.0])).tolist()
        [2.0, 3.0]
        """
        if isinstance(other, SparseTensor):
            _check_inner(self.shape, other.shape)
            return SparseTensor.from_scipy(self.to_scipy() @ other.to_scipy())
        if isinstance(other, torch.Tensor):
            _check_inner(self.shape, other.shape)
            if other.ndim not in (1, 2):
                raise ValueError(f"other: expected a 1-D or 2-D tensor, got {other.ndim}-D")
            if other.dtype == torch.bool:
                raise TypeError("other: a bool operand has no product; cast it to a number type")
            wide = _MATMUL_UPCAST.get(other.dtype)
            if wide is None:
                a = self._torch_operand(other.dtype)
                return torch.mv(a, other) if other.ndim == 1 else torch.mm(a, other)
            if self._values is not None and self._values.dtype != other.dtype:
                raise TypeError(
                    f"other: dtype {other.dtype} differs from the sparse values' "
                    f"{self._values.dtype}; cast one"
                )
            a, o = self._torch_operand(wide), other.to(wide)
            out = torch.mv(a, o) if o.ndim == 1 else torch.mm(a, o)
            if not other.dtype.is_floating_point:
                if out.numel() and float(out.abs().max()) >= 2.0**53:
                    raise ValueError(
                        "other: integer product exceeds 2**53 and cannot be exact; "
                        "cast the operands to float64"
                    )
                out = out.round()
            return out.to(other.dtype)
        if isinstance(other, np.ndarray) or sp.issparse(other):
            _check_inner(self.shape, other.shape)
            return self.to_scipy() @ other
        raise TypeError(f"other: cannot multiply by {type(other).__name__}")

    __matmul__ = matmul

    def rmatmul(self, other: Any) -> Any:
        """``other @ self`` for dense ``other`` (``(self.T @ other.T).T``).

        Parameters
        ----------
        other : Tensor, ndarray or scipy sparse matrix

        Returns
        -------
        Tensor or ndarray
            In ``other``'s backend.
        """
        if isinstance(other, torch.Tensor):
            if other.ndim == 1:
                return self.T.matmul(other)
            return self.T.matmul(other.T).T
        if isinstance(other, np.ndarray) or sp.issparse(other):
            if other.shape[-1] != self.shape[0]:
                raise ValueError(f"other: inner sizes differ, {other.shape} @ {self.shape}")
            return other @ self.to_scipy()
        raise TypeError(f"other: cannot multiply {type(other).__name__} by a SparseTensor")

    __rmatmul__ = rmatmul

    def _torch_operand(self, dtype: torch.dtype) -> torch.Tensor:
        vals = self._values
        if vals is None:
            vals = torch.ones(self.nnz, dtype=dtype, device=self.device)
        elif vals.dtype in _MATMUL_UPCAST and _MATMUL_UPCAST[vals.dtype] == dtype:
            vals = vals.to(dtype)
        elif vals.dtype != dtype:
            raise TypeError(
                f"other: dtype {dtype} differs from the sparse values' {vals.dtype}; cast one"
            )
        if vals.requires_grad:
            # CSR backward to values is incomplete in torch; COO has full autograd.
            return torch.sparse_coo_tensor(
                self._indices, vals, self._shape, is_coalesced=True, check_invariants=False
            )
        if vals is not self._values:
            return _csr_tensor(self.crow, self.col, vals, self._shape)
        # The values' own dtype: cached, sharing their storage (in-place edits stay visible).
        if self._csr is None:
            self._csr = _csr_tensor(self.crow, self.col, vals, self._shape)
        return self._csr

    def __repr__(self) -> str:
        kind = "pattern" if self._values is None else str(self.dtype).removeprefix("torch.")
        return (
            f"SparseTensor(shape={self._shape}, nnz={self.nnz}, density={self.density:.3g}, "
            f"{kind}, device={self.device})"
        )


def _check_inner(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    if len(b) == 0 or a[1] != b[0]:
        raise ValueError(f"other: inner sizes differ, {a} @ {tuple(b)}")


def _reject_nan(t: torch.Tensor, name: str, why: str) -> None:
    """One NaN policy for every sparsifier: NaN has no magnitude to rank, so it is an error."""
    if (t.is_floating_point() or t.is_complex()) and bool(torch.isnan(t).any()):
        raise ValueError(f"{name}: NaN entries make {why} meaningless; clean the data first")


def _dense_2d(x: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        t = _as_values(x)
    elif isinstance(x, torch.Tensor):
        t = _as_values(x.detach())
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    if t.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D matrix, got {t.ndim}-D; reshape it first")
    return t


def _canonicalize(
    idx: torch.Tensor, vals: torch.Tensor | None, shape: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sort to CSR order and merge duplicates (summing values)."""
    if idx.shape[1] == 0:
        return idx.contiguous(), vals
    row, col = idx[0], idx[1]
    # compare (row, col) pairs directly: a linear key row * n_cols + col overflows int64 for
    # shapes such as (2**24, 2**40)
    r, c = (row.numpy(), col.numpy()) if idx.device.type == "cpu" else (row, col)
    if bool(((r[1:] > r[:-1]) | ((r[1:] == r[:-1]) & (c[1:] > c[:-1]))).all()):
        return idx.contiguous(), vals
    # two-key (lexicographic) sort: stable sort by column, then stable sort by row
    order = torch.sort(col, stable=True).indices
    order = order[torch.sort(row[order], stable=True).indices]
    row, col = row[order], col[order]
    new = torch.ones(row.numel(), dtype=torch.bool, device=row.device)
    new[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    new_idx = torch.stack((row[new], col[new]))
    if vals is None:
        return new_idx, None
    group = torch.cumsum(new, 0) - 1
    summed = torch.zeros(new_idx.shape[1], dtype=vals.dtype, device=vals.device)
    return new_idx, summed.index_add(0, group, vals[order])
