"""``dogkit run``: prepare, train, pack and score as one job within one time budget.

The same function runs locally, in ``dogkit demo`` and inside the Kaggle kernel. Scoring needs
Inception weights; without them it is skipped, and the job says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from toolkit.errors import BudgetTooSmall, DogkitError
from toolkit.models import DEFAULT_MODEL
from toolkit.train.budget import Deadline, format_seconds

log = logging.getLogger("dogkit")


@dataclass(frozen=True)
class PipelineConfig:
    src: Path  # competition data (any layout), e.g. data/ or /kaggle/input
    work: Path  # crop cache and run folder go here
    out: Path  # the images.zip to write
    budget_s: float | None  # the whole job: prepare, train, pack and score (None: train_s decides it)
    train_s: float | None = None  # instead of a budget: train this long; the budget adds what the rest takes here
    started: float | None = None  # monotonic time the budget counts from (None: now)
    model: str = DEFAULT_MODEL
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"bottleneck": 64}
    crop: str = "bbox"
    workers: int = 0
    strategy: str = "auto"
    score: bool = True  # score the zip when Inception weights can be found
    inception: Path | None = None  # weights file; None: look under inception_roots, then the Keras cache
    inception_roots: tuple[Path, ...] | None = None  # None: $DOGKIT_KAGGLE_INPUT or /kaggle/input
    cache_dir: Path | None = None  # reference features cache (None: the default)
    evaluation: Any = None  # EvalSettings for evaluation while training (None: the defaults)


@dataclass
class PipelineResult:
    out: Path
    crops: Path
    run: Path
    report: Path  # prepare's report.json
    samples: Path  # the run's sample grids
    score: dict[str, Any] | None = None  # the score's JSON object, when scored
    score_skipped: str | None = None  # why scoring was skipped
    seconds: dict[str, float] = field(default_factory=dict)  # per stage
    budget_s: float = 0.0  # as given, or as decided from train_s and the pace measured here
    notes: list[str] = field(default_factory=list)

    def latest_samples(self) -> Path | None:
        """The run's newest sample grid (grids are named by training step), or None."""
        grids = sorted(self.samples.glob("*.png"))
        return grids[-1] if grids else None


def run_pipeline(config: PipelineConfig, say: Callable[[str], object] = log.info) -> PipelineResult:
    """Run the whole job; ``say`` receives one line per stage (progress and timings)."""
    from toolkit.data.prepare import PrepareConfig, prepare

    if (config.budget_s is None) == (config.train_s is None):
        raise ValueError("give the pipeline a budget_s or a train_s, not both")
    started = config.started if config.started is not None else time.monotonic()
    deadline = Deadline(config.budget_s or 0.0, started)
    work = Path(config.work)
    work.mkdir(parents=True, exist_ok=True)
    crops = work / "dogs64.npz"
    result = PipelineResult(
        out=Path(config.out),
        crops=crops,
        run=work / "run",
        report=work / "report.json",
        samples=work / "run" / "samples",
    )
    if config.budget_s is not None:
        say(f"budget {format_seconds(config.budget_s)}; data from {config.src}; work in {work}")
    else:
        say(f"training for {format_seconds(config.train_s)}; data from {config.src}; work in {work}")

    tick = time.monotonic()
    prepared = prepare(PrepareConfig(src=Path(config.src), out=crops, crop=config.crop, workers=config.workers))
    result.seconds["prepare"] = time.monotonic() - tick
    say(
        f"prepare: {prepared.report.crops} crops from {prepared.report.photos} photos "
        f"in {format_seconds(result.seconds['prepare'])}"
    )

    scorer = _scorer(config, say, result) if config.score else None
    if not config.score:
        result.score_skipped = "scoring was turned off"
    score_reserve = scorer.estimate_seconds() if scorer else 0.0

    from toolkit import models
    from toolkit.train.budget import too_small
    from toolkit.train.evaluation import EvalSettings
    from toolkit.train.loop import TrainConfig, train

    evaluation = config.evaluation or EvalSettings()
    if evaluation.inception is None and evaluation.search_roots is None:  # where scoring looks, too
        evaluation = replace(evaluation, inception=config.inception, search_roots=config.inception_roots)
    extractor = None
    if scorer is not None and evaluation.features is None:  # the network scoring loaded evaluates, too
        extractor = scorer.extractor

    tick = time.monotonic()
    try:
        trained = train(
            TrainConfig(
                data=crops,
                run=result.run,
                budget_s=config.budget_s - score_reserve if config.budget_s is not None else 0.0,  # 0: train_s decides
                train_s=config.train_s,
                resume=True,
                strategy=config.strategy,
                pack_separately=False,
                started=started,
                evaluation=evaluation,
                extractor=extractor,
            ),
            models.get(config.model),
            config.model_options,
        )
    except BudgetTooSmall as exc:  # the whole job's budget, with scoring's share
        scoring = f", and scoring takes about {format_seconds(score_reserve)}" if score_reserve else ""
        raise too_small(config.budget_s, exc.needed_s + score_reserve, exc.why + scoring, exc.train_s) from None
    result.seconds["train"] = time.monotonic() - tick
    deadline = Deadline(trained.budget_s + score_reserve, started)
    result.budget_s = deadline.seconds
    result.notes += trained.notes
    state = "complete" if trained.complete else "stopped by the budget"
    say(f"train: {trained.epochs} epochs in {format_seconds(result.seconds['train'])}, {state}")
    for note in trained.notes:
        say(f"note: {note}")
    _say_evaluations(result.run, say)

    from submission import IMAGE_COUNT
    from toolkit.pack.from_run import describe_snapshot, pack_run
    from toolkit.progress import progress_bar
    from toolkit.train.pace import PackWatch

    tick = time.monotonic()
    watch = PackWatch(IMAGE_COUNT, trained.pack, deadline, say)  # pack_run's default count
    with progress_bar(IMAGE_COUNT, "generate", unit="img") as bar:

        def progress(n: int) -> None:
            bar.update(n)
            watch.update(n)

        packed = pack_run(result.run, result.out, progress=progress)
    result.seconds["pack"] = time.monotonic() - tick
    say(
        f"pack: {packed.count} images from {describe_snapshot(packed)} into {packed.path} in "
        f"{format_seconds(result.seconds['pack'])}"
    )

    if scorer is not None:
        left = deadline.left()
        if left < scorer.estimate_seconds():
            result.score_skipped = (
                f"scoring needs about {format_seconds(scorer.estimate_seconds())} and only "
                f"{format_seconds(max(left, 0))} of the budget is left"
            )
        else:
            tick = time.monotonic()
            result.score = scorer.score(result.out)
            result.seconds["score"] = time.monotonic() - tick
            say(f"score: {scorer.describe(result.score)} in {format_seconds(result.seconds['score'])}")
    if result.score_skipped:
        say(f"score: skipped: {result.score_skipped}")
    say(f"done in {format_seconds(deadline.elapsed())} of {format_seconds(deadline.seconds)}")
    return result


def _say_evaluations(run: Path, say) -> None:
    """The table of the run's evaluations while training, the best marked."""
    from toolkit.train.evaluation import chosen_by, evaluation_table
    from toolkit.train.runs import RunFolder

    folder = RunFolder(run)
    best = folder.best_evaluation()
    lines = evaluation_table(folder.read_history(), best and best.get("generator_steps"))
    if lines:
        by = f", the best by {chosen_by(best)}" if best else ""
        say(f"evaluations while training ({best.get('space', '') if best else ''}{by}):")
        for line in lines:
            say("  " + line)


class _Scorer:
    """Scores images.zip against the competition photos; knows roughly how long that takes."""

    def __init__(self, config: PipelineConfig, extractor):
        self.config = config
        self.extractor = extractor
        self._estimate: float | None = None

    def estimate_seconds(self) -> float:
        """Seconds a score will take: the extractor's measured speed times the images it must see."""
        if self._estimate is None:
            import numpy as np

            from toolkit.metric.score import images_to_extract

            sample = np.random.default_rng(0).integers(0, 256, size=(64, 64, 64, 3), dtype=np.uint8)
            # the first batch of a size loads the network and traces it for that size: time the second
            self.extractor.extract(sample[:32], 32)
            tick = time.monotonic()
            self.extractor.extract(sample[32:], 32)
            per_image = (time.monotonic() - tick) / 32
            images = images_to_extract(self.config.src, self.extractor, self.config.cache_dir)
            self._estimate = 1.2 * per_image * images + 10.0  # + reading the photos and the zip
        return self._estimate

    def score(self, zip_path: Path) -> dict[str, Any]:
        from toolkit.metric.score import ScoreConfig, score_zip, write_score_json

        report = score_zip(
            ScoreConfig(
                zip_path=zip_path,
                reference=self.config.src,
                inception=self.config.inception,
                cache_dir=self.config.cache_dir,
            ),
            extractor=self.extractor,
        )
        write_score_json(report)
        for warning in report.warnings:
            log.warning("warning: %s", warning)
        return report.to_dict()

    @staticmethod
    def describe(score: dict[str, Any]) -> str:
        label = "MiFID" if score["extractor"]["official"] else "MiFID (indicative: not the competition's graph)"
        return (
            f"{label} {score['mifid']:.3f} (FID {score['fid']:.3f}, memorization distance {score['distance']:.4f}; "
            f"features: {score['extractor']['space']})"
        )


def _scorer(config: PipelineConfig, say, result: PipelineResult) -> _Scorer | None:
    from toolkit.metric.features import find_extractor

    try:
        extractor = find_extractor(config.inception, search_roots=config.inception_roots)
    except DogkitError as exc:
        result.score_skipped = f"no Inception weights ({exc})"
        return None
    return _Scorer(config, extractor)
