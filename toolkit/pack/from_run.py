"""``dogkit pack --run``: generate images from a trained run and stream them into images.zip."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submission import IMAGE_COUNT, write_images_zip
from toolkit import models
from toolkit.errors import DogkitError
from toolkit.train.options import check_values
from toolkit.train.runs import Position, RunFolder
from toolkit.train.sampling import generated_images


@dataclass(frozen=True)
class GeneratedPack:
    path: Path
    count: int
    model: str
    trained: bool  # False: the run's model is the untrained initial one
    seed: int
    snapshot: str = "latest"  # which checkpoint: "best" or "latest"
    evaluation: dict | None = None  # the best snapshot's evaluation


@dataclass(frozen=True)
class LoadedSampler:
    model: str  # the run's model
    config: Any  # the run's model config
    sampler: Any  # its Sampler (toolkit.models.base)
    seed: int  # the run's seed: the default sampling seed
    position: Position  # where the checkpoint stands
    snapshot: str = "latest"  # "best" (the best evaluation's checkpoint) or "latest"
    evaluation: dict | None = None  # the best snapshot's evaluation (FID, d, MiFID, its feature space)

    @property
    def trained(self) -> bool:
        return self.position.generator_trained()


def load_sampler(run_path: str | os.PathLike, entry=None, snapshot: str | None = None) -> LoadedSampler:
    """The sampler of the run in ``run_path``, built from its best snapshot or its latest checkpoint.

    ``entry``: the run's model (a ``toolkit.models.ModelEntry``); by default, the registry's entry of
    the model its config.json names. ``snapshot``: "best", "latest", or None: the best when the run
    has one (it made evaluations while training), else the latest. A damaged best snapshot is said in
    one line, and the latest checkpoint is used.

    Raises:
        DogkitError: not a run folder, an unknown model, no checkpoint yet, or a damaged one; "best"
            asked of a run that has no best snapshot.
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
    if snapshot == "best" and not run.has_best():
        raise DogkitError(
            f"{run.path}: no best snapshot (the run made no evaluations while training); pack --snapshot latest"
        )
    # verify=False: truncation still shows; a full CRC pass would read GBs
    checkpoint = run.load_best() if snapshot != "latest" and run.has_best() else None
    chosen = "best" if checkpoint is not None else "latest"
    checkpoint = checkpoint or run.load_checkpoint(verify=False, use="packing")
    if checkpoint is None:
        raise DogkitError(f"{run.path}: no trained generator yet (no checkpoint); run `dogkit train`")
    try:
        sampler = entry.model_class().sampler(model_config, checkpoint.parts)
        return LoadedSampler(
            model,
            model_config,
            sampler,
            model_config.seed,
            Position.from_dict(checkpoint.position),
            chosen,
            checkpoint.evaluation,
        )
    except (KeyError, ValueError) as exc:
        raise DogkitError(f"{run.checkpoints_dir}: the checkpoint does not hold a {model} generator ({exc})") from None
    finally:
        checkpoint.close()


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
    snapshot: str | None = None,
) -> GeneratedPack:
    """Generate ``count`` images from the run's model and write them to the zip ``out``.

    ``options``: the model's sampling options (e.g. the memorizer's ``mix``), over the run's own.
    ``model``: the run's model entry (default: the registry's, by the name in its config.json).
    ``snapshot``: "best", "latest" or None (the best when there is one; see ``load_sampler``).
    The same run, seed and options give the same zip, byte for byte.
    """
    loaded = load_sampler(run_path, model, snapshot)
    options = check_values(type(loaded.config), options or {}, sampling_only=True)
    seed = loaded.seed if seed is None else seed
    path = write_images_zip(generated_images(loaded.sampler, count, seed, options), out, count, progress=progress)
    return GeneratedPack(
        path=path,
        count=count,
        model=loaded.model,
        trained=loaded.trained,
        seed=seed,
        snapshot=loaded.snapshot,
        evaluation=loaded.evaluation,
    )


def describe_snapshot(pack: GeneratedPack) -> str:
    """Which checkpoint was packed, and its evaluation when it is the best snapshot."""
    if pack.snapshot != "best" or pack.evaluation is None:
        return "the latest checkpoint"
    from toolkit.train.evaluation import chosen_by, describe_best

    by = " by FID" if chosen_by(pack.evaluation) == "FID" else ""
    return f"the best snapshot{by} ({describe_best(pack.evaluation)})"
