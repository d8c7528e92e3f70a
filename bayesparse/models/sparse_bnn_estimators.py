"""scikit-learn estimators for sparse Bayesian neural networks trained by SSVI.

:class:`SparseBNNClassifier` and :class:`SparseBNNRegressor` only wire three parts together:
the network (:class:`~bayesparse.models.sparse_bnn.BayesMLP` or
:class:`~bayesparse.models.sparse_bnn.BayesCNN`), the likelihood, and the SSVI loop
(:func:`~bayesparse.inference.ssvi.ssvi`). At ``density=1`` the same estimators are dense
mean-field VI (Bayes by Backprop). Predictions average ``n_samples`` forward passes, each with
one weight sample from the posterior (Monte Carlo posterior predictive); the fitted network is
a plain torch module in ``module_``.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from bayesparse.models.sparse_bnn_estimators import SparseBNNClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = SparseBNNClassifier(hidden=(16,), density=0.5, n_epochs=10, batch_size=50,
...                           lr=0.03, n_samples=5, random_state=0).fit(X, y)
>>> clf.density_, clf.score(X, y) > 0.8
(0.5, True)
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from bayesparse.inference.flops import FlopCounter, dense_geometry, predict_flops
from bayesparse.inference.ssvi import ADDITION, REMOVAL, GaussianNLL, ssvi
from bayesparse.models.sparse_bnn import ALLOCATIONS, BayesCNN, BayesMLP, BayesNet
from bayesparse.rng import check_generator

__all__ = ["SparseBNNClassifier", "SparseBNNRegressor"]

ARCHITECTURES = ("mlp", "cnn")


class _SparseBNNBase(BaseEstimator):
    """Hyper-parameters, validation, network construction and fitting shared by both tasks."""

    _parameter_constraints: dict = {
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "hidden": ["array-like"],
        "channels": ["array-like"],
        "input_shape": [None, "array-like"],
        "density": [Interval(Real, 0, 1, closed="right")],
        "allocation": [StrOptions(set(ALLOCATIONS))],
        "first_layer_dense": ["boolean"],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "kl_scale": [Interval(Real, 0, None, closed="left")],
        "prior_std": [Interval(Real, 0, None, closed="neither")],
        "update_every": [Interval(Integral, 1, None, closed="left")],
        "removal": [StrOptions(set(REMOVAL))],
        "addition": [StrOptions(set(ADDITION))],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "random_state": [None, Interval(Integral, 0, None, closed="left"), np.random.Generator],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        architecture: str = "mlp",
        hidden: tuple[int, ...] = (256, 256),
        channels: tuple[int, ...] = (16, 32),
        input_shape: tuple[int, ...] | None = None,
        density: float = 0.1,
        allocation: str = "erk",
        first_layer_dense: bool = True,
        n_epochs: int = 50,
        batch_size: int = 128,
        lr: float = 3e-3,
        kl_scale: float = 0.01,
        prior_std: float = 1.0,
        update_every: int = 100,
        removal: str = "snr_abs",
        addition: str = "grad",
        n_samples: int = 20,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.architecture = architecture
        self.hidden = hidden
        self.channels = channels
        self.input_shape = input_shape
        self.density = density
        self.allocation = allocation
        self.first_layer_dense = first_layer_dense
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.kl_scale = kl_scale
        self.prior_std = prior_std
        self.update_every = update_every
        self.removal = removal
        self.addition = addition
        self.n_samples = n_samples
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, n_features: int) -> None:
        """The one check the constraints cannot state: the CNN's input shape against X."""
        if self.architecture == "cnn":
            shape = self.input_shape
            if shape is None or int(np.prod(shape)) != n_features:
                raise ValueError(
                    f"input_shape: the cnn needs (channels, height, width) with "
                    f"{n_features} elements in total, got {shape!r}"
                )

    def _build(self, n_features: int, n_outputs: int, rng: np.random.Generator) -> BayesNet:
        common = dict(density=self.density, allocation=self.allocation,
                      prior_std=self.prior_std, random_state=rng)
        if self.architecture == "mlp":
            return BayesMLP(n_features, n_outputs, tuple(self.hidden), **common)
        return BayesCNN(tuple(self.input_shape), n_outputs, tuple(self.channels),
                        first_layer_dense=self.first_layer_dense, **common)

    def _fit_net(
        self, X: np.ndarray, y: np.ndarray, n_outputs: int, nll: Any,
        sample_weight: np.ndarray | None,
    ) -> None:
        self._check_params(X.shape[1])
        rng = check_generator(self.random_state)
        self.module_ = self._build(X.shape[1], n_outputs, rng)
        counter = FlopCounter(self.module_)
        self.history_ = ssvi(
            self.module_, X, y, nll=nll, sample_weight=sample_weight, n_epochs=self.n_epochs,
            batch_size=self.batch_size, lr=self.lr, kl_scale=self.kl_scale,
            update_every=self.update_every, removal=self.removal, addition=self.addition,
            callbacks=[counter], random_state=rng, verbose=self.verbose,
        )
        self.predict_seed_ = int(rng.integers(2**31))
        self.density_ = self.module_.density
        geo = counter.geometry
        flops = counter.summary()
        self.flops_ = {
            "train": flops["flops"],
            "train_dense_vi": flops["flops_dense"],
            "train_ratio": flops["ratio"],
            "train_matmul_ratio": flops["matmul_ratio"],
            "predict_per_example": predict_flops(geo, 1, self.n_samples),
            "predict_ratio": predict_flops(geo, 1, self.n_samples)
            / predict_flops(dense_geometry(geo), 1, self.n_samples),
        }
        self.n_iter_ = self.history_["n_steps"]

    def _samples(self, X: Any) -> torch.Tensor:
        """``n_samples x n x n_outputs`` network outputs, one weight draw per sample."""
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        gen = torch.Generator().manual_seed(self.predict_seed_)
        with torch.no_grad():
            return self.module_.sample(torch.from_numpy(X), self.n_samples, gen)


class SparseBNNClassifier(ClassifierMixin, _SparseBNNBase):
    """Sparse Bayesian neural network classifier trained by SSVI.

    Parameters
    ----------
    architecture : {"mlp", "cnn"}, default "mlp"
    hidden : tuple of int, default (256, 256)
        Hidden widths of the MLP.
    channels : tuple of int, default (16, 32)
        Convolution channels of the CNN.
    input_shape : (C, H, W), optional
        Per-example image shape for the CNN (rows of ``X`` are flattened images).
    density : float, default 0.1
        Overall fraction of active weights in (0, 1]; 1 is dense mean-field VI.
    allocation : {"erk", "uniform", "erk-flops"}, default "erk"
        Per-layer density rule (``"erk-flops"``: ERK divided by each layer's output
        positions, fewer training FLOPs for a CNN at the same density).
    first_layer_dense : bool, default True
        Keep the CNN's first convolution dense.
    n_epochs, batch_size, lr : int, int, float
        Adam training schedule.
    kl_scale : float, default 0.01
        KL weight times the number of training examples.
    prior_std : float, default 1.0
        Gaussian prior standard deviation.
    update_every : int, default 100
        Steps between support updates.
    removal : {"snr_abs", "snr", "mu"}, default "snr_abs"
    addition : {"grad", "random"}, default "grad"
    n_samples : int, default 20
        Posterior samples averaged by ``predict_proba``.
    random_state : int, optional
    verbose : bool, default False
        tqdm progress bar over epochs.

    Attributes
    ----------
    module_ : BayesNet
        The fitted torch module (``module_(x, "sample")``, ``module_.sample(x, n)``).
    classes_ : ndarray
    density_ : float
        Fraction of active weights.
    flops_ : dict
        Training FLOPs (``train``), dense VI's for the same steps (``train_dense_vi``), their
        ratio (``train_ratio``; ``train_matmul_ratio`` for weight products only), and
        prediction FLOPs per example (``predict_per_example``, ``predict_ratio``).
    history_ : dict
        The log of :func:`~bayesparse.inference.ssvi.ssvi`.
    n_iter_ : int
        Optimizer steps.

    References
    ----------
    J. Li, Z. Miao, Q. Qiu, R. Zhang, "Training Bayesian Neural Networks with Sparse Subspace
    Variational Inference", ICLR 2024, arXiv:2402.11025.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, y = make_blobs(120, centers=3, random_state=0)
    >>> clf = SparseBNNClassifier(hidden=(16,), density=0.5, n_epochs=5, batch_size=40,
    ...                           n_samples=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SparseBNNClassifier:
        """Fit the posterior by SSVI.

        Parameters
        ----------
        X : array-like, shape ``n x d``
            Inputs (flattened images for the CNN).
        y : array-like, shape ``n``
            Class labels.
        sample_weight : array-like, shape ``n``, optional
            Non-negative example weights: the data term is ``sum_i w_i NLL_i / sum_i w_i``, so
            an integer weight counts as that many copies of the row and a zero weight ignores
            it.

        Returns
        -------
        SparseBNNClassifier
            ``self``.
        """
        X, y = validate_data(self, X, y, dtype=np.float32)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y: needs samples of at least 2 classes, got 1 class ({self.classes_[0]!r})"
            )
        self._fit_net(X, codes.astype(np.int64), len(self.classes_), None, sample_weight)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior predictive class probabilities (Monte Carlo over weight samples).

        Parameters
        ----------
        X : array-like, shape ``n x d``

        Returns
        -------
        ndarray, shape ``n x n_classes``
            The mean over ``n_samples`` weight draws of the softmax outputs.
        """
        return torch.softmax(self._samples(X), -1).mean(0).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class under the posterior predictive.

        Parameters
        ----------
        X : array-like, shape ``n x d``

        Returns
        -------
        ndarray, shape ``n``
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(1)]


class SparseBNNRegressor(RegressorMixin, _SparseBNNBase):
    """Sparse Bayesian neural network regressor (Gaussian likelihood) trained by SSVI.

    The targets are standardized for training; the homoscedastic noise scale is fitted by
    maximum likelihood alongside the variational posterior.

    Parameters
    ----------
    See :class:`SparseBNNClassifier`.

    Attributes
    ----------
    module_, density_, flops_, history_, n_iter_
        As in :class:`SparseBNNClassifier`.
    noise_std_ : float
        Fitted observation noise standard deviation (in units of ``y``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(-2, 2, 100)[:, None]
    >>> reg = SparseBNNRegressor(hidden=(16,), density=0.5, n_epochs=5, batch_size=50,
    ...                          n_samples=5, random_state=0).fit(X, np.sin(X[:, 0]))
    >>> mean, std = reg.predict(X[:3], return_std=True)
    >>> mean.shape, bool((std > 0).all())
    ((3,), True)
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SparseBNNRegressor:
        """Fit the posterior by SSVI.

        Parameters
        ----------
        X : array-like, shape ``n x d``
            Inputs.
        y : array-like, shape ``n``
            Targets (standardized internally, with the sample weights).
        sample_weight : array-like, shape ``n``, optional
            Non-negative example weights, as in :meth:`SparseBNNClassifier.fit`.

        Returns
        -------
        SparseBNNRegressor
            ``self``.
        """
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        # Standardize (with the weights; rows of weight 0 play no part) through the largest
        # magnitude first: y**2 overflows float64 for |y| ~ 1e200, and training runs in float32.
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        peak = float(np.max(np.abs(y[w > 0]))) or 1.0
        unit = y[w > 0] / peak
        mean = float(np.average(unit, weights=w[w > 0]))
        std = float(np.sqrt(np.average((unit - mean) ** 2, weights=w[w > 0])))
        self.y_mean_ = mean * peak
        self.y_scale_ = (std * peak) or 1.0
        nll = GaussianNLL()
        self._fit_net(X, ((y - self.y_mean_) / self.y_scale_).astype(np.float32), 1, nll,
                      sample_weight)
        self.noise_std_ = float(torch.exp(nll.log_std.detach())) * self.y_scale_
        return self

    def predict(
        self, X: Any, return_std: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Posterior predictive mean (and total std: weight uncertainty plus noise).

        Parameters
        ----------
        X : array-like, shape ``n x d``
        return_std : bool, default False
            Also return the predictive standard deviation.

        Returns
        -------
        mean : ndarray, shape ``n``
        std : ndarray, shape ``n``
            Only with ``return_std``.
        """
        # Moments in standardized units, unscaled in float64 last: squares of targets near
        # 1e200 (or float32 values beyond ~3e38) would overflow.
        out = self._samples(X)[..., 0].numpy().astype(np.float64)
        mean = out.mean(0) * self.y_scale_ + self.y_mean_
        if not return_std:
            return mean
        noise = self.noise_std_ / self.y_scale_
        return mean, np.sqrt(out.var(0) + noise**2) * self.y_scale_
