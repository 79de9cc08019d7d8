"""Choosing a ``tf.distribute`` strategy: ``auto``, ``none``, ``mirrored`` or ``tpu``.

``auto`` picks a TPU when one is present and TensorFlow can start it (Kaggle's TPU image ships
``tensorflow-cpu``, which cannot: then the default strategy, with a line saying so). With two or
more GPUs (Kaggle's T4 x2) it does not assume that splitting each batch pays: the gain depends on
how much work a step holds against what the replicas must exchange and wait for, and a small
model's step loses. When the model can build a trial step, both are timed on the machine itself
and the faster is kept; the choice and both figures go to the log.

Without GPUs, ``mirrored`` mirrors over the CPU's logical devices (see ``DOGKIT_LOGICAL_CPUS``
in ``toolkit.backend``), which is how the mirrored path is tested.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from toolkit.backend import tf
from toolkit.errors import DogkitError

log = logging.getLogger("dogkit")

STRATEGIES = ("auto", "none", "mirrored", "tpu")
TRIAL_WARMUP_STEPS = 3  # the first steps compile
TRIAL_STEPS = 10

# builds the model under a strategy and returns one training step to time
StepProbe = Callable[[object], Callable[[], object]]


def _tpu_strategy():
    try:
        # "local": the TPU of this machine (a TPU VM, as on Kaggle), found without asking a metadata server
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME") or "local")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except Exception as exc:  # ValueError, NotFoundError, RuntimeError...: TF without TPU support says it many ways
        first_line = (str(exc).strip().splitlines() or [""])[0][:160]
        raise DogkitError(f"no TPU that TensorFlow can use ({type(exc).__name__}: {first_line})") from None


def _tpu_present(dev: Path = Path("/dev")) -> bool:
    """A TPU is attached: named in the environment (Kaggle's TPU image sets ``ISTPUVM=1``), or its chips
    are device files (``accelN`` on v2-v4 machines; numbered VFIO groups on v5e and later, Kaggle's TpuV5E8)."""
    if any(os.environ.get(name) for name in ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "COLAB_TPU_ADDR")):
        return True
    if os.environ.get("ISTPUVM") == "1":
        return True
    with contextlib.suppress(OSError):
        return (dev / "accel0").exists() or any(p.name.isdigit() for p in (dev / "vfio").iterdir())
    return False


def seconds_per_step(step: Callable[[], object], warmup: int = TRIAL_WARMUP_STEPS, steps: int = TRIAL_STEPS) -> float:
    """Mean wall seconds of ``step`` after ``warmup`` calls (``step`` must wait for its result)."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def first_phase_probe(model_class, config, data, jit: bool) -> StepProbe:
    """The default trial step of a model: built under the strategy on a few batches' worth of crops, its
    first phase's first step (a model whose first phase is not the one to distribute brings its own)."""
    from toolkit.data.crops import TrainingData

    rows = np.arange(min(len(data.images), 4 * getattr(config, "batch_size", 64)))
    few = TrainingData(data.images[rows], data.breeds[rows], data.path, data.fingerprint)

    def probe(strategy):
        rng = np.random.default_rng(0)
        phase = model_class(config, few, strategy, rng, jit).phases()[0]
        batch = phase.batches(rng)[0]
        return lambda: phase.step(batch)

    return probe


CLEAR_WIN = 0.95  # a later candidate must be this much faster than an earlier one to be chosen over it


def faster_strategy(candidates: dict[str, object], probe: StepProbe) -> tuple[object, dict[str, float]]:
    """The fastest candidate by a timed trial step, and each one's seconds per step (logged).

    ``candidates`` come in order of preference: a later one wins only by a clear margin, so that
    measurement noise never trades a simple strategy for a complicated one that is no faster.
    """
    timings = {name: seconds_per_step(probe(strategy)) for name, strategy in candidates.items()}
    best = next(iter(timings))
    for name, seconds in timings.items():
        if seconds < CLEAR_WIN * timings[best]:
            best = name
    figures = ", ".join(f"{name} {seconds * 1e3:.1f} ms/step" for name, seconds in timings.items())
    log.info("strategy trial: %s; training on %s", figures, best)
    return candidates[best], timings


def select_strategy(name: str = "auto", probe: StepProbe | None = None):
    """The strategy for ``name``.

    ``auto``: TPU if one starts, else with 2+ GPUs the faster of mirrored and one GPU by a timed trial
    of ``probe`` (mirrored when there is no probe), else the default strategy.
    """
    if name not in STRATEGIES:
        raise DogkitError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "tpu":
        return _tpu_strategy()
    if name == "auto" and _tpu_present():
        try:
            return _tpu_strategy()
        except DogkitError as exc:
            log.warning("a TPU is attached but %s; training with the default strategy", exc)
            return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "auto" and len(gpus) > 1:
        mirrored = tf.distribute.MirroredStrategy(devices=[d.name for d in gpus])
        if probe is None:
            return mirrored
        one = tf.distribute.get_strategy()  # places everything on the first GPU
        strategy, _ = faster_strategy({"one GPU": one, f"mirrored over {len(gpus)} GPUs": mirrored}, probe)
        return strategy
    return tf.distribute.get_strategy()


def describe(strategy) -> str:
    kind = type(strategy).__name__
    if kind == "_DefaultDistributionStrategy":
        gpus = tf.config.list_logical_devices("GPU")
        return f"default strategy on {'GPU' if gpus else 'CPU'}"
    return f"{kind} with {strategy.num_replicas_in_sync} replicas"


def on_accelerator() -> bool:
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def use_xla(jit: bool, strategy) -> bool:
    """Whether to XLA-compile a training step: on accelerators with one replica. On CPUs, oneDNN's own
    convolutions run about twice as fast as XLA's; across replicas, tf.function without XLA is the
    path tf.distribute supports everywhere."""
    return jit and on_accelerator() and strategy.num_replicas_in_sync == 1


class DistributedStep:
    """A replica step run on every replica's share of a global batch, its outputs summed over replicas.

    ``replica_fn(*inputs, batch_size)`` gets its replica's slices of the global inputs and the global
    batch size (so that dividing by it and summing gives global means). Called with the global
    inputs as NumPy arrays (split along their first axis, as evenly as they go); returns the
    summed outputs as tensors, in the structure ``replica_fn`` returns.
    """

    def __init__(self, strategy, replica_fn, jit: bool):
        self.strategy = strategy
        replica = tf.function(replica_fn, jit_compile=use_xla(jit, strategy))

        @tf.function
        def step(*args):
            outputs = strategy.run(replica, args=args)
            return tf.nest.map_structure(
                lambda value: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None), outputs
            )

        self._step = step

    def __call__(self, *inputs: np.ndarray):
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            args = tuple(tf.constant(a) for a in inputs)
        else:
            parts = [np.array_split(a, replicas) for a in inputs]
            args = tuple(
                self.strategy.experimental_distribute_values_from_function(
                    lambda context, p=p: tf.constant(p[context.replica_id_in_sync_group])
                )
                for p in parts
            )
        return self._step(*args, tf.constant(float(len(inputs[0]))))


def cached_forward(model):
    """``model(inputs, training=False)`` as a tf.function, made once per model and kept on it."""
    forward = getattr(model, "_dogkit_forward", None)
    if forward is None:
        forward = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
        model._dogkit_forward = forward
    return forward


def batched_forward(model, inputs, batch: int = 256) -> np.ndarray:
    """``model(inputs, training=False)`` over batches of ``batch`` rows, as one float32 array.

    Args:
        model: A Keras model (its forward function is cached on it).
        inputs: One array, or a list of arrays for a model of several inputs; each is cut into
            the same row ranges.
        batch: Rows per call.
    """
    forward = cached_forward(model)
    several = isinstance(inputs, (list, tuple))
    arrays = list(inputs) if several else [inputs]
    out = []
    for start in range(0, len(arrays[0]), batch):
        part = [tf.constant(a[start : start + batch]) for a in arrays]
        out.append(forward(part if several else part[0]).numpy())
    if len(out) == 1:
        return out[0]  # a sampler's batch: no copy
    return np.concatenate(out) if out else np.zeros((0, *model.output_shape[1:]), np.float32)
