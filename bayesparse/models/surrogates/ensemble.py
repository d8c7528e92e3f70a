"""Deep ensemble surrogate: Gaussian-output MLPs, each trained on a random subset.

Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive Uncertainty Estimation
using Deep Ensembles", NeurIPS 2017, as used by Li, Rudner & Wilson, ICLR 2024 (10 members,
each on a random 80% of the data, Adam 1000 steps). Each member ``s`` outputs a mean
``mu_s(x)`` and a variance ``sigma_s^2(x)`` and minimizes the Gaussian negative log-likelihood
(their eq. 1) plus a weak Gaussian prior (weight decay), after fitting the means alone by
squared error for the first half of the steps. The surrogate for the noise-free objective is the
uniform mixture of the members' means,

.. math::

    \\mathbb E[f(x)] = \\frac1S \\sum_s \\mu_s(x), \\qquad
    \\mathrm{Var}[f(x)] = \\frac1{S-1} \\sum_s \\big(\\mu_s(x) - \\mathbb E[f(x)]\\big)^2,

an ``EnsemblePosterior`` (botorch's unbiased mixture variance); the members' aleatoric
variances are available from :meth:`DeepEnsemble.predictive_variance`. All members train in
one batched loop.

Examples
--------
>>> import torch
>>> X = torch.rand(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> Y = (X ** 2).sum(-1, keepdim=True)
>>> model = DeepEnsemble(X, Y, n_members=4, hidden=(8,), steps=50, random_state=0).fit()
>>> model.posterior(X[:3]).values.shape
torch.Size([4, 3, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from botorch.models.transforms.input import InputTransform
from botorch.utils.types import DEFAULT, _DefaultType
from torch import Tensor
from torch.nn.functional import softplus
from typing_extensions import Self

from bayesparse.inference.map import fit_map
from bayesparse.models.surrogates.networks import mlp_model, prior_init
from bayesparse.models.surrogates.sampled_mlp import SampledMLP
from bayesparse.rng import torch_generator


class DeepEnsemble(SampledMLP):
    """Deep ensemble of Gaussian-output tanh MLPs (a botorch ``EnsembleModel``).

    Parameters
    ----------
    train_X, train_Y : Tensor
        ``n x d`` inputs and ``n x m`` targets.
    n_members : int, default=10
        Ensemble size.
    subset : float, default=0.8
        Fraction of the data each member trains on, in (0, 1].
    hidden : sequence of int, default=(64, 64)
        Hidden widths.
    prior_var : float, default=100.0
        Prior variance scale, i.e. a weak weight decay (members start from the unit-scale
        prior). With 1.0 the decay dominates the likelihood of a few dozen points and every
        member is flat (Hartmann6, 30 points: test MSE 0.122 = the target variance; 100 gives
        0.099).
    steps : int, default=1000
        Adam steps.
    lr : float, default=1e-2
        Adam learning rate.
    mean_warmup : float, default=0.5
        Fraction of the steps fitting the means alone (squared error) before the Gaussian
        NLL, which can otherwise settle on a flat mean with the variance as noise.
    anchored : bool, default=False
        Anchored ensemble (Pearce et al., AISTATS 2020): member ``s`` starts at a draw
        ``a_s`` from the prior (scale ``prior_var``, biases included) and is regularized
        towards it, ``||theta_s - a_s||^2`` under the prior's scales, instead of towards zero;
        the anchors are kept in ``anchors_``. Use with a prior scale of order 1-10.
    input_transform : InputTransform, optional
        Default: ``x -> 2 x - 1`` (inputs in ``[0, 1]^d`` centred, see
        :func:`~bayesparse.models.surrogates.sampled_mlp.centre_unit_cube`).
    **kwargs
        ``outcome_transform``, ``random_state``.
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, n_members: int = 10,
                 subset: float = 0.8, hidden: Sequence[int] = (64, 64), prior_var: float = 100.0,
                 steps: int = 1000, lr: float = 1e-2, mean_warmup: float = 0.5,
                 anchored: bool = False,
                 input_transform: InputTransform | _DefaultType | None = DEFAULT,
                 **kwargs: Any) -> None:
        super().__init__(train_X, train_Y, hidden=hidden, prior_var=prior_var, head_factor=2,
                         input_transform=input_transform, centre=True, **kwargs)
        self.hidden = tuple(hidden)
        if n_members < 2:
            raise ValueError(f"n_members: expected >= 2, got {n_members}")
        if not 0 < subset <= 1:
            raise ValueError(f"subset: expected in (0, 1], got {subset}")
        self.n_members, self.subset, self.steps, self.lr = n_members, subset, steps, lr
        self.mean_warmup, self.anchored = mean_warmup, anchored

    def fit(self) -> Self:
        """Train every member on its own random subset; sets ``theta_`` and ``masks_``."""
        X, Y = self.training_data()
        n = X.shape[0]
        gen = torch_generator(self.random_state)
        k = max(1, round(self.subset * n))
        order = torch.rand(self.n_members, n, generator=gen).argsort(-1)
        self.masks_ = (order < k).to(X.dtype)
        if self.anchored:
            # Each member starts at and is regularized towards its own prior draw (biases too).
            anchor = self.model.sample_prior(self.n_members, gen, X.dtype)
            theta0 = self.anchors_ = anchor
        else:
            # Initialize at the unit-scale prior whatever the (weak) weight decay of training.
            anchor = None
            unit = mlp_model(X.shape[-1], self.hidden, 2 * self._num_outputs, 1.0, X.dtype)
            theta0 = prior_init(unit, self.n_members, gen, X.dtype)
        self.theta_ = fit_map(self.model, theta0, X, Y, noise_var=None, weights=self.masks_,
                              steps=self.steps, lr=self.lr, mean_warmup=self.mean_warmup,
                              anchor=anchor)
        self.eval()
        return self

    def predictive_variance(self, X: Tensor) -> Tensor:
        """Mixture variance of ``y`` incl. the members' noise (standardized scale), ``n x m``.

        Parameters
        ----------
        X : Tensor of shape (n, d)
            Inputs in the original space (the input transform is applied).

        Returns
        -------
        Tensor of shape (n, m)
            ``mean_s(var_s + mu_s^2) - mean_s(mu_s)^2`` over the members ``s``.
        """
        out = self.model(self.theta_.to(X), self.transform_inputs(X))
        m = self._num_outputs
        mean, var = out[..., :m], softplus(out[..., m:]) + 1e-6
        return (var + mean.pow(2)).mean(0) - mean.mean(0).pow(2)
