"""Bayesian neural network surrogate sampled by full-batch Hamiltonian Monte Carlo.

Li, Rudner & Wilson, "A Study of Bayesian Neural Network Surrogates for Bayesian
Optimization", ICLR 2024, Sec. 3: a tanh MLP with a Gaussian prior over all weights and a
Gaussian likelihood with fixed noise,

.. math::

    U(\\theta) = \\sum_n \\frac{(y_n - f_\\theta(x_n))^2}{2\\sigma^2}
        + \\sum_p \\frac{\\theta_p^2}{2\\sigma_p^2},

sampled by HMC (:func:`bayesparse.inference.hmc.hmc`, dual-averaging step size during warm-up
with target acceptance 0.8). Unlike the reference code, the chain starts from a MAP estimate of
the *same* network. The posterior is the uniform mixture over the kept samples (an
``EnsemblePosterior``).

Examples
--------
>>> import torch
>>> from botorch.acquisition import qLogExpectedImprovement
>>> X = torch.rand(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> Y = (X ** 2).sum(-1, keepdim=True)
>>> model = HMCBNN(X, Y, hidden=(8,), num_samples=8, warmup_steps=8, num_steps=3,
...                pretrain_steps=50, random_state=0).fit()
>>> model.posterior(X[:3]).mean.shape
torch.Size([3, 1])
>>> float(qLogExpectedImprovement(model, best_f=Y.max())(X[:1, None])) < 10
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor
from typing_extensions import Self

from bayesparse.inference.hmc import hmc
from bayesparse.inference.map import fit_map, negative_log_joint
from bayesparse.models.surrogates.networks import prior_init
from bayesparse.models.surrogates.sampled_mlp import SampledMLP
from bayesparse.rng import torch_generator


class HMCBNN(SampledMLP):
    """Tanh-MLP BNN surrogate sampled by full-batch HMC (a botorch ``EnsembleModel``).

    Parameters
    ----------
    train_X, train_Y : Tensor
        ``n x d`` inputs and ``n x m`` targets.
    hidden : sequence of int, default=(32, 32)
        Hidden widths.
    prior_var : float, default=4.0
        Prior variance scale (fan-in scaled, Neal's prior). Smaller values make the
        posterior over-confident on BO-sized data sets; see docs/results/bo.md.
    noise_var : float, default=1e-2
        Fixed noise variance on the standardized targets.
    num_samples, warmup_steps : int, default=100
        Kept samples and warm-up iterations.
    num_steps : int, default=10
        Leapfrog steps per proposal.
    pretrain_steps : int, default=1000
        Adam steps of the MAP warm start.
    nuts : bool, default=False
        Use NUTS instead of fixed-length HMC.
    **kwargs
        ``input_transform``, ``outcome_transform``, ``random_state`` (see
        :class:`~bayesparse.models.surrogates.sampled_mlp.SampledMLP`).
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, hidden: Sequence[int] = (32, 32),
                 prior_var: float = 4.0, noise_var: float = 1e-2, num_samples: int = 100,
                 warmup_steps: int = 100, num_steps: int = 10, pretrain_steps: int = 1000,
                 nuts: bool = False, **kwargs: Any) -> None:
        super().__init__(train_X, train_Y, hidden=hidden, prior_var=prior_var, **kwargs)
        if noise_var <= 0:
            raise ValueError(f"noise_var: expected > 0, got {noise_var}")
        self.noise_var, self.num_samples, self.warmup_steps = noise_var, num_samples, warmup_steps
        self.num_steps, self.pretrain_steps, self.nuts = num_steps, pretrain_steps, nuts

    def fit(self) -> Self:
        """Pre-train to the MAP, then run HMC from it; sets ``theta_`` (``S x P``)."""
        X, Y = self.training_data()
        gen = torch_generator(self.random_state)
        theta0 = fit_map(self.model, prior_init(self.model, 1, gen, X.dtype), X, Y,
                         noise_var=self.noise_var, steps=self.pretrain_steps)[0]
        seed = int(gen.initial_seed() % 2**31)
        potential = negative_log_joint(self.model, X, Y, self.noise_var)
        self.theta_ = hmc(potential, theta0, num_samples=self.num_samples,
                          warmup_steps=self.warmup_steps, num_steps=self.num_steps,
                          nuts=self.nuts, random_state=seed)
        self.eval()
        return self
