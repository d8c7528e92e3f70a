"""PFN transformer: the attention mask's invariances, the NLL path and checkpoint round trips."""

from __future__ import annotations

import pytest
import torch

from bayesparse.models.pfn import PFN, load_pfn, save_pfn


def _net(max_features: int = 3) -> PFN:
    torch.manual_seed(0)
    return PFN(torch.linspace(-3, 3, 41), max_features=max_features, emb=32, n_layers=2,
               n_heads=4, hidden=32).eval()


def _data(n: int = 9, m: int = 6, d: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(2, n, d, generator=g), torch.randn(2, n, generator=g),
            torch.rand(2, m, d, generator=g))


def test_mask_lets_every_token_see_training_tokens_only():
    mask = PFN.attention_mask(3, 2)
    assert not mask[:, :3].any() and mask[:, 3:].all()


def test_query_outputs_do_not_depend_on_other_queries():
    net = _net()
    Xt, yt, Xq = _data()
    with torch.no_grad():
        full = net(Xt, yt, Xq)
        alone = torch.cat([net(Xt, yt, Xq[:, j:j + 1]) for j in range(Xq.shape[1])], 1)
        changed = Xq.clone()
        changed[:, 1:] = torch.rand_like(changed[:, 1:])
        first = net(Xt, yt, changed)[:, 0]
    torch.testing.assert_close(alone, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(first, full[:, 0], atol=1e-5, rtol=1e-5)


def test_permuting_training_points_leaves_outputs_unchanged():
    net = _net()
    Xt, yt, Xq = _data()
    perm = torch.randperm(Xt.shape[1], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = net(Xt, yt, Xq)
        b = net(Xt[:, perm], yt[:, perm], Xq)
        # The training targets do matter (the test above is not vacuous).
        c = net(Xt, yt.flip(1), Xq)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert (a - c).abs().max() > 1e-3


def test_nll_path_equals_bar_nll_and_fewer_features_are_padded():
    net = _net()
    Xt, yt, Xq = _data(d=2)
    yq = torch.randn(2, Xq.shape[1])
    with torch.no_grad():
        torch.testing.assert_close(net(Xt, yt, Xq, yq), net.bar.nll(net(Xt, yt, Xq), yq))
    with pytest.raises(ValueError, match="at most 3"):
        net(*_data(d=4))
    with pytest.raises(ValueError, match="context point"):
        net(Xt[:, :0], yt[:, :0], Xq)


def test_save_load_round_trip(tmp_path):
    net = _net()
    save_pfn(net, tmp_path / "p.pt", meta={"steps": 3})
    net2, meta = load_pfn(tmp_path / "p.pt")
    Xt, yt, Xq = _data()
    with torch.no_grad():
        torch.testing.assert_close(net2(Xt, yt, Xq), net(Xt, yt, Xq))
    assert meta == {"steps": 3}
    with pytest.raises(FileNotFoundError, match="path"):
        load_pfn(tmp_path / "missing.pt")
