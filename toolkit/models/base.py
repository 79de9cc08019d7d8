"""The model seam: everything the training loop, ``dogkit pack`` and the kernel use from a model.

A model is a folder under ``toolkit/models/`` with a config and a model class, and one line in the
registry (``toolkit/models/__init__.py``). The protocol is below (``ModelConfig``, ``Model``,
``Sampler``), with the two records a model hands over: ``Phase`` (a stretch of training) and
``Part`` (a checkpoint file's arrays). Nothing else is read from a model.

What the loop does for every model, so that no model repeats it: it seeds Python's, NumPy's,
TensorFlow's and Keras' generators with ``config.seed`` before building the model; builds the
sampler from the model's state to time a trial pack; counts a checkpoint's bytes from ``state()``
unless the model says otherwise; records whether the generator has trained (``Phase.trains_generator``).

Helpers a model author reaches for, below the loop and the models alike:
``toolkit.train.batching.epoch_batches`` (an epoch of shuffled row batches),
``toolkit.train.variables`` (Keras variables as checkpoint arrays and back:
``variables_state``, ``load_variables``, ``random_states``), ``toolkit.train.options.option`` (a
documented config field), ``toolkit.train.distribute`` (``DistributedStep``, ``batched_forward``),
``toolkit.train.checkpoint.ChunkedArray`` (a part too large to copy) and ``toolkit.visuals``
(``image_grid``, ``to_pixels``, ``to_uint8``).

``tests/tiny_gan.py`` is a whole model, its part of the protocol in 30 lines: read it first.

Nothing here imports TensorFlow: the command line reads the registry and the configs for ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

Metrics = Mapping[str, Any]  # metric name -> a float (or a scalar tensor, read when the loop needs it)


def _nothing(*args) -> None:
    return None


@dataclass
class Phase:
    """One stretch of training with its own recipe, run epoch by epoch by the loop.

    ``step`` trains on one batch (row indices into the training data, or a memory's rows) and
    returns named metrics (a step may leave one out); the loop records each one's mean over the
    epoch's steps that gave it in history.csv. An epoch cut short (by the budget or a signal) is
    not recorded: a resumed run does it again.
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
    trains_generator: bool = True  # False: its steps leave the generator as it was (the memorizer's memorizing)
    # when evaluation while training scores the generator: "time" (every --eval-every, and when training
    # ends), "end" (when the phase ends: the memorizer's coach rounds), "never" (nothing to score yet)
    evaluate: str = "time"


@dataclass(frozen=True)
class Part:
    """One file of a checkpoint: named arrays (``np.ndarray``, tensors, or ``checkpoint.ChunkedArray``).

    ``frozen``: an identity for a part that no longer changes (the memorizer's finished memory):
    once written under that identity it is not written again.
    """

    arrays: Mapping[str, Any]
    frozen: str | None = None


class ModelConfig(Protocol):
    """A frozen dataclass whose fields are the model's options (``--option NAME=VALUE``), declared
    with ``toolkit.train.options.option``. The loop, the command line and pack read these two fields;
    ``MODEL_NAME`` names the model in option errors ("unknown option 'epochs' for the memorizer")."""

    MODEL_NAME: ClassVar[str]
    seed: int  # seeds the model's building and the loop's generator; pack's default sampling seed
    batch_size: int  # set by --batch-size (a model without one refuses that flag, as any unknown option)


class Sampler(Protocol):
    """What ``dogkit pack`` generates from: images, ``count`` in all, in batches of at most ``batch``."""

    def sample(self, count: int, seed: int, batch: int = ..., **options: Any) -> Iterator[np.ndarray]:
        """(n, 64, 64, 3) float pixels in 0..255; the same seed and options, the same images.
        ``options``: the config's fields declared with ``sampling=True`` (e.g. the memorizer's ``mix``)."""
        ...


class Model(Protocol):
    def __init__(self, config: Any, data: Any, strategy: Any, rng: np.random.Generator, jit: bool):
        """Build the model to train on ``data`` (``toolkit.data.crops.TrainingData``) under a
        tf.distribute ``strategy``; ``rng`` is the loop's generator (batches, noise), whose state
        the loop saves; ``jit``: XLA-compile the training steps."""

    def phases(self) -> list[Phase]:
        """What training does, in order (built once per process, before training)."""

    def state(self) -> dict[str, Part]:
        """Everything needed to resume, as checkpoint parts, read now."""

    def load(self, parts: Mapping[str, Any]) -> None:
        """Take a checkpoint back (before the phases run): part name -> its arrays, read as
        ``parts[name][key]``, ``.shape(key)``, ``.iter_rows(key, n)`` (``toolkit.train.checkpoint.ArrayFile``)."""

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per network, for the log and config.json."""

    @classmethod
    def sampler(cls, config: Any, parts: Mapping[str, Any]) -> Sampler:
        """A sampler built from a checkpoint's parts (as ``load`` gets them) with only what generating
        needs: ``dogkit pack`` calls it, and the loop, on the model's own state, to time packing."""

    # Optional: the loop looks for these and does without.
    #
    # checkpoint_bytes() -> int           what a checkpoint written now costs, read before every step
    #                                     (training stops in time to write it); default: the state's
    #                                     size when the phase began
    # strategy_probe(config, data, jit)   (classmethod) a toolkit.train.distribute.StepProbe timing one
    #                                     training step under a strategy (one GPU against mirrored);
    #                                     default: the first phase's first step, built on a few batches'
    #                                     worth of crops (the memorizer times its coach instead)
