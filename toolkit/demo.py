"""``dogkit demo``: the whole job on a small built-in dataset, in under three minutes on 2 cores.

Builds a Kaggle-shaped dataset (procedural dog-like figures on textured backgrounds, VOC
annotations, eight breeds, zipped as the competition ships it), then runs the pipeline on it.
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
    budget_s: float = 100.0  # for the whole demo, building the dataset included
    seed: int = 0


@dataclass(frozen=True)
class DemoResult:
    images_zip: Path
    sample_grid: Path
    data_report: Path
    contact_sheet: Path
    pipeline: PipelineResult
    seconds: float


MARKER = ".dogkit-demo"  # marks a folder the demo made, which a later demo may clear


def run_demo(config: DemoConfig, say: Callable[[str], object] = print) -> DemoResult:
    """Build the dataset and run the pipeline in ``config.out``.

    Raises:
        DogkitError: ``config.out`` holds files the demo did not make (they are left alone).
    """
    started = time.monotonic()
    out = Path(config.out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise DogkitError(f"{out}: not empty and not made by `dogkit demo`; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)  # a demo always starts afresh
    shutil.rmtree(out / "work", ignore_errors=True)
    write_dataset(data / COMPETITION, make_photos(config.photos, seed=config.seed), layout="zips")
    say(f"demo: built {config.photos} synthetic photos in {data} in {format_seconds(time.monotonic() - started)}")
    result = run_pipeline(
        PipelineConfig(src=data, work=out / "work", out=out / "images.zip", budget_s=config.budget_s, started=started),
        say=say,
    )
    sample_grid = out / "samples.png"
    shutil.copyfile(result.latest_samples(), sample_grid)
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
    )
