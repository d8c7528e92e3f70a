"""SDR closed forms vs exact enumeration, exact integer sums, PAPERS.md values and Monte Carlo."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.theory import (
    false_match_probability,
    log_n_codes_with_overlap,
    noise_miss_probability,
    simulate_false_match,
    simulate_union_false_match,
    union_false_match_probability,
    union_size_distribution,
)


def _exact_tail(n, a, s, theta):
    num = sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, s + 1))
    return Fraction(num, math.comb(n, a))


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_false_match_and_overlap_counts_by_enumeration(data):
    n = data.draw(st.integers(2, 9))
    a = data.draw(st.integers(0, n))
    s = data.draw(st.integers(0, n))
    theta = data.draw(st.integers(0, s))
    segment = set(range(s))
    codes = list(itertools.combinations(range(n), a))
    counts = [len(segment & set(c)) for c in codes]
    hits = sum(c >= theta for c in counts)
    assert false_match_probability(n, a, s, theta) == pytest.approx(hits / len(codes), rel=1e-9)
    b = data.draw(st.integers(0, s))
    n_b = sum(c == b for c in counts)  # size-a codes with overlap b with the size-s segment
    got = log_n_codes_with_overlap(n, s, b, a)
    assert (n_b == 0 and got == -np.inf) or math.exp(got) == pytest.approx(n_b, rel=1e-9)


def test_papers_checked_values_and_exact_integer_tails():
    p = false_match_probability(10_000, 300, 24, 12)
    assert p == pytest.approx(8.3758e-13, rel=1e-4)
    assert p == pytest.approx(float(_exact_tail(10_000, 300, 24, 12)), rel=1e-9)
    tiny = false_match_probability(100_000, 64, 30, 12)
    assert tiny == pytest.approx(float(_exact_tail(100_000, 64, 30, 12)), rel=1e-8)
    assert noise_miss_probability(128, 30, 12, 64) == pytest.approx(0.0717, abs=5e-5)
    assert union_false_match_probability(1000, 200, 25, 15, 2) == pytest.approx(0.0508, abs=5e-5)
    plug = union_false_match_probability(1000, 200, 25, 15, 2, method="plug-in")
    assert plug == pytest.approx(0.0474, abs=5e-5)


def test_noise_miss_by_enumeration():
    a, s, theta = 8, 5, 3
    code = list(range(a))
    for v in range(a + 1):
        misses = total = 0
        for replaced in itertools.combinations(code, v):
            total += 1
            misses += len(set(range(s)) - set(replaced)) < theta
        assert noise_miss_probability(a, s, theta, v) == pytest.approx(misses / total, abs=1e-12)


def test_union_size_distribution_by_enumeration():
    n, k, m = 6, 2, 3
    subsets = list(itertools.combinations(range(n), k))
    hist = np.zeros(n + 1)
    for combo in itertools.product(subsets, repeat=m):
        hist[len(set().union(*combo))] += 1
    np.testing.assert_allclose(union_size_distribution(n, k, m), hist / hist.sum(), atol=1e-12)


@pytest.mark.parametrize(
    "n, a, s, theta, m",
    [(1024, 32, 24, 3, 1), (16384, 64, 30, 2, 1), (2048, 64, 16, 3, 4), (1000, 200, 25, 15, 2)],
)
def test_closed_forms_match_monte_carlo(n, a, s, theta, m):
    exact = union_false_match_probability(n, a, s, theta, m)
    sim = simulate_union_false_match(n, a, s, theta, m, n_trials=200_000, random_state=1)
    assert exact > 1e-3
    assert abs(sim.probability - exact) < 4.5 * sim.stderr
    assert abs(sim.probability - exact) / exact < 0.1
    if m == 1:
        again = simulate_false_match(n, a, s, theta, n_trials=200_000, random_state=1)
        assert again == sim


@pytest.mark.parametrize(
    "n, a, s, theta, m",
    [(10_000, 300, 24, 12, 1), (16384, 16, 16, 5, 4), (1024, 16, 16, 5, 1), (2048, 64, 24, 3, 2),
     (100_000, 256, 24, 3, 1)],
)
def test_importance_sampling_matches_tiny_closed_forms(n, a, s, theta, m):
    exact = union_false_match_probability(n, a, s, theta, m)
    sim = simulate_union_false_match(n, a, s, theta, m, n_trials=20_000, method="importance",
                                     random_state=2)
    assert sim.stderr < 0.05 * exact
    assert abs(sim.probability - exact) < 4.5 * sim.stderr
    assert abs(sim.probability - exact) / exact < 0.1


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: false_match_probability(10, 11, 3, 1), "a:"),
        (lambda: false_match_probability(10, 5, 3, 4), "theta:"),
        (lambda: false_match_probability(10, 5, 11, 1), "s:"),
        (lambda: false_match_probability(10, 5, 3, -1), "theta:"),
        (lambda: noise_miss_probability(10, 3, 1, 11), "v:"),
        (lambda: union_false_match_probability(10, 5, 3, 1, 0), "m:"),
        (lambda: union_false_match_probability(10, 5, 3, 1, 2, method="mean"), "method:"),
        (lambda: simulate_false_match(10, 5, 3, 1, method="exact"), "method:"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()
