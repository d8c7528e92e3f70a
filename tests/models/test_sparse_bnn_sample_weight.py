"""``sample_weight`` in the sparse BNN estimators and in ``ssvi`` (issue 18)."""

import numpy as np
import pytest

from bayesparse.inference.ssvi import ssvi
from bayesparse.models import SparseBNNClassifier, SparseBNNRegressor
from bayesparse.models.sparse_bnn import BayesMLP

KW = dict(hidden=(16,), density=0.5, n_epochs=30, batch_size=16, lr=1e-2, n_samples=10,
          random_state=0)


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return (rng.normal(size=(n, 3)) + 2.0 * y[:, None]).astype(np.float32), y


@pytest.mark.parametrize("Est", [SparseBNNClassifier, SparseBNNRegressor])
def test_zero_weight_ignores_a_row(Est):
    """Fixed seed: an extra row of weight 0 (with a wild target) changes nothing."""
    X, y = _blobs()
    X_aug = np.vstack([X, [[50.0, -50.0, 50.0]]]).astype(np.float32)
    y_aug = np.append(y, 0 if Est is SparseBNNClassifier else 1e3)
    ref = Est(**KW).fit(X, y, sample_weight=np.ones(len(y)))
    aug = Est(**KW).fit(X_aug, y_aug, sample_weight=np.append(np.ones(len(y)), 0.0))
    pred = "predict_proba" if Est is SparseBNNClassifier else "predict"
    np.testing.assert_array_equal(getattr(aug, pred)(X), getattr(ref, pred)(X))


def _conflict(n_each=30, seed=0):
    """Two identical-input groups with opposite labels: the fit can only learn their mix."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n_each, 2)).astype(np.float32) * 0.01
    return X, np.repeat([0, 1], n_each)


def test_integer_weights_equal_duplicated_rows_classifier():
    """Label 1 weighted 3: P(y=1) ~ 3/4, as with each label-1 row repeated 3 times."""
    X, y = _conflict()
    w = np.where(y == 1, 3, 1)
    kw = dict(KW, n_epochs=40)
    p_w = SparseBNNClassifier(**kw).fit(X, y, sample_weight=w).predict_proba(X)[:, 1].mean()
    rep = np.repeat(np.arange(len(y)), w)
    p_dup = SparseBNNClassifier(**kw).fit(X[rep], y[rep]).predict_proba(X)[:, 1].mean()
    p_none = SparseBNNClassifier(**kw).fit(X, y).predict_proba(X)[:, 1].mean()
    assert abs(p_w - 0.75) < 0.05 and abs(p_dup - 0.75) < 0.05 and abs(p_w - p_dup) < 0.05
    assert abs(p_none - 0.5) < 0.05


def test_integer_weights_equal_duplicated_rows_regressor():
    X, y = _conflict()
    w = np.where(y == 1, 3, 1)
    rep = np.repeat(np.arange(len(y)), w)
    reg_w = SparseBNNRegressor(**KW).fit(X, y.astype(float), sample_weight=w)
    reg_dup = SparseBNNRegressor(**KW).fit(X[rep], y[rep].astype(float))
    # Weighted standardization equals the duplicated data's exactly.
    assert reg_w.y_mean_ == pytest.approx(reg_dup.y_mean_, rel=1e-12)
    assert reg_w.y_scale_ == pytest.approx(reg_dup.y_scale_, rel=1e-12)
    m_w, m_dup = reg_w.predict(X).mean(), reg_dup.predict(X).mean()
    assert abs(m_w - 0.75) < 0.05 and abs(m_dup - 0.75) < 0.05


def test_bad_sample_weight():
    X, y = _blobs(20)
    with pytest.raises(ValueError, match="[Nn]egative"):
        SparseBNNClassifier(**KW).fit(X, y, sample_weight=-np.ones(20))
    net = BayesMLP(3, 2, hidden=(4,), density=0.5, random_state=0)
    with pytest.raises(ValueError, match="sample_weight"):
        ssvi(net, X, y, sample_weight=np.ones(19))
    with pytest.raises(ValueError, match="sample_weight"):
        ssvi(net, X, y, sample_weight=np.zeros(20))
    with pytest.raises(ValueError, match="sample_weight"):
        ssvi(net, X, y, sample_weight=np.full(20, np.nan))
