"""PFN surrogate for Bayesian optimization: a trained PFN as a botorch ``Model``.

The posterior at ``X`` is one forward pass of a prior-data fitted network conditioned on the
observations (Müller et al., ICLR 2022; PFNs as BO surrogates: Müller et al., "PFNs4BO",
ICML 2023). It is returned as a ``GPyTorchPosterior`` with independent Gaussian marginals
whose mean and variance are those of the PFN's Riemann predictive distribution (the
moment-matched Gaussian), so every botorch acquisition function works with it and gradients
flow from the acquisition value to ``X`` through the transformer. The predictive includes
the observation noise of the prior (the PFN is trained on noisy targets).

Targets are standardized internally. The shipped checkpoint accepts at most 100 context
points; with more observations the surrogate keeps the ``max_train // 2`` best (largest
``Y``, botorch maximizes) and a random sample of the others (seeded by ``random_state``).

References
----------
.. [1] S. Müller, N. Hollmann, S. Pineda Arango, J. Grabocka, F. Hutter, "Transformers Can Do
   Bayesian Inference", ICLR 2022.
.. [2] S. Müller, M. Feurer, N. Hollmann, F. Hutter, "PFNs4BO: In-Context Learning for
   Bayesian Optimization", ICML 2023.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator.operators import DiagLinearOperator
from torch import Tensor

from bayesparse.models.pfn import load_pfn
from bayesparse.rng import RandomState, torch_generator

__all__ = ["PFNSurrogate"]


class PFNSurrogate(Model):
    """A trained PFN as a single-output botorch ``Model`` (no fitting: in-context prediction).

    Parameters
    ----------
    train_X : Tensor
        ``n x d`` inputs, expected in ``[0, 1]^d`` (the prior's input domain).
    train_Y : Tensor
        ``n x 1`` targets.
    checkpoint : str or Path, optional
        PFN checkpoint (default: the shipped GP-hyperprior one).
    random_state : None, int or numpy.random.Generator
        Seeds the context subsample when ``n`` exceeds the checkpoint's ``max_train``.

    Examples
    --------
    >>> import torch
    >>> X = torch.rand(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> Y = (X ** 2).sum(-1, keepdim=True)
    >>> model = PFNSurrogate(X, Y).fit()
    >>> post = model.posterior(torch.rand(5, 3, 2, dtype=torch.float64))
    >>> tuple(post.mean.shape)
    (5, 3, 1)
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, checkpoint: str | Path | None = None,
                 random_state: RandomState = None) -> None:
        super().__init__()
        if train_X.ndim != 2 or train_Y.ndim != 2 or train_Y.shape[-1] != 1:
            raise ValueError(f"train_X, train_Y: expected n x d and n x 1 tensors, got "
                             f"{tuple(train_X.shape)} and {tuple(train_Y.shape)}")
        if train_X.shape[0] != train_Y.shape[0] or train_X.shape[0] < 1:
            raise ValueError(f"train_X, train_Y: need the same number (>= 1) of rows, got "
                             f"{train_X.shape[0]} and {train_Y.shape[0]}")
        if not (torch.isfinite(train_X).all() and torch.isfinite(train_Y).all()):
            raise ValueError("train_X, train_Y: contain NaN or inf")
        self.train_X, self.train_Y = train_X, train_Y
        self.checkpoint, self.random_state = checkpoint, random_state

    @property
    def num_outputs(self) -> int:
        return 1

    def fit(self) -> PFNSurrogate:
        """Load the PFN and select/standardize the context; returns ``self``."""
        self.pfn_, self.meta_ = load_pfn(self.checkpoint)
        for p in self.pfn_.parameters():
            p.requires_grad_(False)
        X, Y = self.train_X, self.train_Y[:, 0]
        if X.shape[1] > self.pfn_.max_features:
            raise ValueError(f"train_X: {X.shape[1]} features, but the PFN supports at most "
                             f"{self.pfn_.max_features}")
        n_max = self.pfn_.max_train
        if X.shape[0] > n_max:
            order = torch.argsort(Y, descending=True)
            best, rest = order[:n_max // 2], order[n_max // 2:]
            gen = torch_generator(self.random_state)
            pick = rest[torch.randperm(rest.numel(), generator=gen)[:n_max - best.numel()]]
            keep = torch.cat([best, pick])
            X, Y = X[keep], Y[keep]
        # Population std, as PFNRegressor uses: the same context gives the same predictions.
        std = Y.std(correction=0)
        self.y_mean_, self.y_std_ = Y.mean(), (std if std > 0 else torch.ones_like(std))
        self.context_ = (X.float()[None], ((Y - self.y_mean_) / self.y_std_).float()[None])
        return self

    def posterior(self, X: Tensor, output_indices: list[int] | None = None,
                  observation_noise: bool | Tensor = False,
                  posterior_transform: Any = None, **kwargs: Any) -> GPyTorchPosterior:
        """Moment-matched Gaussian posterior at ``X`` (``batch x q x d``).

        Parameters
        ----------
        X : Tensor of shape (batch, q, d)
            Query inputs; the fitted data are the PFN's context.
        output_indices : list of int, optional
            Ignored (one output).
        observation_noise : bool or Tensor, default=False
            Ignored.
        posterior_transform : callable, optional
            Applied to the posterior before returning.
        **kwargs
            Ignored (BoTorch API).

        Returns
        -------
        GPyTorchPosterior
            Independent normals with the bar distribution's mean and variance, unstandardized.
        """
        Xt, yt = self.context_
        flat = X.reshape(1, -1, X.shape[-1]).float()
        logits = self.pfn_(Xt, yt, flat)[0]
        bar = self.pfn_.bar
        mean = bar.mean(logits).to(X.dtype).reshape(X.shape[:-1])
        var = bar.variance(logits).to(X.dtype).reshape(X.shape[:-1]).clamp_min(1e-9)
        mean = mean * self.y_std_ + self.y_mean_
        var = var * self.y_std_**2
        post = GPyTorchPosterior(MultivariateNormal(mean, DiagLinearOperator(var)))
        return posterior_transform(post) if posterior_transform is not None else post
