"""FunctionalModel's batched-matmul path for sequential MLPs equals the generic torch.func path."""

import pytest
import torch
from torch import nn

from bayesparse.inference.functional import FunctionalModel, fan_in_prior

ACTIVATIONS = [nn.Tanh, nn.ReLU, nn.SiLU, nn.GELU, lambda: nn.GELU("tanh"), nn.Sigmoid,
               nn.Identity]


def _pair(net: nn.Module, prior: dict) -> tuple[FunctionalModel, FunctionalModel]:
    fast = FunctionalModel(net, prior)
    generic = FunctionalModel(net, prior)
    generic._plan = None
    return fast, generic


def _net(act, d=3, k=2) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 5), act(), nn.Linear(5, 4), act(),
                         nn.Linear(4, k)).double()


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_outputs_and_gradients_match_generic_path(act):
    net = _net(act)
    fast, generic = _pair(net, fan_in_prior(net, 1.0))
    assert fast._plan is not None
    gen = torch.Generator().manual_seed(1)
    theta = fast.sample_prior(4, gen).requires_grad_()
    X = torch.randn(2, 6, 3, dtype=torch.float64, generator=gen).requires_grad_()
    for th in (theta, theta[0], theta[:1]):
        out_f, out_g = fast(th, X), generic(th, X)
        assert out_f.shape == out_g.shape
        torch.testing.assert_close(out_f, out_g, rtol=0, atol=1e-12)
        w = torch.randn(out_f.shape, dtype=torch.float64, generator=gen)
        grads_f = torch.autograd.grad((w * out_f).sum(), (theta, X))
        grads_g = torch.autograd.grad((w * out_g).sum(), (theta, X))
        for a, b in zip(grads_f, grads_g):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_jacobian_matches_generic_path_with_input_gradients(act):
    net = _net(act, k=1)
    fast, generic = _pair(net, fan_in_prior(net, 1.0))
    gen = torch.Generator().manual_seed(2)
    theta = fast.sample_prior(1, gen)[0].requires_grad_()
    X = torch.randn(3, 4, 3, dtype=torch.float64, generator=gen).requires_grad_()
    (f_f, J_f), (f_g, J_g) = fast.jacobian(theta, X), generic.jacobian(theta, X)
    torch.testing.assert_close(f_f, f_g, rtol=0, atol=1e-12)
    torch.testing.assert_close(J_f, J_g, rtol=0, atol=1e-12)
    w = torch.randn(J_f.shape, dtype=torch.float64, generator=gen)
    for a, b in zip(torch.autograd.grad((w * J_f).sum() + f_f.sum(), (theta, X)),
                    torch.autograd.grad((w * J_g).sum() + f_g.sum(), (theta, X))):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("names", [["4.bias", "4.weight"], ["2.bias", "4.weight"],
                                   ["0.weight"], ["2.weight", "2.bias", "0.bias"]])
def test_subsets_of_random_parameters_keep_the_rest_fixed(names):
    net = _net(nn.Tanh, k=1)
    fast, generic = _pair(net, {name: 0.7 for name in names})
    gen = torch.Generator().manual_seed(3)
    theta = fast.sample_prior(3, gen)
    X = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(fast(theta, X), generic(theta, X), rtol=0, atol=1e-12)
    torch.testing.assert_close(fast.jacobian(theta[0], X), generic.jacobian(theta[0], X),
                               rtol=0, atol=1e-12)


def test_other_modules_take_the_generic_path():
    class Net(nn.Sequential):
        pass

    for net in (nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.Linear(3, 1)),
                Net(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)),
                nn.Linear(2, 1)):
        assert FunctionalModel(net.double(), fan_in_prior(net, 1.0))._plan is None


def test_hooks_added_later_are_honoured():
    net = _net(nn.Tanh, k=1)
    fm = FunctionalModel(net, fan_in_prior(net, 1.0))
    theta = fm.get_theta()
    X = torch.randn(4, 3, dtype=torch.float64)
    plain = net(X).detach()
    for hooked in (net[4], net):
        handle = hooked.register_forward_hook(lambda m, args, out: out + 1)
        try:
            torch.testing.assert_close(fm(theta, X), plain + 1, rtol=0, atol=1e-12)
        finally:
            handle.remove()
    torch.testing.assert_close(fm(theta, X), plain, rtol=0, atol=1e-12)
