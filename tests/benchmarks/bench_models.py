"""Benchmark: training and generation speed of each model on this machine.

Run directly: ``python tests/benchmarks/bench_models.py``. For each model, on synthetic crops
with its default batch size: training images per second (after the first, compiling steps) and
generated samples per second (batches of 256). No baseline: these are the README's per-model
lines; the memorizer's comparison with its reference formulation is bench_memorizer.py.
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
from toolkit.train.runs import RunFolder  # noqa: E402


def measure(model: str, images: np.ndarray, steps: int, run: Path) -> tuple[float, float, int]:
    from toolkit.train.loop import model_classes

    trainer_class, config_class = model_classes(model)
    config = config_class()
    trainer = trainer_class(config, images, RunFolder(run), tf.distribute.get_strategy())
    batch = config.batch_size
    rng = np.random.default_rng(0)
    if model == "memorizer":
        trainer.coach.targets.assign(trainer.table.images())
        step = trainer.coach.train_step
    else:
        step = trainer.train_step
    for _ in range(2):  # compile
        step(np.sort(rng.permutation(len(images))[:batch]))
    start = time.perf_counter()
    for _ in range(steps):
        step(np.sort(rng.permutation(len(images))[:batch]))
    train_rate = steps * batch / (time.perf_counter() - start)
    trainer.seconds_per_generated_image()  # compile generation
    generate_rate = 1.0 / trainer.seconds_per_generated_image()
    return train_rate, generate_rate, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    images = np.stack(varied_images(args.crops, seed=5))
    print(f"{args.crops} crops, {os.cpu_count()} cores, TensorFlow {tf.__version__}, CPU")
    import tempfile

    for model in ("memorizer", "dcgan", "dcgan-radford"):
        with tempfile.TemporaryDirectory() as tmp:
            train_rate, generate_rate, batch = measure(model, images, args.steps, Path(tmp))
        label = f"{model} ({'coach phase, ' if model == 'memorizer' else ''}batch {batch})"
        print(f"{label:36s} training {train_rate:7.0f} images/s   generation {generate_rate:7.0f} samples/s")


if __name__ == "__main__":
    main()
