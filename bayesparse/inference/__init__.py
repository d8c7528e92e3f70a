"""How models are fitted: SSVI, HMC/SGHMC, Laplace, EM for sparse Bayesian learning."""

from bayesparse.inference.ssvi import ssvi as ssvi
