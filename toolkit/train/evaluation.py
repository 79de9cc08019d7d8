"""Evaluation while training: FID, d and MiFID of the model's images, as it trains, in a feature space.

The training loop hands an ``Evaluator`` the model's sampler now and then; it generates
``images`` images as ``dogkit pack`` would (same sampler, same seed every time, so that two
evaluations differ only by the model), extracts their features and compares them with the run's
reference: up to ``reference_crops`` of the run's training crops (a fixed, seeded choice), whose
features are computed once per run and feature space and cached in ``<run>/eval/``.

The numbers are MiFID's (``toolkit.metric.mifid``) with the same numerics as ``dogkit score``, but
from fewer images and against training crops, not the competition's photos: they rank a run's own
snapshots and compare runs scored the same way; they are not the leaderboard's figure. The best
snapshot is the one with the lowest MiFID in Inception's spaces, the lowest FID in any other
(``Evaluator.criterion``).

Every evaluation is timed; the loop plans with ``estimate()`` and never starts one that would not
fit before its deadline. By default (``every_s`` None) evaluation takes at most ``share`` of the
training time, the reference's features included.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import DogkitError
from toolkit.train.budget import format_seconds

log = logging.getLogger("dogkit")

EVAL_IMAGES = 2000  # images generated per evaluation
REFERENCE_CROPS = 10_000  # training crops the evaluations compare with
EVAL_SHARE = 0.05  # by default, evaluation's share of the training time at most
EVAL_BATCH = 50  # images per forward pass of the feature network
EVAL_PHASE = "eval"  # history.csv's phase column for an evaluation's row
_REFERENCE_SEED = 0x5EED_E7A1  # the reference crops' choice: the same for every run on the same crops


@dataclass(frozen=True)
class EvalSettings:
    """What ``dogkit train --eval-every/--eval-images/--features/--inception`` ask for."""

    enabled: bool = True  # False: --eval-every off
    every_s: float | None = None  # None: as often as ``share`` of the training time allows
    images: int = EVAL_IMAGES
    reference_crops: int = REFERENCE_CROPS
    share: float = EVAL_SHARE
    features: Path | None = None  # a Keras feature model (--features)
    inception: Path | None = None  # Inception graph or Keras weights (--inception)
    search_roots: tuple[Path, ...] | None = None  # where find_extractor looks (None: its default)

    def __post_init__(self):
        if self.every_s is not None and not (math.isfinite(self.every_s) and self.every_s > 0):
            raise ValueError(f"eval_every must be a positive, finite time, got {self.every_s!r}")
        if isinstance(self.images, bool) or not isinstance(self.images, int) or self.images < 2:
            raise ValueError(f"eval_images must be an integer of at least 2, got {self.images!r}")


@dataclass(frozen=True)
class Evaluation:
    """One evaluation's figures and where in training it was made."""

    fid: float
    distance: float  # memorization distance d
    distance_thresholded: float
    mifid: float
    images: int
    seconds: float  # its wall time: generating, features and statistics
    generator_steps: int
    epochs_done: int
    round: int
    elapsed: float  # seconds since the budget began

    def history_row(self) -> dict[str, Any]:
        return {
            "phase": EVAL_PHASE,
            "round": self.round,
            "epoch": self.epochs_done,
            "steps": self.generator_steps,
            "learning_rate": "",
            "seconds": f"{self.seconds:.3f}",
            "step_seconds": "0.000",
            "elapsed": f"{self.elapsed:.1f}",
            "eval_fid": f"{self.fid:.6g}",
            "eval_distance": f"{self.distance:.6g}",
            "eval_mifid": f"{self.mifid:.6g}",
            "eval_images": self.images,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluation_rows(history: list[Mapping[str, str]]) -> list[dict[str, float]]:
    """The evaluations in history.csv's rows: elapsed, steps, eval_fid, eval_distance, eval_mifid."""
    rows = []
    for row in history:
        if row.get("phase") != EVAL_PHASE:
            continue
        try:
            rows.append(
                {
                    "elapsed": float(row["elapsed"]),
                    "steps": int(row["steps"]),
                    **{key: float(row[key]) for key in ("eval_fid", "eval_distance", "eval_mifid")},
                }
            )
        except (KeyError, TypeError, ValueError):
            continue
    return rows


def evaluation_table(history: list[Mapping[str, str]], best_steps: int | None = None) -> list[str]:
    """Lines of a table of the run's evaluations (for the log); the best one marked."""
    rows = evaluation_rows(history)
    if not rows:
        return []
    lines = [f"{'elapsed':>9} {'steps':>8} {'FID':>10} {'d':>8} {'MiFID':>10}"]
    for row in rows:
        mark = "  best" if best_steps is not None and row["steps"] == best_steps else ""
        lines.append(
            f"{format_seconds(row['elapsed']):>9} {row['steps']:>8} {row['eval_fid']:>10.3f} "
            f"{row['eval_distance']:>8.4f} {row['eval_mifid']:>10.3f}{mark}"
        )
    return lines


def describe_best(evaluation: Mapping[str, Any]) -> str:
    """A best snapshot's figures, where it stands and its space, as `train`, `pack` and the kernel say them."""
    return (
        f"MiFID {evaluation['mifid']:.3f}, FID {evaluation['fid']:.3f}, d {evaluation['distance']:.4f} at "
        f"{evaluation['generator_steps']:,} generator steps, in {evaluation.get('space', 'its feature space')}"
    )


def chosen_by(evaluation: Mapping[str, Any]) -> str:
    """The figure a best snapshot was chosen by (``Evaluator.criterion``), as it is written."""
    return "FID" if evaluation.get("criterion") == "fid" else "MiFID"


def reference_choice(crops: np.ndarray, count: int) -> np.ndarray:
    """The reference crops: all of them, or ``count`` chosen at random (always the same ones)."""
    if len(crops) <= count:
        return crops
    rows = np.sort(np.random.default_rng(_REFERENCE_SEED).choice(len(crops), count, replace=False))
    return crops[rows]


class Evaluator:
    """Scores a model's images against the run's reference crops in one feature space; times itself."""

    def __init__(self, extractor, settings: EvalSettings, eval_dir: Path, seed: int, fingerprint: str):
        self.extractor = extractor
        self.settings = settings
        self.eval_dir = eval_dir
        self.seed = seed
        self.fingerprint = fingerprint  # the crops': a reference cache of other crops is not reused
        self.reference: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # features, mu, sigma
        self.per_image_s = 0.0  # the feature network, per image
        self.statistics_s = 0.0  # FID and d from the features
        self.last_s: float | None = None  # the last evaluation's wall time
        self.spent_s = 0.0  # all evaluations' and the reference's wall time in this process
        self.count = 0

    @property
    def space(self) -> str:
        return self.extractor.space

    @property
    def criterion(self) -> str:
        """What the best snapshot is chosen by: MiFID in Inception's spaces, whose features its 0.1
        threshold was set for; FID in any other, where that threshold can count every image as
        memorized (the synthetic benchmark space does) and MiFID then ranks by noise in d."""
        return "mifid" if getattr(self.extractor, "kind", "features") in ("graph", "keras") else "fid"

    @property
    def criterion_name(self) -> str:
        return {"mifid": "MiFID", "fid": "FID"}[self.criterion]

    @property
    def cache_path(self) -> Path:
        return self.eval_dir / f"reference-{self.extractor.identity}-{self.fingerprint[:16]}.npz"

    def measure(self, crops: np.ndarray) -> None:
        """Time the feature network on two batches of the reference crops (the first loads it)."""
        probe = (
            crops[: 2 * EVAL_BATCH]
            if len(crops) >= 2 * EVAL_BATCH
            else np.resize(crops, (2 * EVAL_BATCH, *crops.shape[1:]))
        )
        self.extractor.extract(probe[:EVAL_BATCH], EVAL_BATCH)
        tick = time.perf_counter()
        features = self.extractor.extract(probe[EVAL_BATCH:], EVAL_BATCH)
        self.per_image_s = (time.perf_counter() - tick) / EVAL_BATCH
        # FID and d of random features of this width: the statistics cost, measured
        width = features.shape[1]
        rng = np.random.default_rng(0)
        reference = rng.standard_normal((len(crops), width)).astype(np.float32)
        tick = time.perf_counter()
        _figures(rng.standard_normal((self.settings.images, width)).astype(np.float32), reference)
        self.statistics_s = time.perf_counter() - tick

    def reference_cached(self) -> bool:
        return self.cache_path.is_file()

    def reference_estimate(self, crops: int) -> float:
        return 0.0 if self.reference_cached() else self.per_image_s * crops

    def estimate(self, images_per_second: float) -> float:
        """Seconds one evaluation takes: the last one measured, else from the measured parts."""
        if self.last_s is not None:
            return 1.1 * self.last_s
        n = self.settings.images
        return 1.2 * (n / max(images_per_second, 1e-9) + n * self.per_image_s + self.statistics_s)

    def load_reference(self, crops: np.ndarray) -> float:
        """The features of the reference ``crops`` (``reference_choice``'s): from the run's cache, or
        computed and cached. Returns seconds taken."""
        from toolkit.data.crops import save_npz
        from toolkit.metric.mifid import feature_statistics
        from toolkit.metric.score import load_reference_npz

        tick = time.perf_counter()
        path = self.cache_path
        if path.is_file():
            try:
                cached = load_reference_npz(path, self.extractor)
            except DogkitError as exc:
                log.warning("warning: %s; computing the reference features again", exc)
            else:
                self.reference = (cached.features, cached.mu, cached.sigma)
        if self.reference is None:
            log.info("evaluation: features of %d training crops (%s), once per run", len(crops), self.space)
            features = self.extractor.extract(crops, EVAL_BATCH)
            mu, sigma = feature_statistics(features)
            self.reference = (features, mu, sigma)
            try:
                self.eval_dir.mkdir(parents=True, exist_ok=True)
                save_npz(path, features=features, m=mu, s=sigma, extractor=np.array(self.extractor.identity))
            except OSError as exc:
                log.warning("warning: could not cache the reference features in %s (%s)", path, exc)
        seconds = time.perf_counter() - tick
        self.spent_s += seconds
        return seconds

    def evaluate(self, sampler, where: Mapping[str, int], elapsed: float) -> Evaluation:
        """FID, d and MiFID of ``settings.images`` images from ``sampler`` against the reference.

        Raises:
            DogkitError: the generator made NaN or inf.
        """
        from toolkit.train.sampling import generated_images

        if self.reference is None:
            raise RuntimeError("load_reference first")
        tick = time.perf_counter()
        with _quiet_tensorflow():  # a sampler built per evaluation traces anew, and TensorFlow warns of it
            images = np.stack(list(generated_images(sampler, self.settings.images, self.seed, {})))
        features = self.extractor.extract(images, EVAL_BATCH)
        result = _figures(features, self.reference[0], self.reference[1:])
        seconds = time.perf_counter() - tick
        self.last_s = seconds
        self.spent_s += seconds
        self.count += 1
        return Evaluation(
            fid=result.fid,
            distance=result.distance,
            distance_thresholded=result.distance_thresholded,
            mifid=result.mifid,
            images=len(images),
            seconds=seconds,
            generator_steps=where["generator_steps"],
            epochs_done=where["epochs_done"],
            round=where["round"],
            elapsed=elapsed + seconds,
        )


@contextlib.contextmanager
def _quiet_tensorflow():
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _figures(features: np.ndarray, reference: np.ndarray, stats=None):
    from toolkit.metric.mifid import mifid

    try:
        return mifid(features, reference, ref_stats=stats)
    except ValueError as exc:
        raise DogkitError(f"evaluation: MiFID cannot be computed ({exc})") from None


def find_evaluation_extractor(settings: EvalSettings):
    """The extractor to evaluate with, or (None, why not) when there is none.

    Raises:
        DogkitError: a --features or --inception file that cannot be used (named).
    """
    from toolkit.metric.features import find_extractor, requested_features_extractor

    extractor = requested_features_extractor(settings.features, settings.inception)
    if extractor is not None:
        return extractor, None
    if settings.inception is not None:
        extractor = find_extractor(settings.inception)
        extractor.check()
        return extractor, None
    try:
        return find_extractor(None, settings.search_roots), None
    except DogkitError:
        return None, (
            "not evaluating while training: no feature network found (no Inception graph on the Kaggle "
            "input, no Keras InceptionV3 weights in the Keras cache); pass --inception FILE or --features "
            "FILE to see FID and MiFID as the run trains and keep its best snapshot"
        )
