"""Bayesian-optimization surrogates: BNNs and deep kernels as botorch ``Model``s.

Li, Rudner & Wilson, "A Study of Bayesian Neural Network Surrogates for Bayesian
Optimization", ICLR 2024. Sampling-based surrogates (HMC, SGHMC, deep ensembles, the SSVI
sparse BNN) are botorch
``EnsembleModel``s with ``EnsemblePosterior``s; Gaussian ones (Laplace, I-BNN, DKL) return
``GPyTorchPosterior``s. Each takes ``(train_X, train_Y, ..., random_state=...)`` and is
trained by ``.fit()``, which returns the model.
"""

from bayesparse.models.surrogates.dkl import DeepKernelGP
from bayesparse.models.surrogates.ensemble import DeepEnsemble
from bayesparse.models.surrogates.hmc import HMCBNN
from bayesparse.models.surrogates.ibnn import InfiniteWidthBNN
from bayesparse.models.surrogates.laplace import LaplaceBNN
from bayesparse.models.surrogates.pfn import PFNSurrogate
from bayesparse.models.surrogates.sghmc import SGHMCBNN
from bayesparse.models.surrogates.sparse_bnn import SparseBNN

__all__ = ["DeepEnsemble", "DeepKernelGP", "HMCBNN", "InfiniteWidthBNN", "LaplaceBNN",
           "PFNSurrogate", "SGHMCBNN", "SparseBNN"]
