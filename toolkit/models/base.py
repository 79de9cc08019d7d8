"""The model seam: what a model gives the one training loop, ``dogkit pack --run`` and the kernel.

A model is a class with a ``Config`` (a frozen dataclass whose fields are the model's options,
declared with ``toolkit.train.options.option``) and these members:

    Model(config, data, strategy, rng, jit)   build it to train on ``data`` (TrainingData) under a
                                              tf.distribute ``strategy``; ``rng`` is the loop's
                                              generator (batches, noise), whose state the loop saves
    phases() -> list[Phase]                   what training does, in order
    state() -> dict[str, Part]                everything needed to resume, as checkpoint parts
    load(parts: dict[str, ArrayFile])         take a checkpoint back (before the phases run)
    checkpoint_bytes() -> int                 about what ``state()`` would write now (read before every
                                              step: training stops in time to write it)
    parameter_counts() -> dict[str, int]      per network
    seconds_per_sample() -> float             generating speed (to budget ``dogkit pack``)
    sample(count, seed, **options)            images: batches of (n, 64, 64, 3) float pixels, 0..255
    sampler(config, parts, position)          (classmethod) an object with that ``sample``, built from a
                                              checkpoint's parts and position with only what generating
                                              needs (for ``dogkit pack``)
    strategy_probe(config, data, jit)         (classmethod) a StepProbe timing one training step
                                              under a given strategy, or None

Nothing here imports TensorFlow: the command line reads the registry and the configs for
``--help``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Metrics = Mapping[str, Any]  # metric name -> a float (or a scalar tensor, read when the loop needs it)


def _nothing(*args) -> None:
    return None


@dataclass
class Phase:
    """One stretch of training with its own recipe, run epoch by epoch by the loop.

    ``step`` trains on one batch (row indices into the training data, or a memory's rows) and
    returns named metrics (a step may leave one out); the loop records each one's mean over the
    epoch's steps that gave it in history.csv. An epoch
    cut short (by the budget or a signal) is not recorded: a resumed run does it again.
    """

    name: str  # history's phase column: "memorize", "coach", "gan"
    epochs: int | None  # epochs to run; None: until the training deadline
    batches: Callable[[np.random.Generator], Sequence[np.ndarray]]  # one epoch's batches
    step: Callable[[np.ndarray], Metrics]
    round: int = 0  # history's round column: a phase repeated with another recipe (the coach's rounds)
    steps_per_epoch: int | None = None  # for the progress bar
    learning_rate: Callable[[], float] = lambda: float("nan")  # for the history, read after each epoch
    begin: Callable[[int], None] = _nothing  # before its first epoch in this process; gets the epochs done
    after_epoch: Callable[[int, dict[str, float]], None] = _nothing  # (epochs done, the epoch's metrics)
    end: Callable[[], None] = _nothing  # once its last epoch is done
    grid: Callable[[], np.ndarray] | None = None  # a (H, W, 3) uint8 sample grid
    grid_label: str = ""  # samples/<epochs so far>_<label>.png
    grid_every_epoch: bool = False  # a grid after every epoch, not only at the phase's end
    share: float | None = None  # at most this share of the training time left when the phase starts
    metrics_shown: tuple[str, ...] = ()  # metrics in the progress bar (default: all)


@dataclass(frozen=True)
class Part:
    """One file of a checkpoint: named arrays (``np.ndarray`` or ``checkpoint.ChunkedArray``).

    ``frozen``: an identity for a part that no longer changes (the memorizer's finished memory):
    once written under that identity it is not written again.
    """

    arrays: Mapping[str, Any]
    frozen: str | None = None


class Sampler(Protocol):
    default_seed: int

    def sample(self, count: int, seed: int, **options: Any) -> Iterator[np.ndarray]: ...
