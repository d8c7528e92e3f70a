"""Mean-field Gaussian Bayesian layers, dense and sparse (Bayes by Backprop, SSVI).

Each weight has a Gaussian posterior ``q(w) = N(mu, sigma^2)`` with ``sigma = softplus(rho)``
and a Gaussian prior ``p(w) = N(0, s^2)`` (Blundell et al., "Weight Uncertainty in Neural
Networks", ICML 2015). The KL divergence is in closed form, summed over the weights that exist::

    KL(q || p) = sum_i [ log(s / sigma_i) + (sigma_i^2 + mu_i^2) / (2 s^2) - 1/2 ]

Training uses the local reparameterization trick (Kingma, Salimans, Welling, NeurIPS 2015):
for an input ``x`` the pre-activation is Gaussian with mean ``x @ mu.T`` and variance
``x^2 @ (sigma^2).T`` and is sampled directly, one noise draw per output unit.

The sparse layers (Li, Miao, Qiu, Zhang, "Training Bayesian Neural Networks with Sparse
Subspace Variational Inference", ICLR 2024) keep ``mu`` and ``rho`` only on a support held as
a :class:`~bayesparse.sparse.SparseTensor` of the ``out x fan_in`` weight matrix (for a
convolution, ``fan_in = in_channels * kh * kw``): inactive weights are exactly zero and are
neither stored nor multiplied. Both products of the local reparameterization run on CSR
kernels (:func:`~bayesparse.sparse.linear.sparse_linear`), or, above ``sparse_threshold``
density where dense kernels are faster, on the densified weight. Dense and sparse layers share
everything but the weight product.

Examples
--------
>>> import torch
>>> from bayesparse.models.bayesian_layers import SparseBayesLinear
>>> layer = SparseBayesLinear(20, 5, density=0.2, random_state=0)
>>> layer.support.nnz, layer(torch.randn(3, 20)).shape
(20, torch.Size([3, 5]))
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the torch convention
from torch import nn

from bayesparse.sparse import SparseTensor, check_density, random_pattern
from bayesparse.sparse.linear import SparseLinearPlan, sparse_linear

__all__ = [
    "gaussian_kl",
    "MeanFieldLayer",
    "BayesLinear",
    "BayesConv2d",
    "SparseBayesLinear",
    "SparseBayesConv2d",
    "DenseGradProbe",
    "MODES",
]

MODES = ("lrt", "sample", "mean")
"""Forward modes: local reparameterization (training), one weight sample, posterior mean."""

# Ensures the output variance is positive when an input row is all zero.
_VAR_FLOOR = 1e-16


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor, prior_std: float) -> torch.Tensor:
    """Closed-form ``KL(N(mu, sigma^2) || N(0, prior_std^2))`` summed over all entries.

    Parameters
    ----------
    mu, sigma : Tensor
        Posterior means and standard deviations (same shape).
    prior_std : float
        Standard deviation of the zero-mean Gaussian prior.

    Returns
    -------
    Tensor
        A scalar.

    References
    ----------
    C. Blundell, J. Cornebise, K. Kavukcuoglu, D. Wierstra, "Weight Uncertainty in Neural
    Networks", ICML 2015.

    Examples
    --------
    >>> import torch
    >>> float(gaussian_kl(torch.zeros(3), torch.ones(3), 1.0))
    0.0
    """
    s2 = prior_std**2
    return (math.log(prior_std) - torch.log(sigma) + (sigma**2 + mu**2) / (2 * s2) - 0.5).sum()


class MeanFieldLayer(nn.Module):
    """Shared base: posterior parameters, KL, and the three forward modes.

    Subclasses define ``weight_shape`` (the shape of ``mu``) and ``_product(x, w)``, which
    applies weights shaped like ``mu`` to ``x`` (a linear map or a convolution without bias).
    """

    def __init__(
        self,
        weight_shape: tuple[int, ...],
        out_features: int,
        fan_in: int,
        *,
        prior_std: float,
        rho_init: float,
        bias: bool,
        generator: torch.Generator | None,
    ) -> None:
        super().__init__()
        if not prior_std > 0:
            raise ValueError(f"prior_std: expected a positive number, got {prior_std!r}")
        self.prior_std = float(prior_std)
        self.fan_in = fan_in
        self.out_features = out_features
        bound = 1.0 / math.sqrt(fan_in)
        mu = torch.empty(weight_shape).uniform_(-bound, bound, generator=generator)
        self.mu = nn.Parameter(mu)
        self.rho = nn.Parameter(torch.full(weight_shape, float(rho_init)))
        if bias:
            self.bias_mu = nn.Parameter(torch.zeros(out_features))
            self.bias_rho = nn.Parameter(torch.full((out_features,), float(rho_init)))
        else:
            self.register_parameter("bias_mu", None)
            self.register_parameter("bias_rho", None)

    def _product(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _add_bias(self, y: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return y + b.reshape((1, -1) + (1,) * (y.ndim - 2))

    @property
    def sigma(self) -> torch.Tensor:
        return F.softplus(self.rho)

    @property
    def n_weights(self) -> int:
        """Number of stored (active) weights, biases excluded."""
        return self.mu.numel()

    @property
    def n_dense_weights(self) -> int:
        """Number of weights of the dense layer of the same shape."""
        return self.out_features * self.fan_in

    def kl(self) -> torch.Tensor:
        """KL divergence from the prior, over the active weights and the biases."""
        kl = gaussian_kl(self.mu, self.sigma, self.prior_std)
        if self.bias_mu is not None:
            kl = kl + gaussian_kl(self.bias_mu, F.softplus(self.bias_rho), self.prior_std)
        return kl

    def forward(
        self, x: torch.Tensor, mode: str = "lrt", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Pre-activations for ``x``.

        Parameters
        ----------
        x : Tensor
        mode : {"lrt", "sample", "mean"}
            ``"lrt"``: local reparameterization (an independent draw per example, for
            training); ``"sample"``: one weight sample shared by the batch (posterior
            predictive); ``"mean"``: the posterior mean weights.
        generator : torch.Generator, optional
            Source of the Gaussian noise.
        """
        has_bias = self.bias_mu is not None
        # Prediction follows the input's dtype (float64 predictions are order-invariant to
        # rounding); training keeps the parameters' dtype.
        mu = self.mu.to(x.dtype)
        if mode == "mean":
            y = self._product(x, mu)
            return self._add_bias(y, self.bias_mu.to(x.dtype)) if has_bias else y
        sigma = F.softplus(self.rho.to(x.dtype))
        if mode == "sample":
            eps = torch.randn(mu.shape, generator=generator, dtype=x.dtype)
            y = self._product(x, mu + sigma * eps)
            if has_bias:
                b_eps = torch.randn(self.out_features, generator=generator, dtype=x.dtype)
                b_sigma = F.softplus(self.bias_rho.to(x.dtype))
                y = self._add_bias(y, self.bias_mu.to(x.dtype) + b_sigma * b_eps)
            return y
        if mode != "lrt":
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        mean = self._product(x, mu)
        var = self._product(x * x, sigma * sigma)
        if has_bias:
            mean = self._add_bias(mean, self.bias_mu)
            var = self._add_bias(var, F.softplus(self.bias_rho) ** 2)
        eps = torch.randn(mean.shape, generator=generator, dtype=x.dtype)
        return mean + torch.sqrt(var + _VAR_FLOOR) * eps


class BayesLinear(MeanFieldLayer):
    """Dense mean-field Gaussian linear layer (Bayes by Backprop, local reparameterization).

    Parameters
    ----------
    in_features, out_features : int
    prior_std : float, default 1.0
        Standard deviation of the zero-mean Gaussian prior on every weight and bias.
    rho_init : float, default -5.0
        Initial ``rho`` (``sigma = softplus(rho)``, about 0.0067 here).
    bias : bool, default True
    generator : torch.Generator, optional
        Draws the initial means.

    References
    ----------
    C. Blundell et al., "Weight Uncertainty in Neural Networks", ICML 2015; D. P. Kingma,
    T. Salimans, M. Welling, "Variational Dropout and the Local Reparameterization Trick",
    NeurIPS 2015.

    Examples
    --------
    >>> import torch
    >>> layer = BayesLinear(4, 2, generator=torch.Generator().manual_seed(0))
    >>> layer(torch.randn(3, 4), mode="mean").shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        prior_std: float = 1.0,
        rho_init: float = -5.0,
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            (out_features, in_features), out_features, in_features,
            prior_std=prior_std, rho_init=rho_init, bias=bias, generator=generator,
        )
        self.in_features = in_features

    def _product(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.linear(x, w)


class BayesConv2d(MeanFieldLayer):
    """Dense mean-field Gaussian 2-D convolution (local reparameterization).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding : int or (int, int), default 1 and 0
    prior_std, rho_init, bias, generator
        As in :class:`BayesLinear`.

    Examples
    --------
    >>> import torch
    >>> conv = BayesConv2d(1, 4, 3, padding=1)
    >>> conv(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        prior_std: float = 1.0,
        rho_init: float = -5.0,
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        self.kernel_size = _pair(kernel_size, "kernel_size")
        kh, kw = self.kernel_size
        super().__init__(
            self._weight_shape(out_channels, in_channels, kh, kw), out_channels,
            in_channels * kh * kw, prior_std=prior_std, rho_init=rho_init, bias=bias,
            generator=generator,
        )
        self.in_channels = in_channels
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")

    def _weight_shape(self, out_c: int, in_c: int, kh: int, kw: int) -> tuple[int, ...]:
        return (out_c, in_c, kh, kw)

    def _conv(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        w = w.reshape(self.out_features, self.in_channels, *self.kernel_size)
        return F.conv2d(x, w, stride=self.stride, padding=self.padding)

    def _product(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self._conv(x, w)

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Spatial size of the output for an ``h x w`` input.

        Parameters
        ----------
        h, w : int
            Input height and width.

        Returns
        -------
        (int, int)
        """
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


class _SparseSupport:
    """Mixin for layers whose ``mu``/``rho`` are the values of a sparse support.

    ``mu`` and ``rho`` are 1-D parameters in the support's CSR order. The layer owns its
    support (the ``support_indices`` buffer) and offers what a support-updating solver needs:
    the posterior of the active weights (``mu``, ``sigma``), the dense gradient of the mean
    weight (:meth:`dense_grad_probe`) and :meth:`set_support`, which also moves an
    optimizer's state.
    """

    support: SparseTensor
    plan: SparseLinearPlan
    sparse_threshold: float
    mu: nn.Parameter
    rho: nn.Parameter
    out_features: int
    fan_in: int

    @staticmethod
    def _init_support(
        shape: tuple[int, int],
        density: float,
        support: SparseTensor | None,
        random_state: int | np.random.Generator | None,
    ) -> SparseTensor:
        if support is None:
            return random_pattern(shape, check_density(density), random_state)
        if not isinstance(support, SparseTensor):
            raise TypeError(f"support: expected a SparseTensor, got {type(support).__name__}")
        if support.shape != shape:
            raise ValueError(f"support: expected shape {shape} (out x fan_in), got {support.shape}")
        return support.pattern()

    def _init_plan(self, sparse_threshold: float) -> None:
        self.sparse_threshold = float(sparse_threshold)
        # The support's CSR indices are a buffer, so state_dict/load_state_dict carry the
        # support with mu and rho (the values mean nothing without it) and ``.to()`` moves it.
        self.register_buffer("support_indices", self.support.indices.clone())
        self.plan = SparseLinearPlan(self.support)

    def _sync_support(self) -> None:
        """Rebuild ``support`` and the kernel plan from the ``support_indices`` buffer."""
        self.support = SparseTensor(
            self.support_indices, None, self.support.shape, validate=False, _canonical=True
        )
        self.plan = SparseLinearPlan(self.support)

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        out = super()._apply(fn, recurse)
        self._sync_support()
        return out

    def _load_from_state_dict(  # type: ignore[no-untyped-def]
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs,
    ):
        key = prefix + "support_indices"
        if key in state_dict:
            idx = state_dict[key]
            if tuple(idx.shape) != tuple(self.support_indices.shape):
                error_msgs.append(
                    f"{key}: the saved support has {tuple(idx.shape)} indices, this layer "
                    f"{tuple(self.support_indices.shape)}; build the layer with the same "
                    "density (nnz) before loading"
                )
                return
            # Validate against the layer's shape and require canonical CSR order, since mu
            # and rho are stored in that order.
            canon = SparseTensor(idx, None, self.support.shape).indices
            if not torch.equal(canon.to(idx.device), idx.to(torch.int64)):
                error_msgs.append(f"{key}: indices are not in canonical CSR order")
                return
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
            error_msgs,
        )
        self._sync_support()

    @property
    def density(self) -> float:
        return self.support.density

    def uses_sparse_kernels(self) -> bool:
        """Whether products run on CSR kernels (else on the densified weight)."""
        return self.support.density <= self.sparse_threshold

    def _matmul(self, x2d: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        if self.uses_sparse_kernels():
            return sparse_linear(x2d, values, self.plan)
        return F.linear(x2d, self.plan.densify(values))

    def dense_mu(self) -> torch.Tensor:
        """The full ``out x fan_in`` mean matrix (zeros off the support)."""
        return self.plan.densify(self.mu.detach())

    def dense_sigma(self) -> torch.Tensor:
        """The full ``out x fan_in`` posterior std (zeros off the support)."""
        return self.plan.densify(F.softplus(self.rho.detach()))

    @contextmanager
    def dense_grad_probe(self) -> Iterator[DenseGradProbe]:
        """Collect the loss gradient w.r.t. the dense mean weight, inactive entries included.

        Inside the ``with`` block a forward hook records the layer's input and a tensor hook on
        its output; every backward pass through the layer then adds
        ``dL/dW = sum_rows grad_out^T x`` (the gradient of the mean product ``x W^T``, which
        is the output's only dependence on the mean weight) to the yielded probe. The forward
        pass itself stays sparse; only the weight gradient is dense. SSVI's gradient-based
        addition reads it (Li et al., ICLR 2024, sec. 3.2; Evci et al., ICML 2020).

        Yields
        ------
        DenseGradProbe
            ``probe.grad`` is an ``out x fan_in`` tensor after a backward pass, else None.

        Examples
        --------
        >>> import torch
        >>> layer = SparseBayesLinear(6, 3, density=0.5, random_state=0)
        >>> x = torch.randn(4, 6)
        >>> with layer.dense_grad_probe() as probe:
        ...     _ = torch.autograd.grad(layer(x, "mean").sum(), layer.mu)
        >>> torch.allclose(probe.grad, torch.ones(4, 3).T @ x)
        True
        """
        probe = DenseGradProbe()

        def record(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
            if not output.requires_grad:
                return
            x = args[0].detach()
            output.register_hook(lambda g: probe._add(self._dense_weight_grad(x, g.detach())))

        handle = self.register_forward_hook(record)
        try:
            yield probe
        finally:
            handle.remove()

    def _dense_weight_grad(self, x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def set_support(
        self,
        support: SparseTensor,
        mu_full: torch.Tensor,
        rho_full: torch.Tensor,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> torch.Tensor:
        """Move to a new support of the same size, reading new values from full matrices.

        ``mu`` and ``rho`` stay the same parameter objects (rewritten in place), so an
        optimizer built on them keeps working; pass it as ``optimizer`` to carry its
        per-parameter state along.

        Parameters
        ----------
        support : SparseTensor
            New pattern with the same ``nnz``.
        mu_full, rho_full : Tensor, shape ``out x fan_in``
            Values to read on the new support (the caller puts the kept weights' values and
            the added weights' initialization there).
        optimizer : torch.optim.Optimizer, optional
            Its state tensors shaped like ``mu``/``rho`` (Adam's and AdamW's moments, SGD's
            momentum buffer, ...) are permuted to the weights' new positions; entries of added
            weights are zero. Scalar state (e.g. Adam's step count) is left as is.

        Returns
        -------
        Tensor
            For each new entry, the position of the same weight in the old values, or -1 for
            an added weight.

        Examples
        --------
        >>> import torch
        >>> layer = SparseBayesLinear(4, 2, density=0.5, random_state=0)
        >>> new = SparseTensor.topk(torch.arange(8.0).reshape(2, 4), 4).pattern()
        >>> src = layer.set_support(new, torch.zeros(2, 4), torch.zeros(2, 4))
        >>> layer.support.nnz, src.shape
        (4, torch.Size([4]))
        """
        if not isinstance(support, SparseTensor):
            raise TypeError(f"support: expected a SparseTensor, got {type(support).__name__}")
        if support.nnz != self.support.nnz or support.shape != self.support.shape:
            raise ValueError(
                f"support: expected nnz={self.support.nnz} and shape {self.support.shape}, "
                f"got nnz={support.nnz}, shape {support.shape}"
            )
        old = torch.full((self.out_features, self.fan_in), -1, dtype=torch.int64)
        old[self.support.row, self.support.col] = torch.arange(self.support.nnz)
        src = old[support.row, support.col]
        self.mu.data.copy_(mu_full[support.row, support.col])
        self.rho.data.copy_(rho_full[support.row, support.col])
        self.support = support.pattern()
        self.support_indices.copy_(self.support.indices)
        self.plan = SparseLinearPlan(self.support)
        if optimizer is not None:
            _remap_state(optimizer, (self.mu, self.rho), src)
        return src


class SparseBayesLinear(_SparseSupport, MeanFieldLayer):
    """Mean-field Gaussian linear layer whose posterior lives on a sparse support (SSVI).

    Parameters
    ----------
    in_features, out_features : int
    density : float, default 0.1
        Fraction of active weights in (0, 1], used when ``support`` is None.
    support : SparseTensor, optional
        Initial ``out x in`` support (default: uniform random at ``density``).
    sparse_threshold : float, default 0.3
        Use CSR kernels at or below this density, the densified weight above it.
    random_state : int or numpy Generator, optional
        Draws the random support.
    prior_std, rho_init, bias, generator
        As in :class:`BayesLinear`.

    References
    ----------
    J. Li, Z. Miao, Q. Qiu, R. Zhang, "Training Bayesian Neural Networks with Sparse Subspace
    Variational Inference", ICLR 2024, arXiv:2402.11025.

    Examples
    --------
    >>> import torch
    >>> layer = SparseBayesLinear(10, 4, density=0.25, random_state=0)
    >>> layer.mu.shape, round(layer.density, 2)
    (torch.Size([10]), 0.25)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        density: float = 0.1,
        support: SparseTensor | None = None,
        sparse_threshold: float = 0.3,
        random_state: int | np.random.Generator | None = None,
        prior_std: float = 1.0,
        rho_init: float = -5.0,
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        # The support comes first: the posterior parameters are only its nnz values.
        self.support = self._init_support(
            (out_features, in_features), density, support, random_state
        )
        MeanFieldLayer.__init__(
            self, (self.support.nnz,), out_features, in_features,
            prior_std=prior_std, rho_init=rho_init, bias=bias, generator=generator,
        )
        self.in_features = in_features
        self._init_plan(sparse_threshold)

    def _product(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self._matmul(x, w)

    def _dense_weight_grad(self, x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
        return grad_out.T @ x


class SparseBayesConv2d(_SparseSupport, BayesConv2d):
    """Mean-field Gaussian 2-D convolution on a sparse ``out x (in * kh * kw)`` support.

    The sparse path unfolds the input (im2col) and multiplies it by the CSR weight, so the
    cost scales with the number of active weights; above ``sparse_threshold`` density the
    densified kernel goes through ``conv2d``.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding
        As in :class:`BayesConv2d`.
    density, support, sparse_threshold, random_state
        As in :class:`SparseBayesLinear`.
    prior_std, rho_init, bias, generator
        As in :class:`BayesLinear`.

    Examples
    --------
    >>> import torch
    >>> conv = SparseBayesConv2d(2, 4, 3, padding=1, density=0.2, random_state=0)
    >>> conv(torch.randn(1, 2, 6, 6), mode="mean").shape
    torch.Size([1, 4, 6, 6])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        density: float = 0.1,
        support: SparseTensor | None = None,
        sparse_threshold: float = 0.3,
        random_state: int | np.random.Generator | None = None,
        prior_std: float = 1.0,
        rho_init: float = -5.0,
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        kh, kw = _pair(kernel_size, "kernel_size")
        self.support = self._init_support(
            (out_channels, in_channels * kh * kw), density, support, random_state
        )
        BayesConv2d.__init__(
            self, in_channels, out_channels, kernel_size, stride=stride, padding=padding,
            prior_std=prior_std, rho_init=rho_init, bias=bias, generator=generator,
        )
        self._init_plan(sparse_threshold)

    def _weight_shape(self, out_c: int, in_c: int, kh: int, kw: int) -> tuple[int, ...]:
        return (self.support.nnz,)

    def _product(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if not self.uses_sparse_kernels():
            return self._conv(x, self.plan.densify(w))
        n, _, h, wd = x.shape
        oh, ow = self.output_size(h, wd)
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        rows = cols.transpose(1, 2).reshape(n * oh * ow, self.fan_in)
        y = sparse_linear(rows, w, self.plan)
        return y.reshape(n, oh * ow, self.out_features).transpose(1, 2).reshape(
            n, self.out_features, oh, ow
        )

    def _dense_weight_grad(self, x: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
        # The im2col columns are in (channel, kh, kw) order, the support's column order.
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        return torch.einsum("nol,nfl->of", grad_out.flatten(2), cols)


class DenseGradProbe:
    """The dense mean-weight gradient collected by a sparse layer's ``dense_grad_probe``.

    Attributes
    ----------
    grad : Tensor or None
        ``out x fan_in`` gradient summed over the backward passes seen, None before any.
    """

    def __init__(self) -> None:
        self.grad: torch.Tensor | None = None

    def _add(self, g: torch.Tensor) -> None:
        self.grad = g if self.grad is None else self.grad + g


def _remap_state(
    optimizer: torch.optim.Optimizer, params: tuple[nn.Parameter, ...], src: torch.Tensor
) -> None:
    """Permute the optimizer's per-weight state to new positions; zero it for added weights."""
    added = src < 0
    safe = src.clamp_min(0)
    for p in params:
        state = optimizer.state.get(p)
        if not state:
            continue
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == p.shape:
                state[key] = value[safe].masked_fill(added, 0)


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(pair) != 2 or any(int(p) < 0 for p in pair):
        raise ValueError(f"{name}: expected a non-negative int or a pair of them, got {v!r}")
    return int(pair[0]), int(pair[1])
