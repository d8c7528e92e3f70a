"""Sparse Bayesian neural networks: an MLP and a small CNN built from mean-field layers.

A network at ``density=1`` is a dense mean-field BNN (Bayes by Backprop); below 1 every
weight layer is a sparse layer whose posterior lives on a support (SSVI, Li et al., ICLR
2024). The total number of active weights is ``round(density * n_weights)``; it is spread over
the layers uniformly or by the Erdős–Rényi-Kernel rule (Evci et al., "Rigging the Lottery",
ICML 2020), where layer ``l`` gets density proportional to ``sum(shape_l) / prod(shape_l)``
(for a convolution ``out + in + kh + kw`` over ``out * in * kh * kw``), capped at one. The
FLOP-aware variant ``"erk-flops"`` divides each layer's ERK score by its cost per weight, the
number of output positions ``L`` at which the weight is applied (1 for a linear layer,
``oh * ow`` for a convolution): the same parameter budget then buys fewer multiply-adds,
because the active weights move towards layers where each one is used at fewer positions.
The first convolution can stay dense, as in the SSVI paper; its weights count in the budget.

The networks are plain torch modules: ``net(x, mode)`` returns one stochastic forward pass,
``net.sample(x, n)`` stacks ``n`` posterior samples, ``net.kl()`` the KL term.

Examples
--------
>>> import torch
>>> from bayesparse.models.sparse_bnn import BayesMLP
>>> net = BayesMLP(8, 3, hidden=(32,), density=0.2, random_state=0)
>>> round(net.density, 2), net.sample(torch.randn(4, 8), 5).shape
(0.2, torch.Size([5, 4, 3]))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the torch convention
from torch import nn

from bayesparse.models.bayesian_layers import (
    BayesConv2d,
    BayesLinear,
    MeanFieldLayer,
    SparseBayesConv2d,
    SparseBayesLinear,
)
from bayesparse.rng import check_generator, torch_generator
from bayesparse.sparse import check_density

__all__ = ["allocate_densities", "BayesNet", "BayesMLP", "BayesCNN", "ALLOCATIONS"]

ALLOCATIONS = ("uniform", "erk", "erk-flops")


def allocate_densities(
    shapes: Sequence[tuple[int, ...]],
    density: float,
    allocation: str = "erk",
    dense: Sequence[bool] | None = None,
    positions: Sequence[int] | None = None,
) -> list[float]:
    """Per-layer densities whose active weights total ``density`` of all weights.

    Parameters
    ----------
    shapes : list of tuple
        Weight shapes: ``(out, in)`` or ``(out, in, kh, kw)``.
    density : float
        Overall fraction of active weights, in (0, 1].
    allocation : {"uniform", "erk", "erk-flops"}
        ``"uniform"``: every sparse layer at the same density; ``"erk"``: proportional to
        ``sum(shape) / prod(shape)``, capped at 1 (iteratively, as in RigL); ``"erk-flops"``:
        ERK divided by the layer's output positions (its FLOPs per weight), capped at 1.
    dense : list of bool, optional
        Layers forced dense (their weights are taken from the budget first).
    positions : list of int, optional
        Output positions per example of each layer (1 for a linear layer, ``oh * ow`` for a
        convolution); used by ``"erk-flops"`` only, default all 1 (then equal to ERK).

    Returns
    -------
    list of float

    References
    ----------
    U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen, "Rigging the Lottery: Making All
    Tickets Winners", ICML 2020 (the ERK rule, sec. 3).

    Examples
    --------
    >>> [round(d, 3) for d in allocate_densities([(100, 10), (10, 100)], 0.5, "uniform")]
    [0.5, 0.5]
    >>> [round(d, 3) for d in allocate_densities([(100, 1000), (10, 100)], 0.1, "erk")]
    [0.092, 0.918]

    Two convolutions, the first applied at 16 output positions, the second at 4: ERK gives
    the first the higher density, ``"erk-flops"`` moves weights to the cheaper second one.

    >>> shapes = [(64, 32, 5, 5), (64, 64, 5, 5)]
    >>> [round(d, 3) for d in allocate_densities(shapes, 0.1, "erk")]
    [0.13, 0.085]
    >>> [round(d, 3) for d in allocate_densities(shapes, 0.1, "erk-flops", positions=[16, 4])]
    [0.048, 0.126]
    """
    density = check_density(density)
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation: expected one of {ALLOCATIONS}, got {allocation!r}")
    sizes = np.array([int(np.prod(s)) for s in shapes], dtype=float)
    fixed = np.array(dense if dense is not None else [False] * len(shapes), dtype=bool)
    if len(fixed) != len(shapes):
        raise ValueError(f"dense: expected {len(shapes)} flags (one per layer), got {len(fixed)}")
    cost = np.ones(len(shapes)) if positions is None else np.asarray(positions, dtype=float)
    if cost.shape != (len(shapes),) or not np.all(cost >= 1):
        raise ValueError(
            f"positions: expected {len(shapes)} integers >= 1 (one per layer), got {positions}"
        )
    if density == 1.0:
        return [1.0] * len(shapes)
    budget = density * sizes.sum() - sizes[fixed].sum()
    if budget <= 0:
        raise ValueError(
            f"density: {density} is too low to keep the forced-dense layers; raise it or "
            "set first_layer_dense=False"
        )
    raw = np.ones(len(shapes)) if allocation == "uniform" else np.array(
        [sum(s) / np.prod(s) for s in shapes], dtype=float
    )
    if allocation == "erk-flops":
        raw = raw / cost
    out = np.where(fixed, 1.0, 0.0)
    free = ~fixed
    while True:
        eps = (budget - sizes[free & (out == 1.0)].sum()) / (raw * sizes)[free & (out < 1.0)].sum()
        dens = np.where(free & (out < 1.0), eps * raw, out)
        over = free & (out < 1.0) & (dens > 1.0)
        if not over.any():
            return [float(min(d, 1.0)) for d in dens]
        out[over] = 1.0


class BayesNet(nn.Module):
    """Base for mean-field BNNs: KL, sampling and density over its Bayesian layers."""

    def bayes_layers(self) -> list[MeanFieldLayer]:
        """The mean-field layers, in module order."""
        return [m for m in self.modules() if isinstance(m, MeanFieldLayer)]

    def sparse_layers(self) -> list[MeanFieldLayer]:
        """The layers whose posterior lives on a sparse support (updated by SSVI)."""
        return [m for m in self.bayes_layers() if hasattr(m, "support")]

    def kl(self) -> torch.Tensor:
        """Sum of the layers' KL divergences from the prior."""
        return sum(layer.kl() for layer in self.bayes_layers())

    @property
    def n_active(self) -> int:
        """Active (stored) weights, biases excluded."""
        return sum(layer.n_weights for layer in self.bayes_layers())

    @property
    def n_dense(self) -> int:
        """Weights of the dense network with the same architecture."""
        return sum(layer.n_dense_weights for layer in self.bayes_layers())

    @property
    def density(self) -> float:
        return self.n_active / self.n_dense

    def sample(
        self, x: torch.Tensor, n_samples: int = 10, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n_samples`` forward passes, each with one weight sample: ``n x batch x out``.

        Parameters
        ----------
        x : Tensor, shape ``batch x ...``
            Inputs.
        n_samples : int, default 10
            Weight samples.
        generator : torch.Generator, optional
            Source of the weight noise.

        Returns
        -------
        Tensor, shape ``n_samples x batch x out``
        """
        return torch.stack([self(x, "sample", generator) for _ in range(n_samples)])

    def forward(
        self, x: torch.Tensor, mode: str = "lrt", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One stochastic forward pass (implemented by subclasses).

        Parameters
        ----------
        x : torch.Tensor
            Batch of ``n`` inputs.
        mode : {"lrt", "sample", "mean"}, default="lrt"
            ``"lrt"``: local reparameterization (training); ``"sample"``: one weight sample
            shared by the batch; ``"mean"``: the posterior mean weights.
        generator : torch.Generator, optional
            Source of the Gaussian noise.

        Returns
        -------
        torch.Tensor of shape (n, n_outputs)
            Outputs (e.g. logits).
        """
        raise NotImplementedError


class BayesMLP(BayesNet):
    """Mean-field Bayesian MLP with ReLU activations, dense or sparse.

    Parameters
    ----------
    n_inputs, n_outputs : int
    hidden : tuple of int, default (256, 256)
    density : float, default 1.0
        Overall fraction of active weights; 1 gives dense :class:`BayesLinear` layers.
    allocation : {"erk", "uniform", "erk-flops"}, default "erk"
        Per-layer density rule (:func:`allocate_densities`); for an MLP every layer is
        applied at one position, so ``"erk-flops"`` equals ``"erk"``.
    prior_std : float, default 1.0
    rho_init : float, default -5.0
    sparse_threshold : float, default 0.3
        Sparse layers at or below this density run on CSR kernels.
    random_state : int or numpy Generator, optional
        Seeds the supports and the initial means.

    Examples
    --------
    >>> import torch
    >>> net = BayesMLP(4, 2, hidden=(8,), random_state=0)
    >>> net(torch.randn(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        hidden: Sequence[int] = (256, 256),
        *,
        density: float = 1.0,
        allocation: str = "erk",
        prior_std: float = 1.0,
        rho_init: float = -5.0,
        sparse_threshold: float = 0.3,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        sizes = [int(n_inputs), *(int(h) for h in hidden), int(n_outputs)]
        if min(sizes) < 1:
            raise ValueError(f"hidden: layer sizes must be positive, got {sizes}")
        shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
        dens = allocate_densities(shapes, density, allocation, [False] * len(shapes))
        rng = check_generator(random_state)
        gen = torch_generator(rng)
        layers = []
        for (out, inp), d in zip(shapes, dens):
            common = dict(prior_std=prior_std, rho_init=rho_init, generator=gen)
            if d >= 1.0:
                layers.append(BayesLinear(inp, out, **common))
            else:
                layers.append(SparseBayesLinear(
                    inp, out, density=d, sparse_threshold=sparse_threshold,
                    random_state=rng, **common,
                ))
        self.layers = nn.ModuleList(layers)
        self.input_shape: tuple[int, ...] = (int(n_inputs),)

    def forward(
        self, x: torch.Tensor, mode: str = "lrt", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One stochastic forward pass; inputs are flattened per example.

        Parameters
        ----------
        x : torch.Tensor
            Batch of ``n`` inputs, any trailing shape (flattened to ``n x n_in``).
        mode : {"lrt", "sample", "mean"}, default="lrt"
            ``"lrt"``: local reparameterization (training); ``"sample"``: one weight sample
            shared by the batch; ``"mean"``: the posterior mean weights.
        generator : torch.Generator, optional
            Source of the Gaussian noise.

        Returns
        -------
        torch.Tensor of shape (n, n_outputs)
            Outputs (e.g. logits).
        """
        x = x.reshape(x.shape[0], -1)
        for i, layer in enumerate(self.layers):
            x = layer(x, mode, generator)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class BayesCNN(BayesNet):
    """Small mean-field Bayesian CNN: [conv, ReLU, max-pool] blocks and a linear head.

    Inputs of height 1 (1-D signals such as MNIST-1D) get ``1 x k`` kernels and ``1 x 2``
    pooling; spatial axes shorter than 2 are not pooled.

    Parameters
    ----------
    input_shape : (C, H, W)
    n_outputs : int
    channels : tuple of int, default (16, 32)
    kernel_size : int, default 3
    density, allocation, prior_std, rho_init, sparse_threshold, random_state
        As in :class:`BayesMLP`.
    first_layer_dense : bool, default True
        Keep the first convolution dense (the SSVI paper's choice).

    Examples
    --------
    >>> import torch
    >>> net = BayesCNN((1, 8, 8), 10, channels=(4, 8), density=0.5, random_state=0)
    >>> net(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_outputs: int,
        channels: Sequence[int] = (16, 32),
        kernel_size: int = 3,
        *,
        density: float = 1.0,
        allocation: str = "erk",
        first_layer_dense: bool = True,
        prior_std: float = 1.0,
        rho_init: float = -5.0,
        sparse_threshold: float = 0.3,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3 or min(input_shape) < 1:
            raise ValueError(f"input_shape: expected (channels, height, width), got {input_shape}")
        c, h, w = (int(s) for s in input_shape)
        self.input_shape = (c, h, w)
        kernel = (1, kernel_size) if h == 1 else (kernel_size, kernel_size)
        pad = (kernel[0] // 2, kernel[1] // 2)
        shapes, pools, positions = [], [], []
        chans = [c, *(int(ch) for ch in channels)]
        for i in range(len(channels)):
            shapes.append((chans[i + 1], chans[i], *kernel))
            h, w = h + 2 * pad[0] - kernel[0] + 1, w + 2 * pad[1] - kernel[1] + 1
            positions.append(h * w)
            pool = (2 if h >= 2 else 1, 2 if w >= 2 else 1)
            pools.append(pool)
            h, w = h // pool[0], w // pool[1]
        shapes.append((int(n_outputs), chans[-1] * h * w))
        positions.append(1)
        dense = [first_layer_dense] + [False] * (len(shapes) - 1)
        dens = allocate_densities(shapes, density, allocation, dense, positions)
        rng = check_generator(random_state)
        gen = torch_generator(rng)
        common = dict(prior_std=prior_std, rho_init=rho_init, generator=gen)
        convs = []
        for shape, d in zip(shapes[:-1], dens[:-1]):
            out, inp = shape[:2]
            if d >= 1.0:
                convs.append(BayesConv2d(inp, out, kernel, padding=pad, **common))
            else:
                convs.append(SparseBayesConv2d(
                    inp, out, kernel, padding=pad, density=d,
                    sparse_threshold=sparse_threshold, random_state=rng, **common,
                ))
        self.convs = nn.ModuleList(convs)
        self.pools = pools
        out, inp = shapes[-1]
        if dens[-1] >= 1.0:
            self.head: MeanFieldLayer = BayesLinear(inp, out, **common)
        else:
            self.head = SparseBayesLinear(
                inp, out, density=dens[-1], sparse_threshold=sparse_threshold,
                random_state=rng, **common,
            )

    def forward(
        self, x: torch.Tensor, mode: str = "lrt", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One stochastic forward pass: conv + ReLU (+ max-pool) blocks, then the linear head.

        Parameters
        ----------
        x : torch.Tensor
            Batch of ``n`` inputs, reshaped to ``(n, *input_shape)``.
        mode : {"lrt", "sample", "mean"}, default="lrt"
            ``"lrt"``: local reparameterization (training); ``"sample"``: one weight sample
            shared by the batch; ``"mean"``: the posterior mean weights.
        generator : torch.Generator, optional
            Source of the Gaussian noise.

        Returns
        -------
        torch.Tensor of shape (n, n_outputs)
            Outputs (e.g. logits).
        """
        x = x.reshape(x.shape[0], *self.input_shape)
        for conv, pool in zip(self.convs, self.pools):
            x = F.relu(conv(x, mode, generator))
            if pool != (1, 1):
                x = F.max_pool2d(x, pool)
        return self.head(x.flatten(1), mode, generator)
