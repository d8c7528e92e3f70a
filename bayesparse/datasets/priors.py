"""Priors over regression datasets for prior-data fitted networks (PFNs).

A *prior* is any callable ``prior(batch_size, n_points, n_features, generator) -> (X, y)``
returning tensors of shapes ``(batch_size, n_points, n_features)`` and
``(batch_size, n_points)``, each row one dataset drawn from the prior. Prior fitting
(:func:`bayesparse.inference.prior_fitting.fit_prior`) draws a fresh batch at every step, so a
user's prior is just such a function (see :func:`user_prior_example`).

- :class:`GPPrior`: Gaussian-process functions with an RBF or Matérn-5/2 kernel (gpytorch),
  fixed hyperparameters or Gamma hyperpriors on lengthscale, outputscale and noise variance
  (Müller et al. 2022, Sec. 5.1; the hyperprior experiment uses Matérn-5/2 with Gamma priors).
- :class:`BNNPrior`: random MLPs with random depth, width and activation, weights drawn from
  the prior of the library's Bayesian layers (:class:`~bayesparse.models.sparse_bnn.BayesMLP`
  sampled with ``mode="sample"``) (Müller et al. 2022, Sec. 5.2).

Inputs are uniform on ``[0, 1]^d``.

References
----------
.. [1] S. Müller, N. Hollmann, S. Pineda Arango, J. Grabocka, F. Hutter, "Transformers Can Do
   Bayesian Inference", ICLR 2022.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import gpytorch
import torch
from torch import nn

from bayesparse.models.sparse_bnn import BayesMLP

__all__ = ["Prior", "GPPrior", "BNNPrior", "user_prior_example"]

Prior = Callable[[int, int, int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
"""Signature of a prior: ``(batch_size, n_points, n_features, generator) -> (X, y)``."""

_KERNELS = ("rbf", "matern52")


def _seeded(generator: torch.Generator) -> int:
    return int(torch.randint(2**62, (1,), generator=generator))


def _check_sizes(batch_size: int, n_points: int, n_features: int) -> None:
    for name, v in (("batch_size", batch_size), ("n_points", n_points),
                    ("n_features", n_features)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name}: must be a positive int, got {v!r}")


@dataclass
class GPPrior:
    """Gaussian-process prior over regression datasets (gpytorch kernels).

    ``y = f(X) + eps`` with ``f ~ GP(0, outputscale * k(., .; lengthscale))`` and
    ``eps ~ N(0, noise)``; ``X`` uniform on ``[0, 1]^d``.

    Parameters
    ----------
    kernel : {"rbf", "matern52"}
    lengthscale, outputscale, noise : float
        Fixed hyperparameters (``noise`` is a variance), used when ``hyperprior`` is False.
    hyperprior : bool
        Draw the hyperparameters per dataset from Gamma(concentration, rate) priors.
    lengthscale_prior, outputscale_prior, noise_prior : (float, float)
        ``(concentration, rate)`` of the Gamma hyperpriors. The defaults have means 0.5, 1
        and 0.1.

    Examples
    --------
    >>> import torch
    >>> X, y = GPPrior(hyperprior=True)(4, 10, 2, torch.Generator().manual_seed(0))
    >>> tuple(X.shape), tuple(y.shape)
    ((4, 10, 2), (4, 10))

    References
    ----------
    .. [1] Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022, Sec. 5.1.
    """

    kernel: str = "matern52"
    lengthscale: float = 0.5
    outputscale: float = 1.0
    noise: float = 0.1
    hyperprior: bool = False
    lengthscale_prior: tuple[float, float] = (3.0, 6.0)
    outputscale_prior: tuple[float, float] = (2.0, 2.0)
    noise_prior: tuple[float, float] = (2.0, 20.0)

    def __post_init__(self) -> None:
        if self.kernel not in _KERNELS:
            raise ValueError(f"kernel: expected one of {_KERNELS}, got {self.kernel!r}")
        for name in ("lengthscale", "outputscale", "noise"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)!r}")

    def hyperpriors(self) -> dict[str, gpytorch.priors.GammaPrior]:
        """The Gamma hyperpriors as gpytorch priors, keyed by hyperparameter name."""
        return {name: gpytorch.priors.GammaPrior(*getattr(self, name + "_prior"))
                for name in ("lengthscale", "outputscale", "noise")}

    def base_kernel(self, batch_shape: tuple[int, ...] = ()) -> gpytorch.kernels.Kernel:
        """A fresh gpytorch kernel of this family (unit outputscale), float64.

        Parameters
        ----------
        batch_shape : tuple of int, default=()
            Batch shape of the kernel's hyperparameters.

        Returns
        -------
        gpytorch.kernels.Kernel
            ``RBFKernel`` or ``MaternKernel(nu=2.5)`` in float64.
        """
        if self.kernel == "rbf":
            k = gpytorch.kernels.RBFKernel(batch_shape=torch.Size(batch_shape))
        else:
            k = gpytorch.kernels.MaternKernel(nu=2.5, batch_shape=torch.Size(batch_shape))
        return k.double()

    def hyperparameters(self, batch_size: int,
                        generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Draw (or repeat) the hyperparameters of ``batch_size`` datasets.

        Parameters
        ----------
        batch_size : int
        generator : torch.Generator

        Returns
        -------
        dict
            float64 tensors ``lengthscale``, ``outputscale``, ``noise`` of shape ``(batch_size,)``.
        """
        if not self.hyperprior:
            return {name: torch.full((batch_size,), float(getattr(self, name)),
                                     dtype=torch.float64)
                    for name in ("lengthscale", "outputscale", "noise")}
        # gpytorch priors sample from the global torch RNG: seed a forked copy from ours.
        seed = _seeded(generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return {name: p.sample(torch.Size([batch_size])).double()
                    for name, p in self.hyperpriors().items()}

    def covariance(self, X: torch.Tensor, hp: dict[str, torch.Tensor]) -> torch.Tensor:
        """Noise-free prior covariance ``(B, n, n)`` of the latent function at ``X`` (B, n, d).

        Parameters
        ----------
        X : torch.Tensor of shape (B, n, d)
        hp : dict
            Output of :meth:`hyperparameters`.

        Returns
        -------
        torch.Tensor of shape (B, n, n), float64
        """
        k = self.base_kernel((X.shape[0],))
        k.lengthscale = hp["lengthscale"].view(-1, 1, 1)
        with torch.no_grad():
            K = k(X.double()).to_dense()
        return hp["outputscale"].view(-1, 1, 1) * K

    def __call__(self, batch_size: int, n_points: int, n_features: int,
                 generator: torch.Generator, return_hyperparameters: bool = False):
        """Draw ``batch_size`` datasets; see the module docstring for the signature."""
        _check_sizes(batch_size, n_points, n_features)
        X = torch.rand(batch_size, n_points, n_features, generator=generator,
                       dtype=torch.float64)
        hp = self.hyperparameters(batch_size, generator)
        eye = torch.eye(n_points, dtype=torch.float64)
        L = torch.linalg.cholesky(self.covariance(X, hp)
                                  + (hp["noise"].view(-1, 1, 1) + 1e-8) * eye)
        z = torch.randn(batch_size, n_points, 1, generator=generator, dtype=torch.float64)
        out = (X.float(), (L @ z).squeeze(-1).float())
        return (*out, hp) if return_hyperparameters else out


@dataclass
class BNNPrior:
    """Random Bayesian-MLP prior over regression datasets.

    Each dataset gets an MLP with ``depth`` hidden layers of ``width`` units (both uniform on
    the given ranges) and an activation drawn from ``activations``; its weights are one
    sample (``mode="sample"``) of a :class:`~bayesparse.models.sparse_bnn.BayesMLP` whose
    posterior is set to the prior ``N(0, weight_std^2 / fan_in)``; ``y`` gets Gaussian noise
    of standard deviation ``noise_std``.

    Parameters
    ----------
    depth : (int, int)
    width : (int, int)
    activations : tuple of str
        Names among ``"relu"``, ``"tanh"``, ``"gelu"``, ``"sin"``.
    weight_std, noise_std : float

    Examples
    --------
    >>> import torch
    >>> X, y = BNNPrior()(3, 8, 2, torch.Generator().manual_seed(0))
    >>> tuple(y.shape)
    (3, 8)

    References
    ----------
    .. [1] Müller et al., "Transformers Can Do Bayesian Inference", ICLR 2022, Sec. 5.2.
    """

    depth: tuple[int, int] = (1, 3)
    width: tuple[int, int] = (8, 64)
    activations: tuple[str, ...] = ("relu", "tanh", "gelu", "sin")
    weight_std: float = 1.5
    noise_std: float = 0.1

    _ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh,
                    "gelu": nn.functional.gelu, "sin": torch.sin}

    def __post_init__(self) -> None:
        bad = [a for a in self.activations if a not in self._ACTIVATIONS]
        if bad or not self.activations:
            raise ValueError(f"activations: choose among {sorted(self._ACTIVATIONS)}, got {bad}")

    def _network(self, n_features: int, generator: torch.Generator) -> tuple[BayesMLP, str]:
        depth = int(torch.randint(self.depth[0], self.depth[1] + 1, (1,), generator=generator))
        width = int(torch.randint(self.width[0], self.width[1] + 1, (1,), generator=generator))
        act = self.activations[int(torch.randint(len(self.activations), (1,),
                                                 generator=generator))]
        net = BayesMLP(n_features, 1, hidden=(width,) * depth, random_state=_seeded(generator))
        with torch.no_grad():
            for layer in net.layers:
                std = self.weight_std / math.sqrt(layer.fan_in)
                # sigma = softplus(rho): set the posterior to the prior N(0, std^2).
                rho = math.log(math.expm1(std))
                layer.mu.zero_()
                layer.rho.fill_(rho)
                layer.bias_mu.zero_()
                layer.bias_rho.fill_(rho)
        return net, act

    def __call__(self, batch_size: int, n_points: int, n_features: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``batch_size`` datasets; see the module docstring for the signature."""
        _check_sizes(batch_size, n_points, n_features)
        X = torch.rand(batch_size, n_points, n_features, generator=generator)
        ys = []
        with torch.no_grad():
            for b in range(batch_size):
                net, act = self._network(n_features, generator)
                h = X[b]
                for i, layer in enumerate(net.layers):
                    h = layer(h, "sample", generator)
                    if i < len(net.layers) - 1:
                        h = self._ACTIVATIONS[act](h)
                ys.append(h.squeeze(-1))
        y = torch.stack(ys)
        return X, y + self.noise_std * torch.randn(y.shape, generator=generator)


def user_prior_example(batch_size: int, n_points: int, n_features: int,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A user prior: noisy random linear functions, as a template for your own.

    Any function with this signature is a prior for
    :func:`~bayesparse.inference.prior_fitting.fit_prior`: draw ``batch_size`` independent
    datasets of ``n_points`` points with ``n_features`` inputs, using only ``generator`` for
    randomness (so training is reproducible and resumable), and return float32 tensors
    ``X`` of shape ``(batch_size, n_points, n_features)`` and ``y`` of shape
    ``(batch_size, n_points)``.

    Parameters
    ----------
    batch_size, n_points, n_features : int
    generator : torch.Generator

    Returns
    -------
    X, y : torch.Tensor

    Examples
    --------
    >>> import torch
    >>> X, y = user_prior_example(2, 5, 3, torch.Generator().manual_seed(0))
    >>> tuple(X.shape), tuple(y.shape)
    ((2, 5, 3), (2, 5))
    """
    X = torch.rand(batch_size, n_points, n_features, generator=generator)
    w = torch.randn(batch_size, n_features, 1, generator=generator)
    y = (X @ w).squeeze(-1) + 0.1 * torch.randn(batch_size, n_points, generator=generator)
    return X, y
