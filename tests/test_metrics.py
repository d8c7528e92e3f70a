"""Metrics vs scikit-learn / SciPy references and the ECE definition written out."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom, entropy
from sklearn.metrics import accuracy_score, log_loss

from bayesparse.metrics import (
    accuracy,
    calibrated_ece,
    expected_calibration_error,
    nll,
    predictive_entropy,
)


def _probs(seed, n=200, k=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return p, rng.integers(0, k, n)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_accuracy_nll_entropy_match_references(seed):
    p, y = _probs(seed)
    assert accuracy(p, y) == accuracy_score(y, p.argmax(1))
    assert nll(p, y) == pytest.approx(log_loss(y, p, labels=range(4)), rel=1e-10)
    np.testing.assert_allclose(predictive_entropy(p), entropy(p, axis=1), rtol=1e-10)


def _ece_reference(p, y, n_bins):
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.sum() / len(y) * abs((pred[sel] == y[sel]).mean() - conf[sel].mean())
    return total


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n_bins=st.integers(1, 20))
def test_ece_matches_definition(seed, n_bins):
    p, y = _probs(seed)
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(
        _ece_reference(p, y, n_bins), abs=1e-12)


def test_ece_of_perfectly_calibrated_bins_is_zero():
    p = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(p, np.array([0, 0, 0, 1])) == pytest.approx(0.0)


def test_calibrated_ece_equals_binomial_closed_form():
    # One bin, n points at confidence c: ECE = |K/n - c| with K ~ Binomial(n, c).
    n, c = 50, 0.7
    k = np.arange(n + 1)
    exact = float((binom.pmf(k, n, c) * np.abs(k / n - c)).sum())
    p = np.tile([[c, 1 - c]], (n, 1))
    assert calibrated_ece(p, n_draws=40_000, random_state=0) == pytest.approx(exact, rel=0.02)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_calibrated_ece_is_the_mean_ece_of_labels_drawn_from_the_confidence(seed):
    p, _ = _probs(seed, n=60)
    rng = np.random.default_rng(seed)
    conf, pred = p.max(1), p.argmax(1)
    draws = []
    for _ in range(2000):
        correct = rng.random(len(conf)) < conf
        y = np.where(correct, pred, (pred + 1) % p.shape[1])
        draws.append(expected_calibration_error(p, y))
    assert calibrated_ece(p, n_draws=2000, random_state=seed + 1) == pytest.approx(
        np.mean(draws), abs=4 * np.std(draws) / np.sqrt(2000) * np.sqrt(2))
    assert calibrated_ece(p, random_state=3) == calibrated_ece(p, random_state=3)


def test_calibrated_ece_vanishes_with_certain_predictions_and_rejects_bad_args():
    assert calibrated_ece(np.eye(3)[[0, 1, 2, 0]], random_state=0) == 0.0
    with pytest.raises(ValueError, match="n_draws"):
        calibrated_ece(np.eye(2), n_draws=0)
    with pytest.raises(ValueError, match="n_bins"):
        calibrated_ece(np.eye(2), n_bins=0)


def test_bad_input():
    with pytest.raises(ValueError, match="rows must sum to 1"):
        accuracy(np.array([[2.0, 1.0]]), [0])
    with pytest.raises(ValueError, match="y: expected shape"):
        nll(np.array([[0.5, 0.5]]), [0, 1])
    with pytest.raises(ValueError, match="integer labels"):
        nll(np.array([[0.5, 0.5]]), [2])
    with pytest.raises(ValueError, match="2-D"):
        predictive_entropy(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.array([[0.5, 0.5]]), [0], n_bins=0)
    with pytest.raises(ValueError, match="finite"):
        accuracy(np.array([[np.nan, 1.0]]), [0])
