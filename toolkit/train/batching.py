"""Batches of row indices for an epoch: what models hand the loop as a phase's ``batches``."""

from __future__ import annotations

import numpy as np


def epoch_batches(rng: np.random.Generator, n: int, batch_size: int) -> list[np.ndarray]:
    """A shuffled pass over ``n`` rows in batches (the last one smaller), each sorted."""
    order = rng.permutation(n)
    return [np.sort(order[s : s + batch_size]) for s in range(0, n, batch_size)]
