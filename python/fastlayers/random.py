"""The global random number generator that fastlayers draws from (randn, rand, dropout, init).

One `numpy.random.Generator` lives for the whole process; `manual_seed` resets its state in place, so a
module that kept a reference from `default_generator()` stays in step with later seeding.
"""
import operator
import secrets

import numpy as np

__all__ = ["default_generator", "manual_seed", "seed", "initial_seed"]

_generator = np.random.Generator(np.random.PCG64())
_initial_seed = None


def default_generator():
    """The process-wide generator; draw from it rather than from numpy's global state."""
    return _generator


def manual_seed(seed):
    """Reseed the global generator with a non-negative integer, making later draws reproducible."""
    global _initial_seed
    seed = operator.index(seed)
    if seed < 0:
        raise ValueError(f"manual_seed(): seed must be a non-negative integer, got {seed}")
    _generator.bit_generator.state = np.random.PCG64(seed).state
    _initial_seed = seed
    return _generator


def seed():
    """Reseed the global generator from the operating system's entropy and return the seed chosen."""
    chosen = secrets.randbits(64)
    manual_seed(chosen)
    return chosen


def initial_seed():
    """The seed the global generator was last seeded with."""
    return _initial_seed


seed()
