"""The shared sparse core: every component's sparsity goes through these types.

``SparseTensor`` (2-D sparse matrix or binary pattern over torch.sparse and scipy.sparse),
structured patterns (N:M, blocks, random), mass-based row truncation, the sparse linear map
with autograd to its values, the ``Kronecker`` operator and binary-code helpers.
Nothing here imports from the rest of bayesparse.
"""

from bayesparse.sparse.codes import overlap, union
from bayesparse.sparse.kronecker import Kronecker, mode_products
from bayesparse.sparse.linear import SparseLinearPlan, sparse_linear
from bayesparse.sparse.patterns import (
    block_pattern,
    check_density,
    nm_sparsify,
    random_pattern,
)
from bayesparse.sparse.tensor import SUPPORTED_DTYPES, SparseTensor
from bayesparse.sparse.truncation import row_mass_truncate

__all__ = [
    "SparseTensor",
    "SUPPORTED_DTYPES",
    "Kronecker",
    "mode_products",
    "nm_sparsify",
    "block_pattern",
    "random_pattern",
    "check_density",
    "row_mass_truncate",
    "SparseLinearPlan",
    "sparse_linear",
    "overlap",
    "union",
]
