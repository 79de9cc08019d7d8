"""Benchmark: training and generation speed of each model on this machine.

Run directly: ``python tests/benchmarks/bench_models.py``. For each model, on synthetic crops
with its default batch size: training images per second (after the first, compiling steps) and
generated samples per second (batches of 256). No baseline: these are the README's per-model
lines; the memorizer's comparison with its reference formulation is bench_memorizer.py. Each model is
driven through its phases as the training loop drives it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import varied_images  # noqa: E402
from toolkit.backend import tf  # noqa: E402


def measure(
    name: str, images: np.ndarray, steps: int, options: dict | None = None
) -> tuple[dict[str, tuple[float, int]], float]:
    """Training images/s of each phase (after its first, compiling steps) and generated samples/s;
    ``options`` override the model's default configuration."""
    from toolkit import models
    from toolkit.data.crops import TrainingData

    entry = models.get(name)
    config = entry.config_class()(**(options or {}))
    data = TrainingData(images, np.full(len(images), "x"), Path("bench"), "")
    rng = np.random.default_rng(0)
    model = entry.model_class()(config, data, tf.distribute.get_strategy(), rng, True)
    rates = {}
    for phase in model.phases():
        phase.begin(0)
        if phase.name not in rates:
            batches = list(phase.batches(rng))
            batches = (batches * (1 + (steps + 2) // len(batches)))[: steps + 2]
            for rows in batches[:2]:  # compile
                phase.step(rows)
            start = time.perf_counter()
            for rows in batches[2:]:
                {k: float(v) for k, v in phase.step(rows).items()}
            rates[phase.name] = (sum(len(r) for r in batches[2:]) / (time.perf_counter() - start), len(batches[0]))
        phase.end()
    from toolkit.train.checkpoint import StateArrays

    sampler = entry.model_class().sampler(config, StateArrays.of(model.state()))
    batches = sampler.sample(256 * 5, 0)
    next(batches)  # compiles
    start = time.perf_counter()
    generated = sum(len(batch) for batch in batches)
    return rates, generated / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--models", nargs="*", help="[default: every model in the registry]")
    args = parser.parse_args()
    images = np.stack(varied_images(args.crops, seed=5))
    print(f"{args.crops} crops, {os.cpu_count()} cores, TensorFlow {tf.__version__}, CPU")
    from toolkit.models import MODELS

    for model in args.models or MODELS:
        rates, generate_rate = measure(model, images, args.steps)
        training = "; ".join(f"{phase} {rate:7.0f} images/s (batch {batch})" for phase, (rate, batch) in rates.items())
        print(f"{model:14s} training: {training}   generation {generate_rate:7.0f} samples/s")


if __name__ == "__main__":
    main()
