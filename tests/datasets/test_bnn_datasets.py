"""Local BNN datasets: shapes, determinism, no global-RNG side effects, no download."""

import random

import numpy as np
import pytest

from bayesparse.datasets.bnn_classification import load_digits_split, load_mnist1d
from bayesparse.datasets.synthetic_regression import gap_regression_truth, make_gap_regression


def test_digits_split():
    d = load_digits_split(test_size=0.25, random_state=1)
    assert d.X_train.shape[1] == 64 and d.X_train.dtype == np.float32
    assert len(d.X_train) + len(d.X_test) == 1797
    assert 0.0 <= d.X_train.min() and d.X_train.max() <= 1.0
    assert set(np.unique(d.y_test)) == set(range(10))


def test_mnist1d_is_generated_deterministically_without_side_effects(monkeypatch):
    import mnist1d.data

    def no_download(*args, **kwargs):
        raise AssertionError("get_dataset must not be called (it may download)")

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_download)
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    a = load_mnist1d(n_samples=300)
    assert (np.random.random(), random.random()) == (expected_np, expected_py)
    b = load_mnist1d(n_samples=300)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert a.X_train.shape == (240, 40) and a.input_shape == (1, 1, 40)
    assert set(np.unique(a.y_train)) <= set(range(10))
    with pytest.raises(ValueError, match="n_samples"):
        load_mnist1d(n_samples=3)


def test_gap_regression():
    X, y = make_gap_regression(500, noise=0.0, random_state=0)
    assert ((np.abs(X) >= 1) & (np.abs(X) <= 3)).all()
    np.testing.assert_allclose(y, gap_regression_truth(X[:, 0]), rtol=0, atol=1e-6)  # float32
    with pytest.raises(ValueError, match="noise"):
        make_gap_regression(10, noise=-1.0)
    with pytest.raises(ValueError, match="n_samples"):
        make_gap_regression(0)
