"""Bayesian neural network surrogate sampled by stochastic-gradient HMC.

Springenberg, Klein, Falkner & Hutter, "Bayesian Optimization with Robust Bayesian Neural
Networks", NeurIPS 2016, as studied by Li, Rudner & Wilson, ICLR 2024 (2000 steps, 1000
burn-in, every 5th sample kept, learning rate 1e-2): the same tanh MLP, prior and fixed-noise
Gaussian likelihood as :class:`~bayesparse.models.surrogates.hmc.HMCBNN`, with the per-datum
potential ``U(theta) / N`` sampled by :func:`bayesparse.inference.sghmc.sghmc`.

Examples
--------
>>> import torch
>>> X = torch.rand(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> Y = (X ** 2).sum(-1, keepdim=True)
>>> model = SGHMCBNN(X, Y, hidden=(8,), num_samples=10, burn_in=50, thin=2,
...                  pretrain_steps=50, random_state=0).fit()
>>> model.posterior(X[:3]).variance.shape
torch.Size([3, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor
from typing_extensions import Self

from bayesparse.inference.map import fit_map, negative_log_joint
from bayesparse.inference.sghmc import sghmc
from bayesparse.models.surrogates.networks import prior_init
from bayesparse.models.surrogates.sampled_mlp import SampledMLP
from bayesparse.rng import torch_generator


class SGHMCBNN(SampledMLP):
    """Tanh-MLP BNN surrogate sampled by scale-adapted SGHMC (a botorch ``EnsembleModel``).

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
    num_samples : int, default=200
        Kept samples.
    burn_in : int, default=1000
        Burn-in steps (preconditioner adaptation).
    thin : int, default=5
        Keep every ``thin``-th step.
    lr : float, default=1e-2
        SGHMC step-size parameter.
    batch_size : int, optional
        Minibatch size (None: full batch, the BO setting of small data).
    pretrain_steps : int, default=500
        Adam steps of the MAP warm start.
    **kwargs
        ``input_transform``, ``outcome_transform``, ``random_state``.
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, hidden: Sequence[int] = (32, 32),
                 prior_var: float = 4.0, noise_var: float = 1e-2, num_samples: int = 200,
                 burn_in: int = 1000, thin: int = 5, lr: float = 1e-2,
                 batch_size: int | None = None, pretrain_steps: int = 500,
                 **kwargs: Any) -> None:
        super().__init__(train_X, train_Y, hidden=hidden, prior_var=prior_var, **kwargs)
        if noise_var <= 0:
            raise ValueError(f"noise_var: expected > 0, got {noise_var}")
        self.noise_var, self.num_samples, self.burn_in, self.thin = (
            noise_var, num_samples, burn_in, thin)
        self.lr, self.batch_size, self.pretrain_steps = lr, batch_size, pretrain_steps

    def fit(self) -> Self:
        """Pre-train to the MAP, then run SGHMC from it; sets ``theta_`` (``S x P``)."""
        X, Y = self.training_data()
        n = X.shape[0]
        gen = torch_generator(self.random_state)
        theta0 = fit_map(self.model, prior_init(self.model, 1, gen, X.dtype), X, Y,
                         noise_var=self.noise_var, steps=self.pretrain_steps)[0]
        U = negative_log_joint(self.model, X, Y, self.noise_var)

        def potential(theta: Tensor, idx: Tensor | None) -> Tensor:
            return U(theta, idx) / n

        self.theta_ = sghmc(potential, theta0, n, num_samples=self.num_samples,
                            burn_in=self.burn_in, thin=self.thin, lr=self.lr,
                            batch_size=self.batch_size,
                            random_state=int(gen.initial_seed() % 2**31))
        self.eval()
        return self
