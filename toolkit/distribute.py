"""Choosing a ``tf.distribute`` strategy: ``auto``, ``none``, ``mirrored`` or ``tpu``.

Without GPUs, ``mirrored`` mirrors over the CPU's logical devices (see ``DOGKIT_LOGICAL_CPUS``
in ``toolkit.backend``), which is how the mirrored path is tested.
"""

from __future__ import annotations

import logging
import os

from .backend import tf
from .errors import DogkitError

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "none", "mirrored", "tpu")


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        raise DogkitError(f"--strategy tpu: no TPU found ({exc})") from None
    return tf.distribute.TPUStrategy(resolver)


def _tpu_present() -> bool:
    return bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or os.path.exists("/dev/accel0"))


def select_strategy(name: str = "auto"):
    """The strategy for ``name``; ``auto``: TPU if found, mirrored with 2+ GPUs, else the default."""
    if name not in STRATEGIES:
        raise DogkitError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "tpu" or (name == "auto" and _tpu_present()):
        return _tpu_strategy()
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def describe(strategy) -> str:
    kind = type(strategy).__name__
    if kind == "_DefaultDistributionStrategy":
        gpus = tf.config.list_logical_devices("GPU")
        return f"default strategy on {'GPU' if gpus else 'CPU'}"
    return f"{kind} with {strategy.num_replicas_in_sync} replicas"
