"""Solvers and loops: Sinkhorn-Newton-Sparse optimal transport, block coordinate descent
(``bayesparse.optim.bcd``) and the Bayesian optimization loop."""

from bayesparse.optim.bayesian_optimization import BayesianOptimizer as BayesianOptimizer
from bayesparse.optim.bayesian_optimization import BOError as BOError
from bayesparse.optim.bayesian_optimization import BOResult as BOResult
from bayesparse.optim.bayesian_optimization import minimize as minimize
from bayesparse.optim.bcd import bcd_least_squares as bcd_least_squares
from bayesparse.optim.bcd import bcd_solve as bcd_solve
from bayesparse.optim.bcd import enet_working_set as enet_working_set
from bayesparse.optim.sinkhorn_newton_sparse import (
    SinkhornConvergenceError as SinkhornConvergenceError,
)
from bayesparse.optim.sinkhorn_newton_sparse import (
    sinkhorn_newton_sparse as sinkhorn_newton_sparse,
)
from bayesparse.optim.sinkhorn_newton_sparse import (
    sinkhorn_newton_sparse2 as sinkhorn_newton_sparse2,
)
