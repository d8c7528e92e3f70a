"""Linearized-Laplace BNN surrogate with a Gaussian (GPyTorch) posterior and fantasies.

Li, Rudner & Wilson, ICLR 2024 (after Daxberger et al., "Laplace Redux", NeurIPS 2021): train
a tanh MLP to its MAP estimate, fit a Laplace approximation (full network or last layer,
KFAC or diagonal Hessian, prior precision and noise by marginal likelihood; see
:mod:`bayesparse.inference.laplace`) and use the linearized predictive

.. math::

    f(X) \\sim \\mathcal N\\big(f_{\\theta^*}(X),\\; J(X) (H + \\delta I)^{-1} J(X)^\\top\\big)

as a joint Gaussian over the ``q`` query points, returned as a ``GPyTorchPosterior`` so
botorch's Gaussian base samples, QMC samplers and analytic acquisition functions apply.

The linearized network ``f(x) = f_{theta*}(x) + J(x) (theta - theta*)`` with
``theta ~ N(theta*, Sigma)`` is a Gaussian process with mean ``f_{theta*}`` and kernel
``J(x) Sigma J(x')^T`` (Immer, Korzepa & Bauer, AISTATS 2021, Sec. 3.2). New observations
``(X', y')`` with noise ``sigma^2`` are therefore conditioned on in closed form,

.. math::

    m'(x) = m(x) + k(x, X') (k(X', X') + \\sigma^2 I)^{-1} (y' - m(X')), \\qquad
    k'(x, z) = k(x, z) - k(x, X') (k(X', X') + \\sigma^2 I)^{-1} k(X', z),

the exact posterior of the linearized model given the training data and ``(X', y')``
(:meth:`LaplaceBNN.condition_on_observations`), which makes :meth:`LaplaceBNN.fantasize` and
fantasy-based acquisition functions (``qKnowledgeGradient``) work.

Examples
--------
>>> import torch
>>> X = torch.rand(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> Y = (X ** 2).sum(-1, keepdim=True)
>>> model = LaplaceBNN(X, Y, hidden=(8,), steps=100, random_state=0).fit()
>>> post = model.posterior(X[:3])
>>> post.mean.shape, bool((post.variance > 0).all())
(torch.Size([3, 1]), True)
>>> new = model.condition_on_observations(X[:1], Y[:1])
>>> bool(new.posterior(X[:1]).variance < post.variance[:1])
True

References
----------
Daxberger et al., "Laplace Redux -- Effortless Bayesian Deep Learning", NeurIPS 2021.
Immer, Korzepa & Bauer, "Improving predictions of Bayesian neural nets via local
linearization", AISTATS 2021. Li, Rudner & Wilson, "A Study of Bayesian Neural Network
Surrogates for Bayesian Optimization", ICLR 2024.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import OutcomeTransform
from botorch.posteriors.gpytorch import GPyTorchPosterior
from botorch.sampling.base import MCSampler
from botorch.utils.types import DEFAULT, _DefaultType
from gpytorch.distributions import MultivariateNormal
from torch import Tensor
from typing_extensions import Self

from bayesparse.inference.laplace import LaplaceFit, fit_laplace
from bayesparse.inference.map import fit_map
from bayesparse.models.surrogates.base import SurrogateData
from bayesparse.models.surrogates.networks import mlp_model, prior_init
from bayesparse.rng import torch_generator

#: Added to the covariance's diagonal: keeps the Cholesky of nearly identical query points
#: (q-batches) stable.
_JITTER = 1e-8


class LaplaceBNN(SurrogateData, Model):
    """Linearized Laplace tanh-MLP surrogate (one output, Gaussian posterior).

    Parameters
    ----------
    train_X, train_Y : Tensor
        ``n x d`` inputs and ``n x 1`` targets.
    hidden : sequence of int, default=(32, 32)
        Hidden widths.
    subset : {"all", "last_layer"}, default="all"
        Full-network or last-layer Laplace.
    hessian : {"full", "kfac", "diag"}, default="full"
        Curvature structure. ``"full"`` is the exact Gauss-Newton matrix, handled in function
        space (``n x n`` systems), the right choice for BO's tens to hundreds of points: with
        fewer points than weights KFAC's factors are full rank where the exact ``H`` has rank
        ``n``, so its log-determinant is far too large and the evidence drives the noise up.
    prior_var : float, default=1.0
        Prior variance scale of the MAP training (fan-in scaled).
    noise_var : float, default=1e-2
        Noise variance (standardized scale) of the MAP training.
    learn_noise : bool, default=True
        Re-estimate the noise variance with the prior precision by marginal likelihood
        (else keep ``noise_var``).
    per_layer : bool, default=True
        One marginal-likelihood prior precision per layer instead of one shared.
    steps : int, default=1000
        Adam steps of the MAP training.
    input_transform : InputTransform, optional
        Default: ``x -> 2 x - 1`` (inputs in ``[0, 1]^d`` centred, see
        :func:`~bayesparse.models.surrogates.base.centre_unit_cube`).
    outcome_transform : OutcomeTransform, optional
        Default ``Standardize(1)``.
    random_state : int, optional
        Seed of the initialization.

    Attributes
    ----------
    model : FunctionalModel
        The network and its prior.
    theta_ : Tensor
        MAP parameters.
    laplace_ : LaplaceFit
        The fitted approximation.
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, hidden: Sequence[int] = (32, 32),
                 subset: str = "all", hessian: str = "full", prior_var: float = 1.0,
                 noise_var: float = 1e-2, learn_noise: bool = True, per_layer: bool = True,
                 steps: int = 1000,
                 input_transform: InputTransform | _DefaultType | None = DEFAULT,
                 outcome_transform: OutcomeTransform | _DefaultType | None = DEFAULT,
                 random_state: int | None = None) -> None:
        super().__init__()
        self._set_data(train_X, train_Y, input_transform=input_transform,
                       outcome_transform=outcome_transform, centre=True, max_outputs=1)
        if subset not in ("all", "last_layer") or hessian not in ("kfac", "diag", "full"):
            raise ValueError(f"subset, hessian: expected 'all'|'last_layer' and "
                             f"'kfac'|'diag'|'full', got {subset!r}, {hessian!r}")
        self.model = mlp_model(self.train_X.shape[-1], hidden, 1, prior_var, self.train_X.dtype)
        self.subset, self.hessian, self.noise_var, self.steps = subset, hessian, noise_var, steps
        self.learn_noise, self.per_layer = learn_noise, per_layer
        self.random_state = random_state
        self.theta_: Tensor | None = None
        self.laplace_: LaplaceFit | None = None
        # Conditioned-on observations (transformed inputs, standardized targets and noise).
        self._cond: tuple[Tensor, Tensor, Tensor] | None = None

    @property
    def num_outputs(self) -> int:
        """One output."""
        return 1

    def fit(self) -> Self:
        """MAP training, then the Laplace fit with marginal-likelihood hyper-parameters."""
        X, Y = self.training_data()
        gen = torch_generator(self.random_state)
        self.theta_ = fit_map(self.model, prior_init(self.model, 1, gen, X.dtype), X, Y,
                              noise_var=self.noise_var, steps=self.steps)[0]
        # A learned noise gave the best held-out NLL on Hartmann6 (30 points).
        self.laplace_ = fit_laplace(self.model, self.theta_, X, Y, subset=self.subset,
                                    hessian=self.hessian, per_layer=self.per_layer,
                                    noise_var=None if self.learn_noise else self.noise_var)
        self._cond = None
        self.eval()
        return self

    def _gaussian(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and covariance of ``f`` at transformed ``batch x q x d`` inputs, conditioned
        on the observations of :meth:`condition_on_observations`."""
        if self._cond is None:
            return self.laplace_.predict(self.model, self.theta_.to(X), X)
        Xc, Yc, Nc = self._cond
        batch = torch.broadcast_shapes(X.shape[:-2], Xc.shape[:-2], Yc.shape[:-2])
        q = X.shape[-2]
        Z = torch.cat([X.expand(*batch, *X.shape[-2:]), Xc.expand(*batch, *Xc.shape[-2:])], -2)
        mean, cov = self.laplace_.predict(self.model, self.theta_.to(X), Z)
        K_cc = cov[..., q:, q:] + torch.diag_embed(Nc[..., 0].expand(*batch, -1))
        L = torch.linalg.cholesky(K_cc + _JITTER * torch.eye(K_cc.shape[-1], dtype=X.dtype))
        V = torch.linalg.solve_triangular(L, cov[..., q:, :q], upper=False)
        r = torch.linalg.solve_triangular(L, (Yc[..., 0] - mean[..., q:]).unsqueeze(-1),
                                          upper=False)
        return (mean[..., :q] + (V.transpose(-1, -2) @ r)[..., 0],
                cov[..., :q, :q] - V.transpose(-1, -2) @ V)

    def posterior(self, X: Tensor, output_indices: list[int] | None = None,
                  observation_noise: bool | Tensor = False,
                  posterior_transform: PosteriorTransform | None = None,
                  **kwargs: Any) -> GPyTorchPosterior:
        """Joint Gaussian posterior over ``batch x q x d`` inputs.

        Parameters
        ----------
        X : Tensor of shape (batch, q, d)
            Inputs in the original space.
        output_indices : list of int, optional
            Only ``[0]`` (the model has one output).
        observation_noise : bool or Tensor, default=False
            ``True`` adds the fitted noise variance; a tensor ``batch x q x 1`` adds that
            noise variance.
        posterior_transform : PosteriorTransform, optional
            Applied to the posterior before returning.
        **kwargs
            Ignored (BoTorch API).

        Returns
        -------
        GPyTorchPosterior
            Multivariate normal over the ``q`` points, on the outcome scale.
        """
        if self.laplace_ is None:
            raise RuntimeError("LaplaceBNN: call fit() before posterior()")
        if output_indices is not None and list(output_indices) != [0]:
            raise ValueError(f"output_indices: the model has one output, got {output_indices}")
        self._check_columns(X)
        self.eval()
        X = self.transform_inputs(X)
        mean, cov = self._gaussian(X)
        eye = torch.eye(cov.shape[-1], dtype=X.dtype)
        if observation_noise is True:
            cov = cov + self.laplace_.noise_var * eye
        elif isinstance(observation_noise, Tensor):
            cov = cov + torch.diag_embed(observation_noise[..., 0].expand(mean.shape))
        posterior = GPyTorchPosterior(MultivariateNormal(mean, cov + _JITTER * eye))
        if hasattr(self, "outcome_transform"):
            posterior = self.outcome_transform.untransform_posterior(posterior, X=X)
        if posterior_transform is not None:
            return posterior_transform(posterior)
        return posterior

    def condition_on_observations(self, X: Tensor, Y: Tensor, noise: Tensor | None = None,
                                  **kwargs: Any) -> LaplaceBNN:
        """A copy whose posterior is also conditioned on ``(X, Y)``, in closed form.

        Parameters
        ----------
        X : Tensor
            ``batch x n' x d`` inputs (before the input transform).
        Y : Tensor
            ``batch' x n' x 1`` observations (original scale; ``batch'`` broadcasts with
            ``batch``, e.g. ``num_fantasies x batch``).
        noise : Tensor, optional
            Observation noise variances shaped like ``Y``, on the outcome-transformed scale
            (botorch's convention); default the fitted ``laplace_.noise_var``.

        Returns
        -------
        LaplaceBNN
            The conditioned model (the network and its Laplace fit are not refitted).
        """
        if self.laplace_ is None:
            raise RuntimeError("LaplaceBNN: call fit() before condition_on_observations()")
        self._check_columns(X)
        if Y.shape[-1] != 1 or Y.shape[-2] != X.shape[-2]:
            raise ValueError(f"Y: expected ... x {X.shape[-2]} x 1 to match X, got shape "
                             f"{tuple(Y.shape)}")
        self.eval()
        Xt = self.transform_inputs(X)
        if hasattr(self, "outcome_transform"):
            Y, _ = self.outcome_transform(Y, X=Xt)
        if noise is None:
            noise = torch.full_like(Y, self.laplace_.noise_var)
        noise = noise.expand(Y.shape)
        new = copy.deepcopy(self)
        if self._cond is not None:
            Xc, Yc, Nc = self._cond
            bx = torch.broadcast_shapes(Xc.shape[:-2], Xt.shape[:-2])
            by = torch.broadcast_shapes(Yc.shape[:-2], Y.shape[:-2])
            Xt = torch.cat([Xc.expand(*bx, *Xc.shape[-2:]), Xt.expand(*bx, *Xt.shape[-2:])], -2)
            Y = torch.cat([Yc.expand(*by, *Yc.shape[-2:]), Y.expand(*by, *Y.shape[-2:])], -2)
            noise = torch.cat([Nc.expand(*by, *Nc.shape[-2:]),
                               noise.expand(*by, *noise.shape[-2:])], -2)
        new._cond = (Xt, Y, noise)
        return new

    def fantasize(self, X: Tensor, sampler: MCSampler, observation_noise: Tensor | None = None,
                  **kwargs: Any) -> LaplaceBNN:
        """A fantasy model: condition on ``sampler``'s draws of noisy observations at ``X``.

        Parameters
        ----------
        X : Tensor
            ``batch x n' x d`` fantasy inputs.
        sampler : MCSampler
            Draws ``num_fantasies`` observations from the posterior at ``X``.
        observation_noise : Tensor, optional
            Noise variances (outcome-transformed scale); default the fitted noise.

        Returns
        -------
        LaplaceBNN
            Conditioned on ``num_fantasies x batch x n' x 1`` fantasized observations.
        """
        post = self.posterior(X, observation_noise=(True if observation_noise is None
                                                    else observation_noise))
        Y = sampler(post)
        noise = None if observation_noise is None else observation_noise.expand(Y.shape[1:])
        return self.condition_on_observations(X, Y, noise=noise)
