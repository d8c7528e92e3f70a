"""SparseyMemory: single-trial storage and recall, similarity preservation, determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from bayesparse.models import SparseyMemory
from bayesparse.sparse import SparseTensor, overlap
from bayesparse.sparse.codes import add_noise


def _random_codes(n, a, count, seed):
    rng = np.random.default_rng(seed)
    rows = [np.sort(rng.choice(n, a, replace=False)) for _ in range(count)]
    return SparseTensor.from_rows(rows, n)


def _dense(codes):
    return codes.to_dense().numpy().astype(np.int8)


def test_store_then_recall_under_ten_percent_noise():
    codes = _random_codes(1000, 20, 400, seed=0)
    mem = SparseyMemory(1000, n_cms=32, cells_per_cm=64, random_state=0)
    mem.store_batch(_dense(codes))
    assert mem.n_stored_ == 400
    np.testing.assert_array_equal(mem.recall_batch(_dense(codes)), np.arange(400))
    noisy = _dense(add_noise(codes, 2, random_state=1))
    assert (mem.recall_batch(noisy) == np.arange(400)).mean() >= 0.95
    # Saturation: code reuse only lowers it below the independent-weights estimate.
    expected = float(mem.expected_saturation(400, 20 / 1000))
    assert 0.8 * expected <= mem.saturation_ <= expected * 1.02
    assert mem.capacity_estimate(20 / 1000, 0.5) == int(np.log(0.5) / np.log1p(-20 / 1000 / 64))


def test_recall_of_familiar_inputs_is_deterministic():
    X = _dense(_random_codes(300, 15, 60, seed=2))
    mem = SparseyMemory(300, n_cms=16, cells_per_cm=32, random_state=3).store_batch(X)
    first = mem.recall_batch(X)
    np.testing.assert_array_equal(first, mem.recall_batch(X))
    np.testing.assert_array_equal(first, np.arange(60))
    assert [mem.recall(x) for x in X[:5]] == list(range(5))
    assert mem.familiarity(X[0]) == 1.0
    # The learning-mode code of a stored input reinstates its stored code.
    stored = mem.codes_[[7]]
    assert overlap(mem.encode(X[7]), stored)[0, 0] >= 15


def test_code_overlap_grows_with_input_overlap():
    rng = np.random.default_rng(4)
    n, a = 1000, 40
    base = np.sort(rng.choice(n, a, replace=False))
    others = np.setdiff1d(np.arange(n), base)
    mem = SparseyMemory(n, n_cms=32, cells_per_cm=16, random_state=5)
    x0 = np.zeros(n, dtype=np.int8)
    x0[base] = 1
    mem.store(x0)
    stored = mem.codes_
    shared, code_overlap = [], []
    for k in range(0, a + 1, 4):
        for _ in range(3):
            x = np.zeros(n, dtype=np.int8)
            x[rng.choice(base, k, replace=False)] = 1
            x[rng.choice(others, a - k, replace=False)] = 1
            shared.append(k)
            code_overlap.append(overlap(mem.encode(x), stored)[0, 0])
    rho = spearmanr(shared, code_overlap).statistic
    assert rho > 0.8, (rho, code_overlap)


def test_macrocolumns_side_by_side():
    codes = _random_codes(400, 20, 150, seed=6)
    mem = SparseyMemory(400, n_cms=8, cells_per_cm=32, n_macrocolumns=3,
                        inputs_per_macrocolumn=300, random_state=7)
    mem.store_batch(codes)
    assert mem.codes_.shape == (150, 3 * 8 * 32)
    assert mem.codes_.sum(dim=1).tolist() == [24] * 150
    np.testing.assert_array_equal(mem.recall_batch(codes), np.arange(150))


def test_explicit_receptive_fields():
    X = _dense(_random_codes(300, 20, 80, seed=8))
    fields = [np.arange(0, 150), np.arange(100, 250), np.arange(200, 300)]
    mem = SparseyMemory(300, n_cms=8, cells_per_cm=32, receptive_fields=fields,
                        g_minus=0.8, random_state=9)
    mem.store_batch(X)
    assert mem.n_macrocolumns == 3
    # Each macrocolumn holds weights only from its own inputs.
    for i, f in enumerate(fields):
        assert (mem._row[i] >= 0).sum() == f.size
        assert (mem._row[i, f] >= 0).all()
    reachable = np.array([f.size for f in fields]) * 8 * 32
    set_ = np.array([mem._w[mem._row[i, f]].sum() for i, f in enumerate(fields)])
    assert mem.saturation_ == pytest.approx(np.mean(set_ / reachable))
    np.testing.assert_array_equal(mem.recall_batch(X), np.arange(80))


@pytest.mark.parametrize("broken", [[0, 5, 10, 15, 20, 25], [0, 5, 10, 15, 18, 20, 25, 30]])
def test_recall_finds_items_by_any_band_of_cms(broken):
    # The recognized code of item 5 is made wrong in CMs spread over 6 of the 8 bands (found
    # through the intact bands) or over all 8 (found by the scan over stored codes).
    X = _dense(_random_codes(1000, 20, 50, seed=10))
    mem = SparseyMemory(1000, n_cms=32, cells_per_cm=64, random_state=11).store_batch(X)
    U = mem._normalized_input(np.flatnonzero(X[5]))
    stored = mem._codes[5, 0]
    for cm in broken:
        U[0, cm, (stored[cm] + 1) % 64] = 1.0
        U[0, cm, stored[cm]] = 0.9
    assert (U.argmax(axis=2)[0] != stored).sum() == len(broken)
    assert mem._best(U) == 5


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 30), st.integers(1, 40))
def test_each_stored_item_is_recalled(seed, a, count):
    codes = _random_codes(200, a, count, seed)
    mem = SparseyMemory(200, n_cms=16, cells_per_cm=32, random_state=seed)
    idx = [mem.store(x) for x in _dense(codes)]
    assert idx == list(range(count))
    got = mem.recall_batch(codes)
    # Identical inputs (possible for tiny a) share one code: recall returns the first.
    X = _dense(codes)
    first = [int(np.flatnonzero((X == X[i]).all(axis=1))[0]) for i in range(count)]
    np.testing.assert_array_equal(got, first)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda m: m.store(np.full(10, 0.5)), "x: inputs must be binary"),
        (lambda m: m.store(np.ones(9)), "x: expected binary vectors of length"),
        (lambda m: m.store(np.zeros(10)), "x: every input needs"),
        (lambda m: m.recall(np.ones(10)), "x: nothing is stored"),
        (lambda m: m.expected_saturation(5, 0.0), "density:"),
        (lambda m: SparseyMemory(10, n_cms=0), "n_cms:"),
        (lambda m: SparseyMemory(10, inputs_per_macrocolumn=11), "inputs_per_macrocolumn:"),
        (lambda m: SparseyMemory(10, receptive_fields=[[0, 10]]), "receptive_fields:"),
        (lambda m: SparseyMemory(10, receptive_fields=[[0]], n_macrocolumns=2),
         "receptive_fields:"),
    ],
)
def test_bad_input_is_named(call, name):
    with pytest.raises(ValueError, match=name):
        call(SparseyMemory(10, n_cms=4, cells_per_cm=4, random_state=0))
