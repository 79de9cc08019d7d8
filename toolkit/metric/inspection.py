"""``dogkit inspect``: what MiFID's memorization penalty sees in a zip, image by image.

MiFID's memorization distance d is the mean over generated images of each one's smallest cosine
distance to a training image's features (``toolkit.metric.mifid``). This module computes those
per-image distances against the crops a model trained on (the crop cache of ``dogkit prepare``)
with the same code (``nearest_reference``), names each image's nearest crop, and reports them as
JSON; ``inspection_sheet`` draws them. The features come from any ``FeatureExtractor``.

The crops' features are cached like ``score``'s reference features: an ``.npz`` in the same cache
folder, named by the extractor's identity and a digest of the crops' pixels.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from submission import IMAGE_COUNT, atomic_path
from toolkit.data.crops import data_fingerprint, load_crops, save_npz
from toolkit.errors import DogkitError
from toolkit.metric.features import (
    DEFAULT_BATCH_SIZE,
    FeatureExtractor,
    find_extractor,
    requested_features_extractor,
)
from toolkit.metric.mifid import DEFAULT_EPS, nearest_reference
from toolkit.metric.score import ProgressFactory, default_cache_dir, no_progress, read_zip_images, validated_zip

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InspectConfig:
    zip_path: Path  # the submission to inspect
    train: Path  # the crop cache the model trained on
    inception: Path | None = None  # graph .pb or Keras weights; None: find_extractor's search
    features: Path | None = None  # any feature space: a saved Keras model, as `score --features`
    cache_dir: Path | None = None  # crop feature cache; None: score's (~/.cache/dogkit)
    eps: float = DEFAULT_EPS  # the competition's memorization threshold
    batch_size: int = DEFAULT_BATCH_SIZE
    count: int = IMAGE_COUNT  # images the zip must hold (tests use fewer)


@dataclass(frozen=True)
class Inspection:
    """Per generated image (in zip member name order): its nearest training crop and their distance."""

    zip_path: Path
    train_path: Path
    names: list[str]  # zip member names
    distances: np.ndarray  # (n,) float64 min cosine distance; NaN for an image left out of d (zero features)
    nearest: np.ndarray  # (n,) int64 index of the nearest crop in the crop cache; -1 where left out
    eps: float
    n_crops: int
    extractor: str  # identity
    extractor_description: str
    official: bool
    crop_cache: Path | None  # the crop features' cache file; None when it could not be written
    crops_reused: bool  # crop features read from the cache
    nearest_seconds: float  # the nearest-neighbour step alone
    seconds: float = 0.0  # the whole inspection, features included

    @property
    def mean_distance(self) -> float:
        """d, exactly as ``memorization_distance`` gives it."""
        return float(self.distances[self.nearest >= 0].mean())

    @property
    def under_threshold(self) -> int:
        return int(np.count_nonzero(self.distances < self.eps))

    def ranked(self) -> np.ndarray:
        """Image indices from the nearest to a crop to the farthest (images left out of d last)."""
        return np.argsort(np.where(np.isnan(self.distances), np.inf, self.distances), kind="stable")

    def closest(self, k: int) -> np.ndarray:
        return self.ranked()[:k]

    def typical(self, k: int) -> np.ndarray:
        """The ``k`` images around the median distance."""
        ranked = self.ranked()[: int(np.count_nonzero(self.nearest >= 0))]
        start = max(0, min(len(ranked) - k, len(ranked) // 2 - k // 2))
        return ranked[start : start + k]

    def lines(self) -> list[str]:
        penalty = "the penalty applies" if self.mean_distance < self.eps else "no penalty"
        closest = self.closest(1)[0]
        return [
            f"{self.zip_path}: {len(self.names)} images against {self.n_crops} training crops of {self.train_path}",
            f"features: {self.extractor_description}",
            f"memorization distance d (mean)  {self.mean_distance:.6f} (eps {self.eps:g}: {penalty})",
            f"images under eps                {self.under_threshold} of {len(self.names)}",
            f"closest image                   {self.names[closest]}: crop {self.nearest[closest]}, "
            f"distance {max(self.distances[closest], 0.0):.6f}",  # float rounding can give -1e-8
            f"nearest-neighbour step          {self.nearest_seconds:.1f} s (whole command {self.seconds:.1f} s)",
        ]

    def to_dict(self) -> dict:
        return {
            "zip": str(self.zip_path),
            "train": str(self.train_path),
            "distance": self.mean_distance,
            "eps": self.eps,
            "under_eps": self.under_threshold,
            "n_generated": len(self.names),
            "n_crops": self.n_crops,
            "extractor": {
                "identity": self.extractor,
                "description": self.extractor_description,
                "official": self.official,
            },
            "images": [
                {"name": name, "nearest_crop": int(index), "distance": None if index < 0 else float(distance)}
                for name, index, distance in zip(self.names, self.nearest, self.distances, strict=True)
            ],
        }


def write_json(inspection: Inspection, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(inspection.to_dict(), indent=1) + "\n")
    return path


def crop_features(
    train_path: Path,
    crops: np.ndarray,
    extractor: FeatureExtractor,
    cache_dir: Path | None,
    batch_size: int,
    progress: ProgressFactory,
) -> tuple[np.ndarray, Path | None, bool]:
    """Features of the crops, from the cache or computed and cached: (features, cache file, reused)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / f"crops-{extractor.identity}-{data_fingerprint(crops)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                features = npz["features"]
            if features.shape[0] == crops.shape[0]:
                return features, path, True
            logger.warning("ignoring %s: %d rows for %d crops", path, features.shape[0], crops.shape[0])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            logger.warning("ignoring a broken crop feature cache %s (%s)", path, exc)
    with progress(crops.shape[0], "crops") as update:
        features = extractor.extract(crops, batch_size, update)
    try:
        save_npz(path, features=features, extractor=np.array(extractor.identity), source=np.array(str(train_path)))
    except OSError as exc:
        logger.warning("could not write the crop feature cache %s (%s)", path, exc)
        return features, None, False
    return features, path, False


def _checked_zip(config: InspectConfig, progress: ProgressFactory) -> Path:
    zip_path = Path(config.zip_path)
    if not zip_path.is_file():
        raise DogkitError(f"{zip_path}: zip not found")
    validated_zip(zip_path, config.count, progress, "not inspected")
    return zip_path


def inspect_zip(
    config: InspectConfig,
    progress: ProgressFactory | None = None,
    extractor: FeatureExtractor | None = None,
) -> tuple[Inspection, np.ndarray, np.ndarray]:
    """Each image's nearest training crop: (the inspection, the zip's images, the crops).

    Args:
        config: what to inspect against what.
        progress: progress bar factory, stages "check", "crops" (only when computed), "features".
        extractor: the feature extractor; None: ``features_extractor(config.features)`` when given,
            else ``find_extractor(config.inception)``.

    Raises:
        DogkitError: missing or invalid zip, missing or invalid crop cache, no weights found, an
            unusable weights file; each message names the file.
    """
    started = time.perf_counter()
    owned = extractor is None
    extractor = extractor or requested_features_extractor(config.features, config.inception)
    stage = progress or no_progress
    zip_path = _checked_zip(config, stage)
    crops = load_crops(config.train)["images"]
    if extractor is None:
        extractor = find_extractor(config.inception)
    try:
        train_features, cache_path, reused = crop_features(
            Path(config.train), crops, extractor, config.cache_dir, config.batch_size, stage
        )
        with zipfile.ZipFile(zip_path) as archive:
            names = sorted(info.filename for info in archive.infolist() if not info.is_dir())
        images = read_zip_images(zip_path.read_bytes())
        with stage(images.shape[0], "features") as update:
            generated = extractor.extract(images, config.batch_size, update)
    finally:
        if owned:
            extractor.close()
    nearest_started = time.perf_counter()
    try:
        distances, nearest = nearest_reference(generated, train_features)
    except ValueError as exc:
        raise DogkitError(f"{zip_path}: distances to {config.train} cannot be computed ({exc})") from None
    nearest_seconds = time.perf_counter() - nearest_started
    inspection = Inspection(
        zip_path=zip_path,
        train_path=Path(config.train),
        names=names,
        distances=distances,
        nearest=nearest,
        eps=float(config.eps),
        n_crops=int(crops.shape[0]),
        extractor=extractor.identity,
        extractor_description=extractor.description,
        official=extractor.official,
        crop_cache=cache_path,
        crops_reused=reused,
        nearest_seconds=nearest_seconds,
        seconds=time.perf_counter() - started,
    )
    return inspection, images, crops
