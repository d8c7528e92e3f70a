"""Divergence is reported, not returned as NaN (issue 11 item 7)."""

import numpy as np
import pytest

from bayesparse.models import SparseBNNClassifier, SparseBNNRegressor


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 5)) + 3.0 * y[:, None]
    return X.astype(np.float32), y


def test_large_lr_raises_with_step_and_cause():
    X, y = _blobs()
    clf = SparseBNNClassifier(hidden=(32,), density=0.3, n_epochs=20, batch_size=32, lr=1e6,
                              random_state=0)
    with pytest.raises(FloatingPointError, match=r"step \d+.*lr=1000000.0 is too large"):
        clf.fit(X * 1e3, y)


def test_reasonable_lr_still_fits():
    X, y = _blobs()
    clf = SparseBNNClassifier(hidden=(32,), density=0.3, n_epochs=60, batch_size=32, lr=1e-2,
                              random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert clf.score(X, y) > 0.9


def test_regressor_huge_targets_predict_in_original_units():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 1)).astype(np.float32)
    y_unit = 2.0 * X[:, 0].astype(np.float64) + 1.0
    kw = dict(hidden=(16,), density=0.5, n_epochs=40, batch_size=50, n_samples=10,
              random_state=0)
    ref = SparseBNNRegressor(**kw).fit(X, y_unit)
    big = SparseBNNRegressor(**kw).fit(X, y_unit * 1e200)
    mean, std = big.predict(X[:20], return_std=True)
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    # Same seed and standardized targets: identical fits up to the units.
    np.testing.assert_allclose(mean / 1e200, ref.predict(X[:20]), rtol=1e-4, atol=1e-4)
    assert np.abs(mean / 1e200 - y_unit[:20]).max() < 0.5
