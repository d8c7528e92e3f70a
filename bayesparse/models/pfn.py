"""Prior-data fitted network (PFN): a transformer that does Bayesian inference in one pass.

A dataset ``D = {(x_i, y_i)}_{i <= n}`` and query inputs ``x_q`` are fed as one set of tokens:
training tokens are ``enc_x(x_i) + enc_y(y_i)`` (two linear encoders, summed), query tokens are
``enc_x(x_q)``. There is no positional encoding, so the output does not depend on the order of
the training points. The attention mask lets every token attend to the training tokens only
(training points attend to each other, queries attend to training points), so a query never
influences another query. A two-layer head maps each query token to the logits of a
:class:`~bayesparse.models.riemann.BarDistribution`, the PFN's approximation of the posterior
predictive ``q_theta(y | x_q, D) ~ p(y | x_q, D)`` (Müller et al. 2022, Sec. 3-4, Fig. 1;
trained on the prior-data NLL of Eq. 2, see :mod:`bayesparse.inference.prior_fitting`).

Inputs with ``d < max_features`` features are zero-padded and scaled by ``sqrt(max_features /
d)`` so that the encoder sees inputs of a comparable norm for every ``d``. The layers are
pre-LayerNorm (the paper uses post-norm): it trains stably at the higher learning rates of
short CPU runs.

References
----------
.. [1] S. Müller, N. Hollmann, S. Pineda Arango, J. Grabocka, F. Hutter, "Transformers Can Do
   Bayesian Inference", ICLR 2022.
"""

from __future__ import annotations

import functools
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from bayesparse.models.riemann import BarDistribution
from bayesparse.rng import RandomState, torch_generator

__all__ = ["PFN", "PFNRegressor", "DEFAULT_CHECKPOINT", "load_pfn", "save_pfn"]

#: The shipped checkpoint: Matérn-5/2 GP with Gamma hyperpriors, up to 5 features and 100
#: context points (trained by ``benchmarks/train_pfn.py``, see docs/pfn.md).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "pfn_gp.pt"


class PFN(nn.Module):
    """Transformer PFN for regression with a bar-distribution head.

    Parameters
    ----------
    borders : torch.Tensor of shape (K + 1,)
        Bucket borders of the output :class:`~bayesparse.models.riemann.BarDistribution`.
    max_features : int, default 5
        Largest input dimension the network accepts.
    max_train : int, default 100
        Largest number of context points it was trained for (checked by the estimators).
    emb : int, default 128
        Token width.
    n_layers, n_heads : int, default 4, 4
    hidden : int, default 256
        Feed-forward width of each transformer layer and of the head.

    Examples
    --------
    >>> import torch
    >>> net = PFN(torch.linspace(-3, 3, 11), max_features=2, emb=16, n_layers=1, n_heads=2,
    ...           hidden=32)
    >>> net(torch.rand(3, 5, 2), torch.rand(3, 5), torch.rand(3, 4, 2)).shape
    torch.Size([3, 4, 10])

    References
    ----------
    .. [1] Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022, Sec. 4.
    """

    def __init__(self, borders: torch.Tensor, max_features: int = 5, max_train: int = 100,
                 emb: int = 128, n_layers: int = 4, n_heads: int = 4, hidden: int = 256) -> None:
        super().__init__()
        self.config: dict[str, int] = {
            "max_features": int(max_features), "max_train": int(max_train), "emb": int(emb),
            "n_layers": int(n_layers), "n_heads": int(n_heads), "hidden": int(hidden),
        }
        self.max_features = int(max_features)
        self.max_train = int(max_train)
        self.bar = BarDistribution(borders)
        self.enc_x = nn.Linear(self.max_features, emb)
        self.enc_y = nn.Linear(1, emb)
        layer = nn.TransformerEncoderLayer(emb, n_heads, hidden, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(emb)
        self.head = nn.Sequential(nn.Linear(emb, hidden), nn.GELU(),
                                  nn.Linear(hidden, self.bar.n_buckets))

    @staticmethod
    def attention_mask(n_train: int, n_query: int) -> torch.Tensor:
        """Boolean mask (True = blocked) letting every token attend to training tokens only.

        Parameters
        ----------
        n_train, n_query : int

        Returns
        -------
        torch.Tensor of shape (n_train + n_query, n_train + n_query)
        """
        n = n_train + n_query
        mask = torch.ones(n, n, dtype=torch.bool)
        mask[:, :n_train] = False
        return mask

    def _encode_x(self, X: torch.Tensor) -> torch.Tensor:
        d = X.shape[-1]
        if d > self.max_features:
            raise ValueError(f"X: {d} features; this PFN supports at most {self.max_features}")
        Xp = torch.zeros(*X.shape[:-1], self.max_features, dtype=self.enc_x.weight.dtype)
        Xp[..., :d] = X * (self.max_features / d) ** 0.5
        return self.enc_x(Xp)

    def forward(self, X_train: torch.Tensor, y_train: torch.Tensor, X_query: torch.Tensor,
                y_query: torch.Tensor | None = None) -> torch.Tensor:
        """Bar-distribution logits of the queries, or their NLL when ``y_query`` is given.

        Parameters
        ----------
        X_train : torch.Tensor of shape (B, n, d)
        y_train : torch.Tensor of shape (B, n)
        X_query : torch.Tensor of shape (B, m, d)
        y_query : torch.Tensor of shape (B, m), optional

        Returns
        -------
        torch.Tensor
            Logits ``(B, m, K)``, or the per-query NLL ``(B, m)`` if ``y_query`` is given.
        """
        n, m = X_train.shape[1], X_query.shape[1]
        if n < 1:
            raise ValueError("X_train: need at least one context point")
        h_train = self._encode_x(X_train) + self.enc_y(y_train.unsqueeze(-1).to(X_train.dtype))
        h = torch.cat([h_train, self._encode_x(X_query)], 1)
        h = self.transformer(h, mask=self.attention_mask(n, m))
        logits = self.head(self.norm(h[:, n:]))
        if y_query is None:
            return logits
        return self.bar.nll(logits, y_query)


def save_pfn(model: PFN, path: str | Path, meta: dict[str, Any] | None = None) -> None:
    """Write a PFN (config, weights, metadata) loadable by :func:`load_pfn`.

    Parameters
    ----------
    model : PFN
    path : str or Path
    meta : dict, optional
        Plain data (str, int, float, lists, dicts) describing the prior and the training run.
    """
    torch.save({"config": model.config, "state_dict": model.state_dict(), "meta": meta or {}},
               str(path))


def load_pfn(path: str | Path | None = None) -> tuple[PFN, dict[str, Any]]:
    """Load a PFN saved by :func:`save_pfn` (``torch.load(weights_only=True)``).

    Parameters
    ----------
    path : str or Path, optional
        Defaults to the shipped checkpoint :data:`DEFAULT_CHECKPOINT`.

    Returns
    -------
    model : PFN
        In eval mode.
    meta : dict
        The metadata stored with it.

    Examples
    --------
    >>> import tempfile, torch
    >>> net = PFN(torch.linspace(-3, 3, 11), max_features=2, max_train=30, emb=16, n_layers=1,
    ...           n_heads=2, hidden=16)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_pfn(net, tmp + "/pfn.pt", meta={"prior": "demo"})
    ...     net2, meta = load_pfn(tmp + "/pfn.pt")
    >>> net2.max_features, net2.max_train, meta["prior"]
    (2, 30, 'demo')
    """
    path = DEFAULT_CHECKPOINT if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: no PFN checkpoint at {path}")
    ck = torch.load(str(path), weights_only=True, map_location="cpu")
    model = PFN(ck["state_dict"]["bar.borders"], **ck["config"])
    model.load_state_dict(ck["state_dict"])
    return model.eval(), ck["meta"]


@functools.lru_cache(maxsize=4)
def _cached_pfn(path: str, mtime: float) -> tuple[PFN, dict[str, Any]]:
    # Keyed by modification time so a retrained file is reloaded. Prediction runs in float64
    # so that a query's output does not depend on which other queries share its batch.
    model, meta = load_pfn(path)
    return model.double(), meta


class PFNRegressor(RegressorMixin, BaseEstimator):
    """Scikit-learn regressor predicting with a trained PFN in one forward pass.

    ``fit`` only stores the context (the training data); ``predict`` runs the PFN on the
    context and the query points and returns moments or quantiles of its Riemann posterior
    predictive. No parameters are fitted, so "training" costs nothing and prediction is one
    transformer pass (Müller et al. 2022).

    Parameters
    ----------
    checkpoint : str or Path, optional
        A file written by :func:`save_pfn`; default the shipped GP-hyperprior checkpoint
        (Matérn-5/2 with Gamma hyperpriors, at most 5 features and 100 context points).
    normalize_X : bool, default True
        Map each feature to ``[0, 1]`` by the context's min and max (the prior's inputs are
        uniform on ``[0, 1]^d``). Turn off for data already on the prior's scale.
    normalize_y : bool, default True
        Standardize ``y`` by the context's mean and standard deviation (predictions are
        mapped back).
    query_chunk : int, default 1024
        Queries per forward pass (they are independent, so chunking changes nothing).

    Attributes
    ----------
    X_train_, y_train_ : ndarray
        The context, as given.
    model_ : PFN
    meta_ : dict
        The checkpoint's metadata.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.models.pfn import PFNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(30, 2)); y = np.sin(6 * X[:, 0]) + 0.1 * rng.normal(size=30)
    >>> reg = PFNRegressor().fit(X, y)
    >>> mean, std = reg.predict(X[:3], return_std=True)
    >>> mean.shape, bool((std > 0).all())
    ((3,), True)
    >>> reg.predict_quantiles(X[:3], [0.05, 0.95]).shape
    (3, 2)

    References
    ----------
    .. [1] Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022.
    """

    def __init__(self, checkpoint: str | Path | None = None, normalize_X: bool = True,
                 normalize_y: bool = True, query_chunk: int = 1024) -> None:
        self.checkpoint = checkpoint
        self.normalize_X = normalize_X
        self.normalize_y = normalize_y
        self.query_chunk = query_chunk

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags

    def fit(self, X: np.ndarray, y: np.ndarray) -> PFNRegressor:
        """Store the context ``(X, y)`` and load the PFN.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            At most the checkpoint's ``max_train`` rows and ``max_features`` columns.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        path = Path(DEFAULT_CHECKPOINT if self.checkpoint is None else self.checkpoint)
        if not path.exists():
            raise FileNotFoundError(f"checkpoint: no PFN checkpoint at {path}")
        model, meta = _cached_pfn(str(path), path.stat().st_mtime)
        if X.shape[1] > model.max_features:
            raise ValueError(f"X: {X.shape[1]} features, but this PFN checkpoint supports at "
                             f"most {model.max_features}; reduce the features (e.g. PCA) or "
                             f"train a PFN with more (benchmarks/train_pfn.py)")
        if X.shape[0] > model.max_train:
            raise ValueError(f"X: {X.shape[0]} context points, but this PFN checkpoint was "
                             f"trained for at most {model.max_train}; subsample the context")
        if not isinstance(self.query_chunk, numbers.Integral) or self.query_chunk < 1:
            raise ValueError(f"query_chunk: must be a positive int, got {self.query_chunk!r}")
        self.model_, self.meta_ = model, meta
        self.X_train_, self.y_train_ = X, y
        lo, hi = X.min(0), X.max(0)
        span = np.where(hi > lo, hi - lo, 1.0)
        self.x_shift_, self.x_scale_ = (lo, span) if self.normalize_X else (0.0, 1.0)
        std = float(y.std()) if y.shape[0] > 1 else 0.0
        if self.normalize_y:
            self.y_shift_, self.y_scale_ = float(y.mean()), (std if std > 0 else 1.0)
        else:
            self.y_shift_, self.y_scale_ = 0.0, 1.0
        return self

    def _logits(self, X: np.ndarray, validated: bool = False) -> torch.Tensor:
        check_is_fitted(self)
        if not validated:
            X = validate_data(self, X, reset=False, dtype=np.float64)
        Xt = torch.as_tensor((self.X_train_ - self.x_shift_) / self.x_scale_)[None]
        yt = torch.as_tensor((self.y_train_ - self.y_shift_) / self.y_scale_)[None]
        Xq = torch.as_tensor((X - self.x_shift_) / self.x_scale_)
        with torch.no_grad():
            out = [self.model_(Xt, yt, Xq[i:i + self.query_chunk][None])[0]
                   for i in range(0, Xq.shape[0], self.query_chunk)]
        return torch.cat(out, 0)

    def predict(self, X: np.ndarray, return_std: bool = False):
        """Posterior predictive mean (and standard deviation) of ``y`` at ``X``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        return_std : bool, default False

        Returns
        -------
        mean : ndarray of shape (n_queries,)
        std : ndarray of shape (n_queries,)
            Only if ``return_std``.
        """
        logits = self._logits(X)
        mean = self.model_.bar.mean(logits).double().numpy() * self.y_scale_ + self.y_shift_
        if not return_std:
            return mean
        var = self.model_.bar.variance(logits).double().numpy()
        return mean, np.sqrt(var) * self.y_scale_

    def predict_quantiles(self, X: np.ndarray,
                          quantiles: np.ndarray | list[float] = (0.05, 0.5, 0.95)) -> np.ndarray:
        """Posterior predictive quantiles, shape ``(n_queries, len(quantiles))``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        quantiles : sequence of float in (0, 1)

        Returns
        -------
        ndarray
        """
        levels = np.asarray(quantiles, dtype=np.float64).ravel()
        if levels.size == 0 or not ((levels > 0) & (levels < 1)).all():
            raise ValueError(f"quantiles: levels must lie strictly inside (0, 1), got {levels}")
        logits = self._logits(X)
        q = self.model_.bar.quantiles(logits, torch.as_tensor(levels))
        return q.double().numpy() * self.y_scale_ + self.y_shift_

    def log_likelihood(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Log predictive density of each ``y_i`` at ``X_i`` (in the units of ``y``).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        y : array-like of shape (n_queries,)

        Returns
        -------
        ndarray of shape (n_queries,)
        """
        check_is_fitted(self)
        X, y = validate_data(self, X, y, reset=False, y_numeric=True, dtype=np.float64)
        logits = self._logits(X, validated=True)
        yz = torch.as_tensor((y - self.y_shift_) / self.y_scale_, dtype=torch.float64)
        return self.model_.bar.log_prob(logits.double(), yz).numpy() - np.log(self.y_scale_)

    def score(self, X: np.ndarray, y: np.ndarray, sample_weight: None = None) -> float:
        """Mean log predictive density per point (higher is better; not R^2).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        y : array-like of shape (n_queries,)
        sample_weight : None
            Not supported.

        Returns
        -------
        float
        """
        if sample_weight is not None:
            raise ValueError("sample_weight: not supported by PFNRegressor.score")
        return float(self.log_likelihood(X, y).mean())

    def sample_y(self, X: np.ndarray, n_samples: int = 1,
                 random_state: RandomState = None) -> np.ndarray:
        """Draws from the posterior predictive at each query, shape ``(n_queries, n_samples)``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
        n_samples : int, default 1
        random_state : None, int or numpy.random.Generator

        Returns
        -------
        ndarray
        """
        logits = self._logits(X)
        draws = self.model_.bar.sample(logits, int(n_samples),
                                       generator=torch_generator(random_state))
        return draws.T.double().numpy() * self.y_scale_ + self.y_shift_
