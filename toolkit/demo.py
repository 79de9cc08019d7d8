"""``dogkit demo``: the whole job on a small built-in dataset, in about two minutes.

Builds a Kaggle-shaped dataset (procedural dog-like figures on textured backgrounds, VOC
annotations, eight breeds, zipped as the competition ships it), then runs the pipeline on it.
Without a budget the demo fits the machine it runs on: it trains for a fixed minute (enough for
the memorizer to finish memorizing the demo's crops and coach its generator for several rounds,
even on a slow machine) and adds what packing was measured to take there.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.competition import COMPETITION
from toolkit.data.synthetic import make_photos, write_dataset
from toolkit.errors import DogkitError
from toolkit.pipeline import PipelineConfig, PipelineResult, run_pipeline
from toolkit.train.budget import format_seconds


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("demo")  # everything the demo makes goes here
    photos: int = 400  # synthetic photos (about 440 dogs: some photos hold two)
    budget_s: float | None = None  # for the whole demo, building the dataset included (None: from train_s)
    train_s: float = 60.0  # without a budget: training time, then what packing takes here is added
    seed: int = 0
    started: float | None = None  # monotonic time the demo's budget counts from (None: now)


@dataclass(frozen=True)
class DemoResult:
    images_zip: Path
    sample_grid: Path
    data_report: Path
    contact_sheet: Path
    pipeline: PipelineResult
    seconds: float
    budget_s: float  # as given, or as decided on this machine
    grid_caption: str  # what the sample grid shows


MARKER = ".dogkit-demo"  # marks a folder the demo made, which a later demo may clear


def run_demo(config: DemoConfig, say: Callable[[str], object] = print) -> DemoResult:
    """Build the dataset and run the pipeline in ``config.out``.

    Raises:
        DogkitError: ``config.out`` holds files the demo did not make (they are left alone);
            ``BudgetTooSmall``: ``config.budget_s`` leaves less than a minute to train here.
    """
    started = config.started if config.started is not None else time.monotonic()
    out = Path(config.out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise DogkitError(f"{out}: not empty and not made by `dogkit demo`; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)  # a demo always starts afresh
    shutil.rmtree(out / "work", ignore_errors=True)
    if config.budget_s is None:
        say(
            f"demo: builds {config.photos} synthetic dog photos, trains the memorizer for "
            f"{format_seconds(config.train_s)} and packs 10000 images; the time packing takes is measured "
            "on this machine before training, and the demo's length said then"
        )
    write_dataset(data / COMPETITION, make_photos(config.photos, seed=config.seed), layout="zips")
    say(f"demo: built {config.photos} synthetic photos in {data} in {format_seconds(time.monotonic() - started)}")
    train_s = config.train_s if config.budget_s is None else None
    result = run_pipeline(
        PipelineConfig(data, out / "work", out / "images.zip", config.budget_s, train_s=train_s, started=started),
        say=say,
    )
    sample_grid = out / "samples.png"
    latest = result.latest_samples()
    if latest is not None:
        shutil.copyfile(latest, sample_grid)
    else:
        sample_grid.unlink(missing_ok=True)
    report = out / "report.json"
    shutil.copyfile(result.report, report)
    sheet = out / "contact_sheet.png"
    shutil.copyfile(result.report.with_name("contact_sheet.png"), sheet)
    return DemoResult(
        images_zip=result.out,
        sample_grid=sample_grid,
        data_report=report,
        contact_sheet=sheet,
        pipeline=result,
        seconds=time.monotonic() - started,
        budget_s=result.budget_s,
        grid_caption=grid_caption(latest),
    )


def grid_caption(grid: Path | None) -> str:
    """What a memorizer run's sample grid ``NNNNN_<label>.png`` shows (NNNNN: epochs trained)."""
    if grid is None:
        return "none: training made no sample grid"
    epochs, _, label = grid.stem.partition("_")
    done = f"after {int(epochs)} epochs" if epochs.isdigit() else "after training"
    if label.startswith("coach_round_"):
        return (
            f"the generator {done} (coach round {int(label.rpartition('_')[2])}): rows 1-4, 32 crops drawn from "
            "their codes; rows 5-8, mixtures of two crops' codes (0.7 and 0.3), the kind of image images.zip holds"
        )
    return f"the memory {done}: 32 crops as the discriminator memorized them (the generator was not coached yet)"
