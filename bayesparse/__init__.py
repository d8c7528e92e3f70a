"""bayesparse: probabilistic and sparse representations on one shared sparse tensor.

Subpackages: ``sparse`` (the shared core), ``models`` (what is fitted), ``inference`` (how),
``optim`` (solvers and loops), ``datasets`` (generated data), ``tour`` (the guided demo).
"""

from bayesparse.sparse import SparseTensor

__version__ = "0.1.0"
__all__ = ["SparseTensor", "__version__"]
