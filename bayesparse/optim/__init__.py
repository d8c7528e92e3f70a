"""Solvers and loops: Sinkhorn-Newton-Sparse optimal transport, the Bayesian optimization loop."""
