"""Exact FLOP accounting for mean-field BNN training and prediction, dense or sparse.

The cost model is stated here and counted exactly from the layers' geometry. One FLOP is one
scalar add, multiply, division, square root, exponential or logarithm; random-number
generation and index bookkeeping are free. A multiply-add is two FLOPs. For a Bayesian layer
with ``R = batch * L`` rows (``L`` output positions: 1 for a linear layer, ``oh * ow`` for a
convolution), ``E`` input elements per example, ``m`` outputs and ``k`` active weights (``k
= fan_in * m`` when dense):

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

A support update of SSVI (every ``update_every`` steps) adds ``SCORE_FLOPS = 15`` per active
weight for the removal score and, with gradient addition, a probe pass on the minibatch: its
products are counted as those of one training step (an upper bound: autograd skips the weight
gradients it is not asked for) plus the dense mean-weight gradient ``2 R n m`` of each sparse
layer (``n m = fan_in * out``).

:class:`FlopCounter` is the callback that accumulates these counts during
:func:`~bayesparse.inference.ssvi.ssvi`, for the run and for dense VI on the same steps.

Examples
--------
>>> import numpy as np
>>> from bayesparse.models.sparse_bnn import BayesMLP
>>> from bayesparse.inference import ssvi
>>> from bayesparse.inference.flops import FlopCounter
>>> X = np.random.default_rng(0).normal(size=(64, 10)).astype("float32")
>>> net = BayesMLP(10, 2, hidden=(20,), density=0.2, random_state=0)
>>> counter = FlopCounter(net)
>>> _ = ssvi(net, X, (X[:, 0] > 0).astype(int), n_epochs=2, callbacks=[counter])
>>> 0 < counter.flops < counter.flops_dense
True

References
----------
.. [1] U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen, "Rigging the Lottery: Making All
   Tickets Winners", ICML 2020 (FLOP convention of sparse training, appendix H).
.. [2] J. Li, Z. Miao, Q. Qiu, R. Zhang, "Training Bayesian Neural Networks with Sparse
   Subspace Variational Inference", ICLR 2024, arXiv:2402.11025.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from bayesparse.inference.ssvi import SSVIEvent

__all__ = [
    "FlopCounter",
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

    Parameters
    ----------
    net : torch.nn.Module
        A network with an ``input_shape`` attribute (per-example shape), ``bayes_layers()``
        and a forward taking a ``mode`` (e.g. :class:`~bayesparse.models.sparse_bnn.BayesMLP`);
        each layer exposes ``fan_in``, ``out_features``, ``n_weights`` and ``bias_mu``.

    Returns
    -------
    list of LayerGeometry
        In call order.
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
    """The same layers with every weight active (the dense VI reference).

    Parameters
    ----------
    geo : list of LayerGeometry

    Returns
    -------
    list of LayerGeometry
    """
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
    """FLOPs of one training step (forward, backward, KL, Adam) on ``batch`` examples.

    Parameters
    ----------
    geo : list of LayerGeometry
        From :func:`layer_geometry`.
    batch : int
        Examples in the minibatch.
    matmul_only : bool, default False
        Count only the weight products (the RigL/SSVI convention).

    Returns
    -------
    int
    """
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
    """FLOPs of ``n_samples`` weight-sampled forward passes on ``batch`` examples.

    Parameters
    ----------
    geo : list of LayerGeometry
        From :func:`layer_geometry`.
    batch : int
        Examples.
    n_samples : int
        Posterior weight samples.
    matmul_only : bool, default False
        Count only the weight products.

    Returns
    -------
    int
    """
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

    Parameters
    ----------
    geo : list of LayerGeometry
        From :func:`layer_geometry`; sparse layers (``active < fan_in * out``) are updated.
    batch : int
        Examples in the minibatch of the update.
    grad_addition : bool, default True
        Gradient addition: a probe pass (one training step's products) and the dense
        mean-weight gradient of each sparse layer. Random addition costs only the scores.
    matmul_only : bool, default False
        Count only the products (not the removal scores).

    Returns
    -------
    int
    """
    sparse = [g for g in geo if g.active < g.fan_in * g.out]
    if not sparse:
        return 0
    total = 0 if matmul_only else sum(SCORE_FLOPS * g.active for g in sparse)
    if grad_addition:
        total += sum(_matmul_train(g, batch) for g in geo)
        total += sum(2 * batch * g.positions * g.fan_in * g.out for g in sparse)
    return total


class FlopCounter:
    """SSVI callback: training FLOPs of the run, and of dense VI for the same steps.

    Pass it in ``ssvi(..., callbacks=[counter])``; the counts accumulate over the run.

    Parameters
    ----------
    net : torch.nn.Module
        The network being trained (see :func:`layer_geometry`); its geometry is traced once.

    Attributes
    ----------
    flops, flops_matmul : int
        This run's training FLOPs (all, weight products only), support updates included.
    flops_dense, flops_dense_matmul : int
        The same steps with every weight active (dense VI, no support updates).
    """

    def __init__(self, net: torch.nn.Module) -> None:
        self.geometry = layer_geometry(net)
        self.dense_geometry = dense_geometry(self.geometry)
        self.flops = self.flops_matmul = 0
        self.flops_dense = self.flops_dense_matmul = 0

    def __call__(self, event: SSVIEvent) -> None:
        """Add the cost of one :class:`~bayesparse.inference.ssvi.SSVIEvent`."""
        b = event.batch_size
        if event.kind == "update":
            grad = event.addition == "grad"
            self.flops += update_flops(self.geometry, b, grad_addition=grad)
            self.flops_matmul += update_flops(self.geometry, b, grad_addition=grad,
                                              matmul_only=True)
            return
        self.flops += train_step_flops(self.geometry, b)
        self.flops_matmul += train_step_flops(self.geometry, b, matmul_only=True)
        self.flops_dense += train_step_flops(self.dense_geometry, b)
        self.flops_dense_matmul += train_step_flops(self.dense_geometry, b, matmul_only=True)

    def summary(self) -> dict[str, Any]:
        """The four counts and the ratios ``ratio`` and ``matmul_ratio`` to dense VI."""
        return {
            "flops": self.flops, "flops_matmul": self.flops_matmul,
            "flops_dense": self.flops_dense, "flops_dense_matmul": self.flops_dense_matmul,
            "ratio": self.flops / self.flops_dense if self.flops_dense else float("nan"),
            "matmul_ratio": self.flops_matmul / self.flops_dense_matmul
            if self.flops_dense_matmul else float("nan"),
        }
