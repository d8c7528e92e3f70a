"""FLOP accounting: matmul counts vs torch's FlopCounterMode, full counts vs hand arithmetic."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bayesparse.inference.flops import (
    ADAM_FLOPS,
    KL_FLOPS,
    FlopCounter,
    LayerGeometry,
    dense_geometry,
    layer_geometry,
    predict_flops,
    train_step_flops,
    update_flops,
)
from bayesparse.inference.ssvi import ssvi
from bayesparse.models.sparse_bnn import BayesCNN, BayesMLP


@pytest.mark.parametrize("net, shape", [
    (BayesMLP(10, 3, hidden=(20, 7), random_state=0), (10,)),
    (BayesCNN((1, 8, 8), 10, channels=(4, 8), random_state=0), (1, 8, 8)),
    (BayesCNN((2, 1, 12), 3, channels=(3,), random_state=0), (2, 1, 12)),
], ids=["mlp", "cnn", "cnn-1d"])
def test_dense_matmul_flops_equal_torch_flop_counter(net, shape):
    """Exact equality: forward and backward products of one LRT step, as counted by torch."""
    x = torch.randn(5, *shape)
    with FlopCounterMode(display=False) as counter:
        net(x, "lrt", torch.Generator().manual_seed(0)).sum().backward()
    assert train_step_flops(layer_geometry(net), 5, matmul_only=True) == counter.get_total_flops()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x, "sample", torch.Generator().manual_seed(0))
    assert predict_flops(layer_geometry(net), 5, 1, matmul_only=True) == counter.get_total_flops()


def test_hand_computed_sparse_linear_layer():
    # One hidden layer 4 -> 3 with 5 active weights, batch 2, not the first layer.
    g = LayerGeometry(positions=1, in_elements=4, fan_in=4, out=3, active=5, bias=True,
                      first=False, hidden=True)
    rows, k, m, params = 2, 5, 3, 8
    matmul = 2 * (2 * rows * k) * 3            # two products; forward, weight and input grads
    elementwise = (3 * params + 4 * rows + 2 * rows * m + 3 * rows * m + KL_FLOPS * params
                   + rows * m)
    assert train_step_flops([g], 2) == matmul + 2 * elementwise + ADAM_FLOPS * 2 * params
    assert train_step_flops([g], 2) == 120 + 2 * 124 + 160
    assert predict_flops([g], 2, 3) == 3 * (2 * rows * k + 5 * params + rows * m + rows * m)
    # Update: scores, a probe pass (one step's products) and the dense 4 x 3 weight gradient.
    assert update_flops([g], 2) == 15 * 5 + matmul + 2 * rows * 12
    assert update_flops([g], 2, grad_addition=False) == 15 * 5
    assert update_flops([g], 2, matmul_only=True) == matmul + 2 * rows * 12


def test_sparse_network_flops_scale_with_density():
    dense = BayesMLP(64, 10, hidden=(256, 256), density=1.0, random_state=0)
    sparse = BayesMLP(64, 10, hidden=(256, 256), density=0.1, random_state=0)
    geo = layer_geometry(sparse)
    assert dense_geometry(geo) == layer_geometry(dense)
    ratio = train_step_flops(geo, 128, matmul_only=True) / train_step_flops(
        dense_geometry(geo), 128, matmul_only=True)
    assert ratio == pytest.approx(sparse.density, rel=0.05)


@pytest.mark.parametrize("addition", ["grad", "random"])
def test_flop_counter_callback_sums_steps_and_updates(addition):
    """The callback's totals equal the per-step formulas summed over the run's batches."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = BayesMLP(6, 2, hidden=(16,), density=0.3, random_state=0)
    geo = layer_geometry(net)
    counter = FlopCounter(net)
    log = ssvi(net, X, y, n_epochs=3, batch_size=16, update_every=2, addition=addition,
               random_state=0, callbacks=[counter])
    batches = [16, 16, 16, 2] * 3
    updates = [b for i, b in enumerate(batches) if 0 < i < int(0.75 * 12) and i % 2 == 0]
    assert log["n_updates"] == len(updates) == 4
    grad = addition == "grad"
    assert counter.flops == (sum(train_step_flops(geo, b) for b in batches)
                             + sum(update_flops(geo, b, grad_addition=grad) for b in updates))
    assert counter.flops_dense == sum(train_step_flops(dense_geometry(geo), b) for b in batches)
    assert counter.summary()["ratio"] == counter.flops / counter.flops_dense < 1
