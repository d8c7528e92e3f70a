"""How models are fitted: SSVI, HMC/SGHMC, Laplace, EM for sparse Bayesian learning."""

from bayesparse.inference.hmc import hmc as hmc
from bayesparse.inference.laplace import fit_laplace as fit_laplace
from bayesparse.inference.map import fit_map as fit_map
from bayesparse.inference.sghmc import sghmc as sghmc
from bayesparse.inference.ssvi import ssvi as ssvi
