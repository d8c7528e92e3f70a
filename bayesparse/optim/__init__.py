"""Solvers and loops: Sinkhorn-Newton-Sparse optimal transport, the Bayesian optimization loop."""

from bayesparse.optim.sinkhorn_newton_sparse import (
    sinkhorn_newton_sparse,
    sinkhorn_newton_sparse2,
)
