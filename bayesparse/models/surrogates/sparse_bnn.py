"""Sparse Bayesian neural network surrogate trained by SSVI.

This library's addition to the surrogates of Li, Rudner & Wilson (ICLR 2024): a mean-field
Gaussian BNN whose weights live on a sparse support of fixed density, trained by Sparse
Subspace Variational Inference (Li, Miao, Qiu & Zhang, ICLR 2024; see
:func:`bayesparse.inference.ssvi.ssvi` and :class:`bayesparse.models.sparse_bnn.BayesMLP`)
with a Gaussian likelihood of learned noise and a tempered KL
term. The posterior over ``f(X)`` is represented by
``S`` weight draws ``theta_s ~ q(theta)``, each drawn from its own fixed seed so every call
of ``posterior`` sees the same ``S`` networks: an ``EnsemblePosterior`` whose index base
samples make MC acquisition functions deterministic (sample average approximation).

Examples
--------
>>> import torch
>>> X = torch.rand(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> Y = (X ** 2).sum(-1, keepdim=True)
>>> model = SparseBNN(X, Y, hidden=(16,), density=0.5, n_samples=4, steps=20,
...                   random_state=0).fit()
>>> model.posterior(X[:3]).values.shape
torch.Size([4, 3, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import OutcomeTransform
from botorch.utils.types import DEFAULT, _DefaultType
from torch import Tensor
from typing_extensions import Self

from bayesparse.inference.ssvi import GaussianNLL, ssvi
from bayesparse.models.sparse_bnn import BayesMLP
from bayesparse.models.surrogates.base import EnsembleSurrogate
from bayesparse.rng import torch_generator


class SparseBNN(EnsembleSurrogate):
    """Sparse mean-field BNN surrogate fitted by SSVI (a botorch ``EnsembleModel``).

    Parameters
    ----------
    train_X, train_Y : Tensor
        ``n x d`` inputs and ``n x 1`` targets.
    hidden : sequence of int, default=(64, 64)
        Hidden widths (ReLU).
    density : float, default=0.25
        Fraction of active weights (ERK allocation over layers).
    n_samples : int, default=32
        Posterior weight draws forming the ensemble.
    steps : int, default=300
        Full-batch SSVI steps.
    lr : float, default=1e-2
        Adam learning rate.
    kl_scale : float, default=0.1
        KL weight (1 is the ELBO). With a few dozen points the full KL keeps the posterior
        near the prior; 0.1 lets it fit (the SSVI paper uses 0.01).
    input_transform, outcome_transform, random_state
        As in :class:`~bayesparse.models.surrogates.sampled_mlp.SampledMLP` (no input
        transform by default).
    """

    def __init__(self, train_X: Tensor, train_Y: Tensor, *, hidden: Sequence[int] = (64, 64),
                 density: float = 0.25, n_samples: int = 32, steps: int = 300,
                 lr: float = 1e-2, kl_scale: float = 0.1,
                 input_transform: InputTransform | _DefaultType | None = DEFAULT,
                 outcome_transform: OutcomeTransform | _DefaultType | None = DEFAULT,
                 random_state: int | None = None) -> None:
        super().__init__()
        self._set_data(train_X, train_Y, input_transform=input_transform,
                       outcome_transform=outcome_transform, centre=False, max_outputs=1)
        if n_samples < 2 or steps < 1:
            raise ValueError(f"n_samples, steps: need n_samples >= 2 and steps >= 1, got "
                             f"{n_samples}, {steps}")
        self._num_outputs = 1
        self.hidden, self.density, self.n_samples = tuple(hidden), density, n_samples
        self.steps, self.lr, self.kl_scale = steps, lr, kl_scale
        self.random_state = random_state
        self.net_: BayesMLP | None = None

    def fit(self) -> Self:
        """Train the sparse BNN by full-batch SSVI; fixes the seeds of the ``S`` draws."""
        X, Y = self.training_data()
        gen = torch_generator(self.random_state)
        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        self.net_ = BayesMLP(X.shape[-1], 1, self.hidden, density=self.density,
                             random_state=seed)
        n = X.shape[0]
        ssvi(self.net_, X.float().numpy(), Y[:, 0].float().numpy(), nll=GaussianNLL(),
             n_epochs=self.steps, batch_size=n, lr=self.lr, kl_scale=self.kl_scale,
             update_every=max(1, self.steps // 10), random_state=seed)
        self.sample_seeds_ = [seed + 1 + s for s in range(self.n_samples)]
        self.eval()
        return self

    def forward(self, X: Tensor) -> Tensor:
        """``S`` weight draws' outputs: ``batch x n x d`` -> ``batch x S x n x 1``.

        Parameters
        ----------
        X : Tensor of shape (batch, n, d)
            Inputs (already transformed).

        Returns
        -------
        Tensor of shape (batch, S, n, 1)
            Outputs of the network under ``S`` fixed-seed weight samples.
        """
        if self.net_ is None:
            raise RuntimeError("SparseBNN: call fit() before posterior()")
        self._check_columns(X)
        flat = X.reshape(-1, X.shape[-1])
        outs = [self.net_(flat, "sample", torch.Generator().manual_seed(s))
                for s in self.sample_seeds_]
        return torch.stack(outs).reshape(len(outs), *X.shape[:-1], 1).movedim(0, -3)
