"""``dogkit pack --run``: generate images from a trained run and stream them into images.zip."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from submission import IMAGE_COUNT, write_images_zip
from toolkit import models
from toolkit.errors import DogkitError
from toolkit.train.options import check_values
from toolkit.train.runs import Position, RunFolder
from toolkit.visuals import to_uint8


@dataclass(frozen=True)
class GeneratedPack:
    path: Path
    count: int
    model: str
    trained: bool  # False: the run's model is the untrained initial one
    seed: int


@dataclass(frozen=True)
class LoadedSampler:
    model: str  # the run's model
    config: Any  # the run's model config
    sampler: Any  # its Sampler (toolkit.models.base)
    seed: int  # the run's seed: the default sampling seed
    position: Position  # where the checkpoint stands

    @property
    def trained(self) -> bool:
        return self.position.generator_trained()


def load_sampler(run_path: str | os.PathLike, entry=None) -> LoadedSampler:
    """The sampler of the run in ``run_path``, built from its latest checkpoint.

    ``entry``: the run's model (a ``toolkit.models.ModelEntry``); by default, the registry's entry of
    the model its config.json names.

    Raises:
        DogkitError: not a run folder, an unknown model, no checkpoint yet, or a damaged one.
    """
    run = RunFolder(run_path)
    config = run.read_config()
    model = config.get("model")
    if entry is None:
        if model not in models.MODELS:
            raise DogkitError(f"{run.path}: unknown model {model!r} in {run.config_path.name}")
        entry = models.get(model)
    config_class = entry.config_class()
    model_config = config_class(**run.saved_model_config(config_class))
    # verify=False: truncation still shows; a full CRC pass would read GBs
    checkpoint = run.load_checkpoint(verify=False, use="packing")
    if checkpoint is None:
        raise DogkitError(f"{run.path}: no trained generator yet (no checkpoint); run `dogkit train`")
    try:
        sampler = entry.model_class().sampler(model_config, checkpoint.parts)
        return LoadedSampler(model, model_config, sampler, model_config.seed, Position.from_dict(checkpoint.position))
    except (KeyError, ValueError) as exc:
        raise DogkitError(f"{run.checkpoints_dir}: the checkpoint does not hold a {model} generator ({exc})") from None
    finally:
        checkpoint.close()


def generated_images(sampler, count: int, seed: int, options: dict[str, Any]) -> Iterator[np.ndarray]:
    """Each generated image as (64, 64, 3) uint8; NaN or inf from the generator is an error."""
    index = 0
    for images in sampler.sample(count, seed, **options):
        finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
        if not finite.all():
            bad = index + int(np.argmin(finite))
            raise DogkitError(
                f"the generator produced NaN or inf values (image {bad}); the model has diverged, "
                "so no images.zip was written"
            )
        yield from to_uint8(images)
        index += len(images)


def pack_estimate(run_path: str | os.PathLike, count: int) -> str:
    """What ``dogkit pack --run`` is about to do and how long it should take, from the pace the run
    measured on the machine that trained it."""
    from toolkit.train.budget import format_seconds
    from toolkit.train.pace import PackPace

    doing = f"generating and packing {count:,} images from {run_path}"
    try:
        pace = PackPace.from_dict(RunFolder(run_path).read_timing()["pack"]).for_count(count)
    except (KeyError, TypeError):
        return f"{doing}: its timing.json holds no measured pace, so no estimate"
    return f"{doing}: about {format_seconds(pace.seconds())} ({pace.describe()}, measured where it trained)"


def pack_run(
    run_path: str | os.PathLike,
    out: str | os.PathLike,
    count: int = IMAGE_COUNT,
    *,
    options: dict[str, Any] | None = None,
    seed: int | None = None,
    progress: Callable[[int], object] | None = None,
    model=None,
) -> GeneratedPack:
    """Generate ``count`` images from the run's model and write them to the zip ``out``.

    ``options``: the model's sampling options (e.g. the memorizer's ``mix``), over the run's own.
    ``model``: the run's model entry (default: the registry's, by the name in its config.json).
    The same run, seed and options give the same zip, byte for byte.
    """
    loaded = load_sampler(run_path, model)
    options = check_values(type(loaded.config), options or {}, sampling_only=True)
    seed = loaded.seed if seed is None else seed
    path = write_images_zip(generated_images(loaded.sampler, count, seed, options), out, count, progress=progress)
    return GeneratedPack(path=path, count=count, model=loaded.model, trained=loaded.trained, seed=seed)
