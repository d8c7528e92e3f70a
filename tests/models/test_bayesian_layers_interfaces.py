"""What sparse layers offer a support-updating solver: the dense mean-weight gradient through a
hook, and ``set_support`` carrying any optimizer's per-weight state (issue 12)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from bayesparse.inference.ssvi import ssvi
from bayesparse.models.bayesian_layers import SparseBayesConv2d, SparseBayesLinear
from bayesparse.models.sparse_bnn import BayesCNN
from bayesparse.sparse import random_pattern


def _dense_reference(layer, x):
    """The layer's posterior-mean output with the densified mean weight as an autograd leaf."""
    w = layer.dense_mu().clone().requires_grad_(True)
    if isinstance(layer, SparseBayesConv2d):
        out = F.conv2d(x, w.reshape(layer.out_features, layer.in_channels, *layer.kernel_size),
                       stride=layer.stride, padding=layer.padding)
        return out + layer.bias_mu.detach().reshape(1, -1, 1, 1), w
    return F.linear(x, w, layer.bias_mu.detach()), w


@pytest.mark.parametrize("make, shape", [
    (lambda: SparseBayesLinear(12, 5, density=0.3, random_state=0), (7, 12)),
    (lambda: SparseBayesConv2d(3, 4, (3, 2), stride=2, padding=1, density=0.3,
                               random_state=0), (2, 3, 7, 6)),
], ids=["linear", "conv"])
def test_dense_grad_probe_equals_autograd_through_the_dense_weight(make, shape):
    layer = make()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    c = torch.randn(layer(x, "mean").shape, generator=torch.Generator().manual_seed(2))
    out, w = _dense_reference(layer, x)
    (ref,) = torch.autograd.grad((torch.tanh(out) * c).sum(), w)
    with layer.dense_grad_probe() as probe:
        torch.autograd.grad((torch.tanh(layer(x, "mean")) * c).sum(), layer.mu)
    torch.testing.assert_close(probe.grad, ref, rtol=1e-5, atol=1e-6)
    # Inactive entries carry gradient too (that is what addition ranks).
    inactive = layer.plan.densify(torch.ones_like(layer.mu.detach())) == 0
    assert probe.grad[inactive].abs().sum() > 0
    # The hook is gone after the block: later passes leave the probe alone.
    assert not layer._forward_hooks
    before = probe.grad.clone()
    torch.autograd.grad(layer(x, "mean").sum(), layer.mu)
    assert torch.equal(probe.grad, before)


def _state_dense(layer, opt):
    return {(id(p), k): layer.plan.densify(v.clone()) for p in (layer.mu, layer.rho)
            for k, v in opt.state[p].items() if torch.is_tensor(v) and v.shape == p.shape}


@pytest.mark.parametrize("make_opt", [
    lambda ps: torch.optim.Adam(ps, lr=1e-2),
    lambda ps: torch.optim.AdamW(ps, lr=1e-2, amsgrad=True),
    lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9),
], ids=["adam", "adamw-amsgrad", "sgd-momentum"])
def test_set_support_carries_any_optimizer_state(make_opt):
    layer = SparseBayesLinear(10, 6, density=0.4, random_state=0)
    opt = make_opt(layer.parameters())
    x = torch.randn(8, 10, generator=torch.Generator().manual_seed(0))
    for _ in range(2):
        opt.zero_grad()
        (layer(x, "lrt", torch.Generator().manual_seed(0)) ** 2).sum().backward()
        opt.step()
    before = _state_dense(layer, opt)
    assert before, "the optimizer has per-weight state"
    scalars = {k: v.clone() for k, v in opt.state[layer.mu].items()
               if torch.is_tensor(v) and v.shape != layer.mu.shape}
    new = random_pattern((6, 10), 0.4, random_state=1)
    old_mask = layer.plan.densify(torch.ones(layer.support.nnz)) > 0
    src = layer.set_support(new, layer.dense_mu(), torch.zeros(6, 10), opt)
    kept = new.to_dense() * old_mask > 0
    added = (new.to_dense() > 0) & ~old_mask
    assert int(kept.sum()) == int((src >= 0).sum()) and int(added.sum()) == int((src < 0).sum())
    for key, dense in _state_dense(layer, opt).items():
        torch.testing.assert_close(dense[kept], before[key][kept], rtol=0, atol=0)
        assert torch.all(dense[added] == 0)
    for k, v in scalars.items():
        assert torch.equal(opt.state[layer.mu][k], v)
    opt.step()  # the remapped state has the parameters' shapes
    assert all(torch.isfinite(p).all() for p in layer.parameters())


def test_ssvi_leaves_no_hooks_and_keeps_buffer_and_support_in_sync():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 4, 4)).astype(np.float32)
    y = (X.reshape(40, -1)[:, 0] > 0).astype(np.int64)
    net = BayesCNN((1, 4, 4), 2, channels=(4,), density=0.4, first_layer_dense=False,
                   random_state=0)
    layers = net.sparse_layers()
    start = [layer.support.indices.clone() for layer in layers]
    log = ssvi(net, X, y, n_epochs=2, batch_size=8, update_every=2, random_state=0)
    assert log["n_updates"] > 0
    assert all(not layer._forward_hooks for layer in layers)
    assert any(not torch.equal(s, layer.support.indices) for s, layer in zip(start, layers))
    for layer in layers:
        assert torch.equal(layer.support_indices, layer.support.indices)
