"""SparseBNNClassifier / SparseBNNRegressor: scikit-learn conformance, quality, bad input."""

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import check_estimator

from bayesparse.datasets.bnn_classification import load_digits_split
from bayesparse.datasets.synthetic_regression import make_gap_regression
from bayesparse.models.sparse_bnn_estimators import SparseBNNClassifier, SparseBNNRegressor

# Tiny config so the ~50 fits of check_estimator stay fast; still sparse (CSR kernels).
TINY = dict(hidden=(16,), density=0.3, n_epochs=8, batch_size=50, lr=0.03, n_samples=4)


@pytest.mark.parametrize("estimator", [SparseBNNClassifier(**TINY), SparseBNNRegressor(**TINY)],
                         ids=["classifier", "regressor"])
def test_check_estimator(estimator):
    # Minibatch SSVI is stochastic: integer weights equal repeated rows in expectation, not
    # bit for bit (tests/models/test_sparse_bnn_sample_weight.py tests both properties).
    check_estimator(estimator, expected_failed_checks={
        "check_sample_weight_equivalence_on_dense_data":
            "stochastic minibatches: equal to repeated rows in expectation only",
    })


def test_digits_cnn_and_attributes():
    data = load_digits_split()
    clf = SparseBNNClassifier(architecture="cnn", input_shape=(1, 8, 8), channels=(8, 16),
                              density=0.2, n_epochs=6, batch_size=64, lr=0.01, random_state=0)
    clf.fit(data.X_train, data.y_train)
    assert clf.density_ == pytest.approx(0.2, abs=2e-3)
    assert clf.score(data.X_test, data.y_test) > 0.8
    assert 0 < clf.flops_["train_ratio"] < 0.35
    proba = clf.predict_proba(data.X_test[:5])
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-12)
    out = clf.module_.sample(torch.from_numpy(data.X_test[:5]), 3)
    assert out.shape == (3, 5, 10)


def test_erk_flops_allocation_cuts_the_cnn_training_flops():
    data = load_digits_split()
    ratio = {}
    for allocation in ("erk", "erk-flops"):
        clf = SparseBNNClassifier(architecture="cnn", input_shape=(1, 8, 8), channels=(16, 32, 32),
                                  density=0.1, allocation=allocation, n_epochs=1, batch_size=128,
                                  random_state=0).fit(data.X_train, data.y_train)
        assert clf.density_ == pytest.approx(0.1, abs=2e-3)
        ratio[allocation] = clf.flops_["train_ratio"]
    assert ratio["erk-flops"] < 0.9 * ratio["erk"]


def test_regressor_uncertainty_grows_in_the_gap():
    X, y = make_gap_regression(200, noise=0.1, random_state=0)
    reg = SparseBNNRegressor(hidden=(64, 64), density=0.3, n_epochs=150, batch_size=50,
                             lr=0.01, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.9
    _, std_in = reg.predict(np.array([[2.0]], dtype=np.float32), return_std=True)
    _, std_far = reg.predict(np.array([[6.0]], dtype=np.float32), return_std=True)
    assert std_far[0] > std_in[0]


def test_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 4))
    y = np.arange(20) % 2
    for density in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="density"):
            SparseBNNClassifier(density=density).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SparseBNNClassifier(**TINY).fit(X, y[:-1])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SparseBNNRegressor(**TINY).fit(X_nan, y.astype(float))
    with pytest.raises(ValueError, match="input_shape"):
        SparseBNNClassifier(architecture="cnn", input_shape=(1, 3, 3)).fit(X, y)
    with pytest.raises(ValueError, match="architecture"):
        SparseBNNClassifier(architecture="rnn").fit(X, y)
    with pytest.raises(ValueError, match="removal"):
        SparseBNNClassifier(removal="l2").fit(X, y)
    clf = SparseBNNClassifier(**TINY, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])
