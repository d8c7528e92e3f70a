"""Sparse BNN networks: density allocation (exact budget, ERK formula) and forward modes."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.models.sparse_bnn import BayesCNN, BayesMLP, allocate_densities


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(2, 300), min_size=3, max_size=5),
    density=st.floats(0.02, 1.0),
    allocation=st.sampled_from(["uniform", "erk", "erk-flops"]),
    data=st.data(),
)
def test_allocation_spends_exactly_the_budget(sizes, density, allocation, data):
    shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    positions = data.draw(st.lists(st.integers(1, 64), min_size=len(shapes),
                                   max_size=len(shapes)))
    dens = allocate_densities(shapes, density, allocation, positions=positions)
    n = np.array([a * b for a, b in shapes])
    assert all(0 < d <= 1 for d in dens)
    assert float(np.dot(dens, n)) == pytest.approx(density * n.sum(), rel=1e-9)


def test_erk_is_proportional_to_sum_over_product():
    shapes = [(30, 20), (50, 30, 3, 3)]
    dens = allocate_densities(shapes, 0.1, "erk")
    raw = [50 / 600, 86 / 13500]
    assert dens[0] / dens[1] == pytest.approx(raw[0] / raw[1], rel=1e-12)


def test_erk_caps_layers_at_one_and_respects_dense_layers():
    dens = allocate_densities([(3, 3), (1000, 1000)], 0.3, "erk")
    assert dens[0] == 1.0
    dens = allocate_densities([(10, 10), (100, 100)], 0.2, "uniform", dense=[True, False])
    assert dens[0] == 1.0 and dens[1] * 10_000 + 100 == pytest.approx(0.2 * 10_100)


def test_erk_flops_divides_erk_by_positions_and_caps_at_one():
    shapes = [(30, 20), (50, 30, 3, 3), (10, 400)]
    dens = allocate_densities(shapes, 0.1, "erk-flops", positions=[1, 16, 1])
    raw = [50 / 600, 86 / 13500 / 16]
    assert dens[0] / dens[1] == pytest.approx(raw[0] / raw[1], rel=1e-12)
    # all positions 1: the same as ERK
    assert allocate_densities(shapes, 0.1, "erk-flops") == allocate_densities(shapes, 0.1, "erk")
    # a layer used at a single position among expensive ones fills up first
    dens = allocate_densities([(64, 64, 3, 3), (10, 256)], 0.3, "erk-flops", positions=[64, 1])
    assert dens[1] == 1.0
    assert dens[0] * 64 * 64 * 9 + 2560 == pytest.approx(0.3 * (64 * 64 * 9 + 2560))


def test_erk_flops_lowers_cnn_training_flops_at_the_same_density():
    from bayesparse.inference.flops import layer_geometry, train_step_flops

    flops = {}
    for allocation in ("erk", "erk-flops"):
        net = BayesCNN((1, 8, 8), 10, (16, 32, 32), 5, density=0.1, allocation=allocation,
                       random_state=0)
        assert net.density == pytest.approx(0.1, abs=1e-3)
        flops[allocation] = train_step_flops(layer_geometry(net), batch=32)
    assert flops["erk-flops"] < 0.9 * flops["erk"]


@pytest.mark.parametrize("density", [0.05, 0.1, 0.5, 1.0])
def test_networks_hit_the_target_density(density):
    mlp = BayesMLP(64, 10, (128, 64), density=density, random_state=0)
    cnn = BayesCNN((1, 8, 8), 10, (8, 16), density=density, random_state=0)
    for net in (mlp, cnn):
        assert net.density == pytest.approx(density, abs=2e-3)


def test_cnn_on_1d_signals_and_sampling_shapes():
    net = BayesCNN((1, 1, 40), 10, (4, 8), density=0.3, random_state=0)
    x = torch.randn(3, 40)
    assert net(x).shape == (3, 10)
    assert net.sample(x, 4, torch.Generator().manual_seed(0)).shape == (4, 3, 10)
    assert net.convs[0].kernel_size == (1, 3)


def test_bad_input():
    with pytest.raises(ValueError, match="density"):
        BayesMLP(4, 2, density=0.0)
    with pytest.raises(ValueError, match="density"):
        allocate_densities([(2, 2)], 1.5)
    with pytest.raises(ValueError, match="allocation"):
        allocate_densities([(2, 2)], 0.5, "magnitude")
    with pytest.raises(ValueError, match="positions"):
        allocate_densities([(2, 2), (2, 2)], 0.5, "erk-flops", positions=[4])
    with pytest.raises(ValueError, match="positions"):
        allocate_densities([(2, 2)], 0.5, "erk-flops", positions=[0])
    with pytest.raises(ValueError, match="dense"):
        allocate_densities([(2, 2), (2, 2)], 0.5, dense=[True])
    with pytest.raises(ValueError, match="too low"):
        BayesCNN((1, 8, 8), 2, (64,), density=0.01)
    with pytest.raises(ValueError, match="input_shape"):
        BayesCNN((8, 8), 2)
