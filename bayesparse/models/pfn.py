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
d)`` so that the encoder sees inputs of a comparable norm for every ``d``.

References
----------
.. [1] S. Müller, N. Hollmann, S. Pineda Arango, J. Grabocka, F. Hutter, "Transformers Can Do
   Bayesian Inference", ICLR 2022.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bayesparse.models.riemann import BarDistribution

__all__ = ["PFN", "DEFAULT_CHECKPOINT", "load_pfn", "save_pfn"]

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
