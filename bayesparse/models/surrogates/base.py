"""What every BO surrogate shares: training data, botorch transforms, the ensemble posterior.

A surrogate stores ``train_X`` (``n x d``, the BO loop passes inputs in ``[0, 1]^d``) and
``train_Y`` (``n x m``), an optional botorch ``InputTransform`` (applied on every call, as in
botorch's GP models) and an ``OutcomeTransform`` (``Standardize`` by default): the networks
fit transformed data, and predictions are untransformed by botorch (``EnsembleModel``
untransforms the ensemble's values; Gaussian surrogates call ``untransform_posterior``).

Sampling-based surrogates (HMC, SGHMC, deep ensembles, the SSVI sparse BNN) return a
:class:`NetworkEnsemblePosterior`: botorch's ``EnsemblePosterior`` (uniform mixture of ``S``
networks) whose base samples are ensemble indices, drawn by ``IndexSampler``; asking it for
Gaussian base samples (``SobolQMCNormalSampler``, ``StochasticSampler``) raises an error that
names the right sampler.

References
----------
Balandat et al., "BoTorch: A Framework for Efficient Monte-Carlo Bayesian Optimization",
NeurIPS 2020 (models, posteriors, samplers and transforms).
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.acquisition.objective import PosteriorTransform
from botorch.exceptions.errors import UnsupportedError
from botorch.models.ensemble import EnsembleModel
from botorch.models.transforms.input import InputTransform, Normalize
from botorch.models.transforms.outcome import OutcomeTransform, Standardize
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.utils.types import DEFAULT, _DefaultType
from torch import Tensor


def check_training_data(train_X: Tensor, train_Y: Tensor) -> tuple[Tensor, Tensor]:
    """Validate ``n x d`` inputs and ``n x m`` targets (finite floating tensors).

    Parameters
    ----------
    train_X, train_Y : Tensor
        Inputs and targets.

    Returns
    -------
    tuple of Tensor
        ``train_X`` and ``train_Y`` in ``train_X``'s dtype.
    """
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

    botorch's ``Normalize`` with bounds ``[0.5, 1]``. The hidden units' hyperplanes start
    through the origin (biases start at zero); on ``[0, 1]^d`` that is a corner of the box,
    where all tanh transitions crowd, and the network extrapolates nearly linearly to the
    opposite corners.

    Parameters
    ----------
    d : int
        Input dimension.
    like : Tensor
        Gives the dtype and device.

    Returns
    -------
    Normalize
    """
    return Normalize(d, bounds=torch.tensor([[0.5] * d, [1.0] * d]).to(like))


class SurrogateData:
    """Mixin of a botorch ``Model``: training data and transforms, set by :meth:`_set_data`."""

    def _set_data(self, train_X: Tensor, train_Y: Tensor, *,
                  input_transform: InputTransform | _DefaultType | None,
                  outcome_transform: OutcomeTransform | _DefaultType | None,
                  centre: bool, max_outputs: int | None = None) -> None:
        """Check and store the data; ``DEFAULT`` transforms are ``x -> 2 x - 1`` (if
        ``centre``, else none) and ``Standardize``."""
        train_X, train_Y = check_training_data(train_X, train_Y)
        if max_outputs is not None and train_Y.shape[-1] > max_outputs:
            raise ValueError(f"train_Y: {type(self).__name__} models one output, got "
                             f"{train_Y.shape[-1]}; use a ModelList of one per output")
        self.train_X, self.train_Y = train_X, train_Y
        if outcome_transform == DEFAULT:
            outcome_transform = Standardize(m=train_Y.shape[-1])
        if outcome_transform is not None:
            self.outcome_transform = outcome_transform
        if input_transform == DEFAULT:
            input_transform = centre_unit_cube(train_X.shape[-1], train_X) if centre else None
        if input_transform is not None:
            self.input_transform = input_transform

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

    def _check_columns(self, X: Tensor) -> None:
        if X.shape[-1] != self.train_X.shape[-1]:
            raise ValueError(f"X: expected {self.train_X.shape[-1]} input columns, got "
                             f"{X.shape[-1]}")


class NetworkEnsemblePosterior(EnsemblePosterior):
    """botorch's ``EnsemblePosterior``, with an error naming ``IndexSampler`` when a sampler
    asks for Gaussian base samples."""

    @property
    def base_sample_shape(self) -> torch.Size:
        raise UnsupportedError(
            f"This posterior is a mixture of {self.ensemble_size} sampled networks, not a "
            "Gaussian: SobolQMCNormalSampler and the other normal samplers do not apply. Use "
            "botorch.sampling.index_sampler.IndexSampler(sample_shape=torch.Size([n])), or "
            "botorch.sampling.get_sampler(posterior, sample_shape), which picks it."
        )


class EnsembleSurrogate(SurrogateData, EnsembleModel):
    """Base of the sampling-based surrogates: ``forward`` returns ``batch x S x n x m``."""

    def posterior(self, X: Tensor, output_indices: list[int] | None = None,
                  posterior_transform: PosteriorTransform | None = None,
                  **kwargs: Any) -> NetworkEnsemblePosterior:
        """The ensemble posterior at ``batch x q x d`` inputs (before transforms).

        Parameters
        ----------
        X : Tensor of shape (batch, q, d)
            Inputs in the original (untransformed) space.
        output_indices : list of int, optional
            Outputs to keep; all by default.
        posterior_transform : PosteriorTransform, optional
            Applied to the ensemble posterior before returning.
        **kwargs
            Passed to BoTorch's ``EnsembleModel.posterior``.

        Returns
        -------
        NetworkEnsemblePosterior
            Members' values ``batch x S x q x m`` with ``ensemble_weights`` (or the transformed
            posterior).
        """
        self._check_columns(X)
        post = super().posterior(X, output_indices=output_indices, **kwargs)
        post = NetworkEnsemblePosterior(values=post.values, weights=self.ensemble_weights)
        if posterior_transform is not None:
            return posterior_transform(posterior=post, X=X)
        return post
