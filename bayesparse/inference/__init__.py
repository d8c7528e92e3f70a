"""How models are fitted: SSVI, HMC/SGHMC, Laplace, EM for sparse Bayesian learning."""
