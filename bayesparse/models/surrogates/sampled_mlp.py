"""Surrogates whose posterior is a finite set of MLP parameter samples.

Given ``S`` parameter vectors ``theta_1..theta_S`` of one network (HMC or SGHMC samples, or the
members of a deep ensemble), the posterior over ``f(X)`` is the uniform mixture of the ``S``
network outputs, evaluated in one ``torch.func.vmap`` over the stack. Subclassing botorch's
``EnsembleModel`` makes ``posterior(X)`` an ``EnsemblePosterior`` with index base samples, so
botorch's ``IndexSampler`` gives fixed (sample-average-approximation) base samples and every MC
acquisition function -- ``qLogExpectedImprovement``, ``qUpperConfidenceBound``,
``qLogNoisyExpectedImprovement``, ``qLogNoisyExpectedHypervolumeImprovement`` -- and
``optimize_acqf`` work unchanged.

References
----------
Li, Rudner & Wilson, "A Study of Bayesian Neural Network Surrogates for Bayesian
Optimization", ICLR 2024.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import OutcomeTransform
from botorch.utils.types import DEFAULT, _DefaultType
from torch import Tensor
from typing_extensions import Self

from bayesparse.models.surrogates.base import EnsembleSurrogate
from bayesparse.models.surrogates.networks import mlp_model


class SampledMLP(EnsembleSurrogate):
    """Base class: a botorch ``EnsembleModel`` over ``S`` parameter vectors of a tanh MLP.

    Subclasses implement :meth:`fit`, which sets ``theta_`` (``S x P``).

    Parameters
    ----------
    train_X : Tensor
        ``n x d`` training inputs (the BO loop passes them normalized to ``[0, 1]^d``).
    train_Y : Tensor
        ``n x m`` training targets.
    hidden : sequence of int
        Hidden layer widths.
    prior_var : float
        Prior variance scale (fan-in scaled weights, see
        :func:`~bayesparse.models.surrogates.networks.mlp_model`).
    input_transform : InputTransform, optional
        Applied to inputs as in botorch's GP models (default: none; ``centre=True``
        subclasses default to ``x -> 2 x - 1``).
    outcome_transform : OutcomeTransform, optional
        Default ``Standardize(m)``; the networks fit standardized targets and the posterior
        samples are untransformed.
    random_state : int, optional
        Seed of initialization and sampling.
    head_factor : int, default=1
        Outputs per target (2: a mean and a variance head).
    centre : bool, default=False
        Whether the default input transform is ``x -> 2 x - 1``.

    Attributes
    ----------
    model : FunctionalModel
        The network (``model.module``, an ``nn.Sequential``) and its prior.
    theta_ : Tensor
        ``S x P`` fitted parameters.
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, hidden: Sequence[int],
                 prior_var: float = 1.0,
                 input_transform: InputTransform | _DefaultType | None = DEFAULT,
                 outcome_transform: OutcomeTransform | _DefaultType | None = DEFAULT,
                 random_state: int | None = None, head_factor: int = 1,
                 centre: bool = False) -> None:
        super().__init__()
        self._set_data(train_X, train_Y, input_transform=input_transform,
                       outcome_transform=outcome_transform, centre=centre)
        self._num_outputs = self.train_Y.shape[-1]
        self.model = mlp_model(self.train_X.shape[-1], hidden,
                               head_factor * self.train_Y.shape[-1], prior_var,
                               self.train_X.dtype)
        self.random_state = random_state
        self.theta_: Tensor | None = None

    @abstractmethod
    def fit(self) -> Self:
        """Fit the posterior samples ``theta_`` and return ``self``."""

    def forward(self, X: Tensor) -> Tensor:
        """All members' outputs: ``batch x n x d`` -> ``batch x S x n x m``.

        Parameters
        ----------
        X : Tensor of shape (batch, n, d)
            Inputs (already transformed).

        Returns
        -------
        Tensor of shape (batch, S, n, m)
            Outputs of the ``S`` parameter samples.
        """
        if self.theta_ is None:
            raise RuntimeError(f"{type(self).__name__}: call fit() before posterior()")
        self._check_columns(X)
        out = self.model(self.theta_.to(X), X)[..., : self._num_outputs]
        return out.movedim(0, -3)
