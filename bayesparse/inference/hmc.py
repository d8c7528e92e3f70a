"""Full-batch Hamiltonian Monte Carlo over a flat parameter vector, via pyro.

Neal, "MCMC using Hamiltonian dynamics" (Handbook of MCMC, 2011): leapfrog integration of
``H(theta, r) = U(theta) + r^T r / 2`` with a Metropolis correction. During warm-up the step
size is tuned by Nesterov dual averaging towards a target acceptance probability (Hoffman &
Gelman, JMLR 2014, Algorithm 5; 0.8 as in Li, Rudner & Wilson, ICLR 2024). This wraps pyro's
``HMC``/``NUTS`` kernels with a potential function, so any model written as ``U(theta)`` can be
sampled; for a network (any ``nn.Module``, e.g. a sparse ``BayesMLP`` whose active weights are
its parameters) :func:`bayesparse.inference.map.negative_log_joint` builds ``U`` from a
:class:`~bayesparse.inference.functional.FunctionalModel`.

Examples
--------
Posterior of a Gaussian mean under a N(0, 1) prior (closed form: mean ``sum(y) / (n + 1)``):

>>> import torch
>>> y = torch.randn(20, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 1
>>> U = lambda th: 0.5 * ((y - th) ** 2).sum() + 0.5 * (th ** 2).sum()
>>> s = hmc(U, torch.zeros(1, dtype=torch.float64), num_samples=300, warmup_steps=100,
...         random_state=0)
>>> s.shape, bool(abs(s.mean() - y.sum() / 21) < 0.05)
(torch.Size([300, 1]), True)

References
----------
Neal, "MCMC using Hamiltonian dynamics", Handbook of Markov Chain Monte Carlo, 2011.
Hoffman & Gelman, "The No-U-Turn Sampler", JMLR 15, 2014.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pyro.infer.mcmc import HMC, MCMC, NUTS
from torch import Tensor


def hmc(potential: Callable[[Tensor], Tensor], theta0: Tensor, *, num_samples: int = 100,
        warmup_steps: int = 100, num_steps: int = 20, step_size: float = 1e-2,
        target_accept: float = 0.8, nuts: bool = False,
        random_state: int | None = None) -> Tensor:
    """Draw samples of ``exp(-U(theta))`` by HMC (or NUTS) with dual-averaging warm-up.

    Parameters
    ----------
    potential : callable
        ``U(theta)``, the negative log density (up to a constant) of a ``P`` vector.
    theta0 : Tensor
        Starting point (``P``), e.g. a MAP estimate.
    num_samples : int, default=100
        Samples kept after warm-up.
    warmup_steps : int, default=100
        Warm-up iterations (step-size adaptation; discarded).
    num_steps : int, default=20
        Leapfrog steps per HMC proposal (ignored by NUTS).
    step_size : float, default=1e-2
        Initial leapfrog step size.
    target_accept : float, default=0.8
        Target acceptance probability of dual averaging.
    nuts : bool, default=False
        Use the No-U-Turn sampler instead of fixed-length HMC.
    random_state : int, optional
        Seed (the global torch generator is forked, so the caller's stream is untouched).

    Returns
    -------
    Tensor
        ``num_samples x P`` samples.
    """
    if num_samples < 1 or warmup_steps < 0 or num_steps < 1:
        raise ValueError(
            f"hmc: need num_samples >= 1, warmup_steps >= 0, num_steps >= 1; got "
            f"{num_samples}, {warmup_steps}, {num_steps}"
        )
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept: expected in (0, 1), got {target_accept}")

    def pot(params: dict[str, Tensor]) -> Tensor:
        return potential(params["theta"])

    common = dict(potential_fn=pot, step_size=step_size, adapt_step_size=True,
                  adapt_mass_matrix=False, target_accept_prob=target_accept)
    kernel = NUTS(**common) if nuts else HMC(num_steps=num_steps, **common)
    # pyro draws momenta and acceptances from the global torch generator: fork it so the
    # sampler is reproducible without disturbing the caller's random stream.
    with torch.random.fork_rng():
        if random_state is not None:
            torch.manual_seed(random_state)
        mcmc = MCMC(kernel, num_samples=num_samples, warmup_steps=warmup_steps,
                    initial_params={"theta": theta0.detach().clone()}, disable_progbar=True)
        mcmc.run()
    return mcmc.get_samples()["theta"].detach()
