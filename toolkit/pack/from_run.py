"""``dogkit pack --run``: generate images from a trained run and stream them into images.zip."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from submission import IMAGE_COUNT, write_images_zip
from toolkit.errors import DogkitError
from toolkit.train.runs import RunFolder
from toolkit.visuals import to_uint8


@dataclass(frozen=True)
class GeneratedPack:
    path: Path
    count: int
    model: str
    trained: bool  # False: the run's model is the untrained initial one
    seed: int


class MemorizerSampler:
    """Images from a memorizer run's generator, by the generalize rule."""

    def __init__(self, run: RunFolder, config: dict):
        from toolkit.models.memorizer.networks import build_generator, load_generator_weights

        model_config = config["model_config"]
        checkpoint = run.load_checkpoint("coach")
        self.trained = not checkpoint.state.get("untrained", False)
        self.n_codes = checkpoint.arrays["generator/000"].shape[0]  # the code table: one row per memorized crop
        self.generator = build_generator(
            self.n_codes, model_config["bottleneck"], model_config.get("precision", "auto")
        )
        load_generator_weights(self.generator, checkpoint.arrays)
        self.default_mix = model_config["mix"]
        self.default_seed = model_config["seed"]

    def batches(self, count: int, seed: int, mix: float | None, batch: int) -> Iterator[np.ndarray]:
        from toolkit.models.memorizer.networks import generalize_codes, generate

        codes, weights = generalize_codes(count, self.n_codes, self.default_mix if mix is None else mix, seed)
        for start in range(0, count, batch):
            yield generate(self.generator, codes[start : start + batch], weights[start : start + batch], batch)


class NoiseSampler:
    """Images from a DCGAN run's generator, fed seeded Gaussian noise."""

    def __init__(self, run: RunFolder, config: dict):
        from toolkit.models.dcgan.model import CHECKPOINT
        from toolkit.models.dcgan.networks import DcganConfig, RadfordConfig, build_networks
        from toolkit.train.runs import load_variables

        config_class = RadfordConfig if config["model"] == "dcgan-radford" else DcganConfig
        model_config = config_class(**config["model_config"])
        checkpoint = run.load_checkpoint(CHECKPOINT)
        self.trained = not checkpoint.state.get("untrained", False)
        self.generator, _ = build_networks(model_config)
        load_variables("generator", self.generator.weights, checkpoint.arrays)
        self.default_seed = model_config.seed

    def batches(self, count: int, seed: int, mix: float | None, batch: int) -> Iterator[np.ndarray]:
        from toolkit.models.dcgan.model import generate, to_pixels
        from toolkit.models.dcgan.networks import NOISE_DIM

        if mix is not None:
            raise DogkitError("--mix applies to memorizer runs only")
        noise = np.random.default_rng(seed).standard_normal((count, NOISE_DIM)).astype(np.float32)
        for start in range(0, count, batch):
            yield to_pixels(generate(self.generator, noise[start : start + batch], batch))


# model -> (sampler, the checkpoint it reads)
SAMPLERS = {
    "memorizer": (MemorizerSampler, "coach"),
    "dcgan": (NoiseSampler, "gan"),
    "dcgan-radford": (NoiseSampler, "gan"),
}


def load_sampler(run_path: str | os.PathLike):
    run = RunFolder(run_path)
    config = run.read_config()
    model = config.get("model")
    if model not in SAMPLERS:
        raise DogkitError(f"{run.path}: unknown model {model!r} in {run.config_path.name}")
    sampler, checkpoint = SAMPLERS[model]
    if not run.has_checkpoint(checkpoint):
        raise DogkitError(f"{run.path}: no trained generator yet (no checkpoints/{checkpoint}.npz); run `dogkit train`")
    return model, sampler(run, config)


def generated_images(sampler, count: int, seed: int, mix: float | None, batch: int = 256) -> Iterator[np.ndarray]:
    """Each generated image as (64, 64, 3) uint8; NaN or inf from the generator is an error."""
    index = 0
    for images in sampler.batches(count, seed, mix, batch):
        finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
        if not finite.all():
            bad = index + int(np.argmin(finite))
            raise DogkitError(
                f"the generator produced NaN or inf values (image {bad}); the model has diverged, "
                "so no images.zip was written"
            )
        yield from to_uint8(images)
        index += len(images)


def pack_run(
    run_path: str | os.PathLike,
    out: str | os.PathLike,
    count: int = IMAGE_COUNT,
    *,
    mix: float | None = None,
    seed: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> GeneratedPack:
    """Generate ``count`` images from the run's model and write them to the zip ``out``.

    The same run, seed and mix give the same zip, byte for byte.
    """
    if mix is not None and not 0.0 <= mix <= 1.0:
        raise DogkitError(f"--mix must be between 0 and 1, got {mix}")
    model, sampler = load_sampler(run_path)
    seed = sampler.default_seed if seed is None else seed
    path = write_images_zip(generated_images(sampler, count, seed, mix), out, count, progress=progress)
    return GeneratedPack(path=path, count=count, model=model, trained=sampler.trained, seed=seed)
