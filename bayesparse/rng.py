"""Random-state handling shared by every component (a leaf module: it imports nothing of ours).

Every stochastic function takes ``random_state`` (None, an int, or a numpy ``Generator``) and
turns it into a generator here, so one seed reproduces a whole run.

Examples
--------
>>> from bayesparse.rng import check_generator, torch_generator
>>> bool(check_generator(0).integers(10) == check_generator(0).integers(10))
True
>>> int(torch_generator(0).initial_seed())
0
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

RandomState = int | np.random.Generator | None


def check_generator(random_state: RandomState, name: str = "random_state") -> np.random.Generator:
    """A numpy ``Generator`` from None (fresh entropy), an int seed, or a ``Generator``.

    Parameters
    ----------
    random_state : None, int or numpy.random.Generator
        The seed or generator; a ``Generator`` is returned as is (shared state).
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        return np.random.default_rng(random_state)
    raise TypeError(f"{name}: expected None, an int or a numpy Generator, got {random_state!r}")


def torch_generator(random_state: RandomState, name: str = "random_state") -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``random_state`` (see :func:`check_generator`).

    An int seeds the torch generator directly, so ``torch_generator(s)`` matches
    ``torch.manual_seed(s)``; a numpy ``Generator`` or None draws the seed from it.

    Parameters
    ----------
    random_state : None, int or numpy.random.Generator
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    torch.Generator
    """
    gen = torch.Generator()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return gen.manual_seed(int(random_state))
    seed = int(check_generator(random_state, name).integers(2**63 - 1))
    return gen.manual_seed(seed)
