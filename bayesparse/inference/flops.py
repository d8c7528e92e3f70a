"""Exact FLOP accounting for mean-field BNN training and prediction, dense or sparse.

The reference SSVI code has no FLOP counter; this one states its cost model and counts it
exactly from the layers' geometry. One FLOP is one scalar add, multiply, division, square
root, exponential or logarithm; random-number generation and index bookkeeping are free. A
multiply-add is two FLOPs. For a Bayesian layer with ``R = batch * L`` rows (``L`` output
positions: 1 for a linear layer, ``oh * ow`` for a convolution), ``E`` input elements per
example, ``m`` outputs and ``k`` active weights (``k = fan_in * m`` when dense):

One training step with the local reparameterization trick (forward, then backward):

=====================  =================================================================
mean product           ``2 R k`` forward; ``2 R k`` weight gradient; ``2 R k`` input
                       gradient (not for the first layer, whose input needs none)
variance product       the same for ``x^2 @ (sigma^2).T``
sigma, sigma^2         ``3`` per weight and bias (softplus = exp + log1p, then square),
                       forward and again backward
x^2                    ``E * batch`` forward and backward
bias mean/variance     ``2 R m`` forward and backward
sampling               ``sqrt``, ``* eps``, ``+ mean``: ``3 R m`` forward and backward
KL                     ``KL_FLOPS = 7`` per weight and bias, forward and backward
ReLU (hidden layers)   ``R m`` forward and backward
Adam                   ``ADAM_FLOPS = 10`` per parameter (mu and rho of weights and biases)
=====================  =================================================================

Prediction with ``S`` weight samples costs, per sample and layer, ``5`` per weight and bias
(sigma, ``mu + sigma * eps``), ``2 R k`` for the product, ``R m`` for the bias and ``R m``
for the ReLU. The "matmul" counts keep only the weight products, the convention of RigL
and the SSVI paper (forward ``2 R k``, training ``3x`` that per product).

A support update of SSVI (every ``update_every`` steps) adds a probe step whose mean
product is dense (``2 R n m`` forward and ``2 R n m`` weight gradient, for the addition
score) and ``SCORE_FLOPS = 15`` per active weight for the removal score.

Examples
--------
>>> import torch
>>> from bayesparse.models.sparse_bnn import BayesMLP
>>> from bayesparse.inference.flops import layer_geometry, train_step_flops
>>> net = BayesMLP(10, 2, hidden=(20,), random_state=0)
>>> geo = layer_geometry(net)
>>> train_step_flops(geo, batch=32) > 0
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

__all__ = [
    "LayerGeometry",
    "layer_geometry",
    "train_step_flops",
    "predict_flops",
    "update_flops",
    "dense_geometry",
    "KL_FLOPS",
    "ADAM_FLOPS",
    "SCORE_FLOPS",
]

KL_FLOPS = 7
ADAM_FLOPS = 10
SCORE_FLOPS = 15


@dataclass(frozen=True)
class LayerGeometry:
    """What a Bayesian layer costs depends on: sizes per example and active weights.

    Attributes
    ----------
    positions : int
        Output positions per example ``L`` (1 for a linear layer).
    in_elements : int
        Input elements per example ``E``.
    fan_in, out : int
        Weight matrix ``out x fan_in``.
    active : int
        Active weights ``k``.
    bias : bool
    first : bool
        First layer (no input gradient).
    hidden : bool
        Followed by a ReLU.
    """

    positions: int
    in_elements: int
    fan_in: int
    out: int
    active: int
    bias: bool
    first: bool
    hidden: bool


def layer_geometry(net: torch.nn.Module) -> list[LayerGeometry]:
    """The geometry of every Bayesian layer of ``net``, traced on one example.

    ``net`` needs an ``input_shape`` attribute (per-example shape), ``bayes_layers()`` and a
    forward taking a ``mode`` (a :class:`~bayesparse.models.sparse_bnn.BayesNet`); layers are
    returned in call order.
    """
    layers = net.bayes_layers()
    seen: list[tuple[torch.nn.Module, torch.Size, torch.Size]] = []

    def hook(mod: torch.nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        seen.append((mod, inp[0].shape, out.shape))

    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.no_grad():
            net(torch.zeros(1, *net.input_shape), "mean")
    finally:
        for h in handles:
            h.remove()
    geo = []
    for i, (mod, ishape, oshape) in enumerate(seen):
        positions = int(torch.Size(oshape[2:]).numel())
        geo.append(LayerGeometry(
            positions=positions, in_elements=int(torch.Size(ishape[1:]).numel()),
            fan_in=mod.fan_in, out=mod.out_features, active=mod.n_weights,
            bias=mod.bias_mu is not None, first=i == 0, hidden=i < len(seen) - 1,
        ))
    return geo


def dense_geometry(geo: list[LayerGeometry]) -> list[LayerGeometry]:
    """The same layers with every weight active (the dense VI reference)."""
    return [replace(g, active=g.fan_in * g.out) for g in geo]


def _n_bias(g: LayerGeometry) -> int:
    return g.out if g.bias else 0


def _matmul_train(g: LayerGeometry, batch: int) -> int:
    rows, k = batch * g.positions, g.active
    per_product = 2 * rows * k * (3 if not g.first else 2)
    return 2 * per_product


def train_step_flops(
    geo: list[LayerGeometry], batch: int, *, matmul_only: bool = False
) -> int:
    """FLOPs of one training step (forward, backward, KL, Adam) on ``batch`` examples."""
    total = 0
    for g in geo:
        total += _matmul_train(g, batch)
        if matmul_only:
            continue
        rows, nb = batch * g.positions, _n_bias(g)
        params = g.active + nb
        elementwise = (
            3 * params
            + g.in_elements * batch
            + (2 * rows * g.out if g.bias else 0)
            + 3 * rows * g.out
            + KL_FLOPS * params
            + (rows * g.out if g.hidden else 0)
        )
        total += 2 * elementwise + ADAM_FLOPS * 2 * params
    return total


def predict_flops(
    geo: list[LayerGeometry], batch: int, n_samples: int, *, matmul_only: bool = False
) -> int:
    """FLOPs of ``n_samples`` weight-sampled forward passes on ``batch`` examples."""
    total = 0
    for g in geo:
        rows = batch * g.positions
        total += 2 * rows * g.active
        if not matmul_only:
            total += 5 * (g.active + _n_bias(g)) + (rows * g.out if g.bias else 0)
            total += rows * g.out if g.hidden else 0
    return n_samples * total


def update_flops(
    geo: list[LayerGeometry], batch: int, *, grad_addition: bool = True, matmul_only: bool = False
) -> int:
    """Extra FLOPs of one SSVI support update over a plain training step.

    Sparse layers only (``active < fan_in * out``) are scored; with gradient addition their
    probe step multiplies the dense mean weight forward and for its gradient (the only
    products, so the only part kept by ``matmul_only``).
    """
    total = 0
    for g in geo:
        dense = g.fan_in * g.out
        if g.active >= dense:
            continue
        if not matmul_only:
            total += SCORE_FLOPS * g.active
        if grad_addition:
            rows = batch * g.positions
            total += 2 * 2 * rows * dense
    return total
