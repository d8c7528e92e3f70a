"""Surrogates whose posterior is a finite set of MLP parameter samples.

Given ``S`` parameter vectors ``theta_1..theta_S`` of one network (HMC or SGHMC samples, or the
members of a deep ensemble), the posterior over ``f(X)`` is the uniform mixture of the ``S``
network outputs. Subclassing botorch's ``EnsembleModel`` makes ``posterior(X)`` an
``EnsemblePosterior`` with index base samples, so botorch's ``IndexSampler`` gives fixed
(sample-average-approximation) base samples and every MC acquisition function --
``qLogExpectedImprovement``, ``qUpperConfidenceBound``, ``qLogNoisyExpectedImprovement``,
``qLogNoisyExpectedHypervolumeImprovement`` -- and ``optimize_acqf`` work unchanged.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from botorch.models.ensemble import EnsembleModel
from botorch.models.transforms.input import InputTransform, Normalize
from botorch.models.transforms.outcome import OutcomeTransform, Standardize
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.utils.types import DEFAULT, _DefaultType
from torch import Tensor
from typing_extensions import Self

from bayesparse.models.surrogates.mlp import MLP


def check_training_data(train_X: Tensor, train_Y: Tensor) -> tuple[Tensor, Tensor]:
    """Validate ``n x d`` inputs and ``n x m`` targets (finite floating tensors)."""
    for name, t in (("train_X", train_X), ("train_Y", train_Y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D tensor (n x d or n x m), got shape "
                             f"{tuple(t.shape)}; reshape it, e.g. train_Y.unsqueeze(-1)")
        if not t.is_floating_point():
            raise TypeError(f"{name}: expected a floating dtype, got {t.dtype}; use .double()")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name}: contains NaN or inf")
    if train_X.shape[0] != train_Y.shape[0] or train_X.shape[0] < 2:
        raise ValueError(
            f"train_X, train_Y: need the same number n >= 2 of rows, got {train_X.shape[0]} "
            f"and {train_Y.shape[0]}"
        )
    return train_X, train_Y.to(train_X)


def centre_unit_cube(d: int, like: Tensor) -> Normalize:
    """The input transform ``x -> 2 x - 1``: ``[0, 1]^d`` (the BO loop's inputs) to ``[-1, 1]^d``.

    The hidden units' hyperplanes start through the origin (biases start at zero); on
    ``[0, 1]^d`` that is a corner of the box, where all tanh transitions crowd, and the
    network extrapolates nearly linearly to the opposite corners.
    """
    return Normalize(d, bounds=torch.tensor([[0.5] * d, [1.0] * d]).to(like))


def seed_generator(random_state: int | None) -> torch.Generator:
    """A torch generator seeded by ``random_state`` (fresh entropy when None)."""
    gen = torch.Generator()
    if random_state is None:
        gen.seed()
    else:
        gen.manual_seed(int(random_state))
    return gen


class SampledMLP(EnsembleModel):
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
        Prior variance scale (fan-in scaled weights, see :class:`MLP`).
    input_transform : InputTransform, optional
        Applied to inputs as in botorch's GP models.
    outcome_transform : OutcomeTransform, optional
        Default ``Standardize(m)``; the networks fit standardized targets and the posterior
        samples are untransformed.
    random_state : int, optional
        Seed of initialization and sampling.
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, hidden: Sequence[int],
                 prior_var: float = 1.0, input_transform: InputTransform | None = None,
                 outcome_transform: OutcomeTransform | _DefaultType | None = DEFAULT,
                 random_state: int | None = None, head_factor: int = 1) -> None:
        super().__init__()
        train_X, train_Y = check_training_data(train_X, train_Y)
        self.train_X, self.train_Y = train_X, train_Y
        self._num_outputs = train_Y.shape[-1]
        if outcome_transform == DEFAULT:
            outcome_transform = Standardize(m=train_Y.shape[-1])
        if outcome_transform is not None:
            self.outcome_transform = outcome_transform
        if input_transform is not None:
            self.input_transform = input_transform
        self.net = MLP(train_X.shape[-1], hidden, head_factor * train_Y.shape[-1], prior_var)
        self.random_state = random_state
        self.theta_: Tensor | None = None

    def _set_transformed_inputs(self) -> None:
        """No cached ``train_inputs`` to update: inputs are transformed on every call.

        botorch's ``Model.eval()`` otherwise warns on every fit that it cannot cache them.
        """

    def training_data(self) -> tuple[Tensor, Tensor]:
        """The training inputs and targets after the input and outcome transforms."""
        self.train()
        X = self.transform_inputs(self.train_X)
        Y = self.train_Y
        if hasattr(self, "outcome_transform"):
            Y, _ = self.outcome_transform(Y, X=X)
        return X.detach(), Y.detach()

    @abstractmethod
    def fit(self) -> Self:
        """Fit the posterior samples ``theta_`` and return ``self``."""

    def posterior(self, X: Tensor, *args: Any, **kwargs: Any) -> EnsemblePosterior:
        """botorch's ensemble posterior, after checking ``X``'s columns (before transforms)."""
        if X.shape[-1] != self.train_X.shape[-1]:
            raise ValueError(f"X: expected {self.train_X.shape[-1]} input columns, got "
                             f"{X.shape[-1]}")
        return super().posterior(X, *args, **kwargs)

    def forward(self, X: Tensor) -> Tensor:
        """All members' outputs: ``batch x n x d`` -> ``batch x S x n x m``."""
        if self.theta_ is None:
            raise RuntimeError(f"{type(self).__name__}: call fit() before posterior()")
        if X.shape[-1] != self.net.d_in:
            raise ValueError(f"X: expected {self.net.d_in} input columns, got {X.shape[-1]}")
        return self.net.forward(self.theta_.to(X), X)[..., : self._num_outputs]
