"""Saving and loading sparse Bayesian layers and networks (issue 11 item 1).

The support of a sparse layer is part of its state: ``mu`` and ``rho`` are the values on it,
so a state dict restored into a layer with another support must bring the support along (or
raise), never put the values on the wrong weights.
"""

import io

import pytest
import torch

from bayesparse.models.bayesian_layers import SparseBayesConv2d, SparseBayesLinear
from bayesparse.models.sparse_bnn import BayesCNN, BayesMLP


def _roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_support_is_a_buffer_in_the_state_dict():
    layer = SparseBayesLinear(12, 5, density=0.3, random_state=0)
    state = layer.state_dict()
    assert torch.equal(state["support_indices"], layer.support.indices)
    assert "support_indices" in dict(layer.named_buffers())


@pytest.mark.parametrize("make", [
    lambda seed: SparseBayesLinear(30, 8, density=0.2, random_state=seed),
    lambda seed: SparseBayesConv2d(2, 4, 3, padding=1, density=0.2, random_state=seed),
])
def test_load_into_a_layer_with_another_support_gives_identical_predictions(make):
    src, dst = make(0), make(1)
    assert not torch.equal(src.support.indices, dst.support.indices)
    x = torch.randn(3, 30) if isinstance(src, SparseBayesLinear) else torch.randn(3, 2, 6, 6)
    dst.load_state_dict(_roundtrip(src.state_dict()))
    assert torch.equal(dst.support.indices, src.support.indices)
    torch.testing.assert_close(dst(x, mode="mean"), src(x, mode="mean"), rtol=0, atol=0)
    torch.testing.assert_close(dst.dense_mu(), src.dense_mu(), rtol=0, atol=0)
    # The kernel plan follows the loaded support too (both kernel paths agree).
    g = torch.Generator().manual_seed(3)
    y_src = src(x, mode="sample", generator=g)
    g = torch.Generator().manual_seed(3)
    torch.testing.assert_close(dst(x, mode="sample", generator=g), y_src, rtol=0, atol=0)


def test_support_size_mismatch_raises():
    src = SparseBayesLinear(20, 5, density=0.2, random_state=0)
    dst = SparseBayesLinear(20, 5, density=0.4, random_state=0)
    with pytest.raises(RuntimeError, match="support_indices"):
        dst.load_state_dict(src.state_dict())


def test_non_canonical_or_out_of_range_support_raises():
    layer = SparseBayesLinear(20, 5, density=0.2, random_state=0)
    state = layer.state_dict()
    bad = dict(state, support_indices=state["support_indices"].flip(1).clone())
    with pytest.raises(RuntimeError, match="canonical"):
        layer.load_state_dict(bad)
    idx = state["support_indices"].clone()
    idx[1, -1] = 99
    with pytest.raises(ValueError, match="out of range"):
        layer.load_state_dict(dict(state, support_indices=idx))


def test_old_checkpoint_without_support_is_rejected_in_strict_mode():
    layer = SparseBayesLinear(20, 5, density=0.2, random_state=0)
    state = {k: v for k, v in layer.state_dict().items() if k != "support_indices"}
    with pytest.raises(RuntimeError, match="support_indices"):
        layer.load_state_dict(state)


@pytest.mark.parametrize("net_cls", ["mlp", "cnn"])
def test_network_save_load_roundtrip(net_cls):
    def make(seed):
        if net_cls == "mlp":
            return BayesMLP(16, 3, hidden=(32, 32), density=0.1, random_state=seed)
        return BayesCNN((1, 8, 8), 3, channels=(4, 8), density=0.2, random_state=seed)

    src, dst = make(0), make(1)
    x = torch.randn(4, 16) if net_cls == "mlp" else torch.randn(4, 1, 8, 8)
    assert not torch.equal(src(x, mode="mean"), dst(x, mode="mean"))
    dst.load_state_dict(_roundtrip(src.state_dict()))
    torch.testing.assert_close(dst(x, mode="mean"), src(x, mode="mean"), rtol=0, atol=0)


def test_to_moves_and_keeps_support_in_sync():
    layer = SparseBayesLinear(10, 4, density=0.3, random_state=0)
    x = torch.randn(2, 10, dtype=torch.float64)
    y = layer(x.float(), mode="mean").double()
    layer = layer.to(torch.float64)
    # Integer buffers keep their dtype; the support still matches the buffer after _apply.
    assert layer.support_indices.dtype == torch.int64
    assert layer.support.indices is layer.support_indices
    torch.testing.assert_close(layer(x, mode="mean"), y, rtol=1e-6, atol=1e-6)


def test_set_support_updates_the_buffer():
    layer = SparseBayesLinear(10, 4, density=0.3, random_state=0)
    other = SparseBayesLinear(10, 4, density=0.3, random_state=1).support
    layer.set_support(other, torch.zeros(4, 10), torch.zeros(4, 10))
    assert torch.equal(layer.state_dict()["support_indices"], other.indices)
