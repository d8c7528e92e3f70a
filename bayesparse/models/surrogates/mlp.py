"""A tanh MLP whose parameters are stacked along a leading sample dimension.

Every sampling-based surrogate (HMC, SGHMC, deep ensembles) represents its posterior by ``S``
parameter vectors of one network. Keeping them as a flat ``S x P`` tensor lets the samplers work
on plain vectors and lets the surrogate evaluate all ``S`` networks in one batched matrix product:
``f_s(x) = W_L^s tanh(... tanh(W_1^s x + b_1^s) ...) + b_L^s``.

The prior is Neal's fan-in scaled Gaussian, ``w ~ N(0, prior_var / fan_in)``,
``b ~ N(0, prior_var)``: the infinite-width limit of this network is the I-BNN kernel
(Neal 1996; Lee et al. 2018), so the finite and infinite surrogates share one prior.

Examples
--------
>>> import torch
>>> net = MLP(d_in=2, hidden=(8, 8))
>>> theta = net.init(5, generator=torch.Generator().manual_seed(0))
>>> net.forward(theta, torch.rand(3, 4, 2, dtype=torch.float64)).shape
torch.Size([3, 5, 4, 1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


class MLP:
    """Shapes, prior and batched forward pass of a tanh MLP over flat parameter vectors.

    Parameters
    ----------
    d_in : int
        Input dimension.
    hidden : sequence of int
        Hidden layer widths (may be empty: a linear model).
    d_out : int, default=1
        Output dimension.
    prior_var : float, default=1.0
        Prior variance scale (weights get ``prior_var / fan_in``).
    """

    def __init__(self, d_in: int, hidden: Sequence[int] = (50, 50), d_out: int = 1,
                 prior_var: float = 1.0) -> None:
        if d_in < 1 or d_out < 1 or any(h < 1 for h in hidden):
            raise ValueError(
                f"MLP: dimensions must be positive, got d_in={d_in}, hidden={tuple(hidden)}, "
                f"d_out={d_out}"
            )
        if prior_var <= 0:
            raise ValueError(f"prior_var: expected > 0, got {prior_var}")
        self.d_in, self.hidden, self.d_out = d_in, tuple(hidden), d_out
        self.prior_var = prior_var
        widths = (d_in, *self.hidden, d_out)
        self.layers = list(zip(widths[:-1], widths[1:]))
        self.n_params = sum((i + 1) * o for i, o in self.layers)

    def unflatten(self, theta: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Split ``S x P`` parameters into ``(W: S x in x out, b: S x 1 x out)`` per layer."""
        if theta.shape[-1] != self.n_params:
            raise ValueError(
                f"theta: expected last dimension {self.n_params}, got {tuple(theta.shape)}"
            )
        out, k = [], 0
        for i, o in self.layers:
            w = theta[..., k:k + i * o].reshape(*theta.shape[:-1], i, o)
            k += i * o
            b = theta[..., k:k + o].reshape(*theta.shape[:-1], 1, o)
            k += o
            out.append((w, b))
        return out

    def prior_std(self, like: Tensor) -> Tensor:
        """Per-parameter prior standard deviations as a ``P`` vector (dtype of ``like``)."""
        parts = []
        for i, o in self.layers:
            parts.append(torch.full((i * o,), math.sqrt(self.prior_var / i)))
            parts.append(torch.full((o,), math.sqrt(self.prior_var)))
        return torch.cat(parts).to(like)

    def init(self, n: int, generator: torch.Generator | None = None,
             dtype: torch.dtype = torch.float64) -> Tensor:
        """``n`` draws from the prior, an ``n x P`` tensor (biases start at zero)."""
        std = self.prior_std(torch.empty(0, dtype=dtype))
        theta = torch.randn(n, self.n_params, generator=generator, dtype=dtype) * std
        for _, b in self.unflatten(theta):
            b.zero_()
        return theta

    def hidden_forward(self, theta: Tensor, X: Tensor) -> list[Tensor]:
        """Activations of every layer input, ``[x, h_1, ..., h_{L-1}]``.

        ``theta`` is ``S x P`` and ``X`` is ``batch x n x d``; each activation is
        ``batch x S x n x width``.
        """
        h = X.unsqueeze(-3)
        acts = [h.expand(*X.shape[:-2], theta.shape[0], *X.shape[-2:])]
        for w, b in self.unflatten(theta)[:-1]:
            h = torch.tanh(h @ w + b)
            acts.append(h)
        return acts

    def forward(self, theta: Tensor, X: Tensor) -> Tensor:
        """Outputs of all ``S`` networks: ``batch x n x d`` -> ``batch x S x n x d_out``."""
        h = X.unsqueeze(-3)
        params = self.unflatten(theta)
        for w, b in params[:-1]:
            h = torch.tanh(h @ w + b)
        w, b = params[-1]
        return h @ w + b

    def log_prior(self, theta: Tensor) -> Tensor:
        """Gaussian log prior density of each row of ``theta`` (up to a constant)."""
        return -0.5 * (theta / self.prior_std(theta)).pow(2).sum(-1)
