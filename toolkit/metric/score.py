"""``dogkit score``: the MiFID an ``images.zip`` would get, against cached reference features.

Three layers, as in pytorch-fid: the numbers are ``toolkit.metric.mifid``; this module handles files and
the reference cache (``reference_features``) and the orchestration (``score_zip``).

The reference set is the competition's training photos, each whole photo converted to RGB and
resized to 64x64 with Pillow's Lanczos filter (antialiased: its support widens with the
downscale factor), then fed to the same extractor as the generated images. Its features and their
statistics are computed once and cached as ``.npz`` (``m``, ``s`` float64, ``features`` float32)
under a name made of the extractor's identity (recipe + weights hash) and a digest of the
reference photos' content, so that any change to either computes them afresh.

The content digest is a SHA-256 over (name, size, CRC-32) of every photo, in name order. A zip's
central directory already holds each member's CRC-32 (no decompression needed), and the CRC-32
of an extracted file equals its zip member's, so the same photos zipped or extracted share
cache entries. A folder's files are read once to compute their CRC-32s (~750 MB for the
competition, a few seconds); the result is memoized in the cache folder under the files'
(name, size, mtime) so later runs only ``stat`` them. Names + sizes + mtimes alone would be
cheaper still, but would miss a photo rewritten in place with the same size (or a restored
mtime) and recompute after every re-extraction; content CRCs make the key follow the pixels.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import logging
import math
import os
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from submission import IMAGE_COUNT, IMAGE_SIZE, atomic_path, validate_zip
from submission.threads import started_thread_pool
from toolkit.data.crops import save_npz
from toolkit.data.discovery import IMAGE_SUFFIXES, FileReader, FileSet, find_competition_data, find_images
from toolkit.errors import DogkitError
from toolkit.metric.features import (
    DEFAULT_BATCH_SIZE,
    FEATURE_WIDTH,
    FeatureExtractor,
    file_sha256,
    find_extractor,
    kaggle_input_roots,
    requested_features_extractor,
)
from toolkit.metric.mifid import DEFAULT_EPS, feature_statistics, mifid

logger = logging.getLogger(__name__)

REFERENCE_RECIPE = "photo-rgb-lanczos64-v1"  # how photos become 64x64 inputs; part of the cache key
SCORE_FILE = "score.json"
JSON_KEYS = ("fid", "distance", "distance_thresholded", "mifid", "eps", "n_generated", "n_reference", "extractor")
_DIGEST_MEMO = "reference-digests.json"  # in the cache folder: folder -> (stat key, content digest)
_MEMO_ENTRIES = 32  # folders remembered
_DECODE_CHUNK = 256  # photos read and decoded at a time
_PROBLEMS_SHOWN = 3  # problems of an invalid zip quoted in the error

# ``progress(total, desc)`` opens a progress bar for one stage and yields its update(n) callable;
# ``toolkit.cli.progress_bar`` has this shape. Stages: "check", "reference", "features".
ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[[int], object]]]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dogkit``, else ``~/.cache/dogkit``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "dogkit"


@contextlib.contextmanager
def no_progress(total: int, desc: str) -> Iterator[Callable[[int], object]]:
    yield lambda n: None


# ---------------------------------------------------------------------------------------------
# Images


def photo_to_64(data: bytes) -> np.ndarray:
    """A photo's bytes as a (64, 64, 3) uint8 RGB image: the whole photo, Lanczos-resized.

    Raises:
        OSError, ValueError, SyntaxError, Image.DecompressionBombError: Pillow cannot decode it.
    """
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")  # decodes; drops alpha, expands palettes and greyscale
    return np.asarray(rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS))


def _photo_or_none(data: bytes) -> np.ndarray | None:
    try:
        return photo_to_64(data)
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


def _photos64(files: FileSet, skipped: list[str]) -> Iterator[np.ndarray]:
    """Every photo of ``files`` as 64x64 RGB, in name order; undecodable ones appended to ``skipped``.

    Files are read in this thread and decoded by a few threads (Pillow releases the GIL).
    """
    workers = max(1, min(4, os.cpu_count() or 1))
    with FileReader(files) as reader, started_thread_pool(workers) as pool:
        for start in range(0, len(files.names), _DECODE_CHUNK):
            names = files.names[start : start + _DECODE_CHUNK]
            for name, image in zip(names, pool.map(_photo_or_none, [reader.read(n) for n in names])):
                if image is None:
                    skipped.append(name)
                else:
                    yield image


def read_zip_images(data: bytes) -> np.ndarray:
    """The images of a submission zip (already validated), in member name order: (n, 64, 64, 3) uint8."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(info.filename for info in archive.infolist() if not info.is_dir())
        images = np.empty((len(names), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
        for k, name in enumerate(names):
            with Image.open(io.BytesIO(archive.read(name))) as image:
                images[k] = np.asarray(image.convert("RGB"))
    return images


# ---------------------------------------------------------------------------------------------
# Reference: where it comes from and its content digest


def default_reference() -> Path:
    """The competition data when no reference is given: ``$DOGKIT_DATA`` or ``data``, else the Kaggle input.

    Raises:
        DogkitError: none of them holds the competition's photos.
    """
    candidates = [Path(os.environ.get("DOGKIT_DATA") or "data"), *kaggle_input_roots()]
    for candidate in candidates:
        if candidate.is_dir():
            try:
                find_competition_data(candidate)
            except DogkitError:
                continue
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise DogkitError(
        f"no reference given and no competition photos found in {looked}; run `dogkit fetch` or pass "
        "--reference (the competition data folder, a folder or zip of photos, or an .npz of reference features)"
    )


def reference_files(reference: str | os.PathLike) -> FileSet:
    """The photos of a reference folder or zip: the competition's (any layout), else every image in it.

    Raises:
        DogkitError: not found, not a folder or zip, or no image in it.
    """
    path = Path(reference)
    if path.is_dir():
        try:
            return find_competition_data(path).photos
        except DogkitError:
            found = find_images(path)
            if found is None:
                raise DogkitError(
                    f"{path}: no competition photos and no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"
                ) from None
            return found
    if not path.exists():
        raise DogkitError(f"{path}: reference not found")
    if zipfile.is_zipfile(path):
        found = find_images(path)
        if found is None:
            raise DogkitError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this zip")
        return found
    raise DogkitError(
        f"{path}: not a reference; expected the competition data folder, a folder or zip of images, "
        "or an .npz of reference features (m, s, features)"
    )


def _crc_entries(files: FileSet, cache_dir: Path | None) -> list[tuple[str, int, int]]:
    """(name, size, CRC-32) of every file: from the zip directory, or read (memoized by stat)."""
    if files.in_zip:
        with zipfile.ZipFile(files.root) as archive:
            infos = {info.filename: info for info in archive.infolist()}
        return [(name, infos[name].file_size, infos[name].CRC) for name in files.names]
    stats = [(files.root / name).stat() for name in files.names]
    stat_key = hashlib.sha256(
        "".join(f"{n}\0{s.st_size}\0{s.st_mtime_ns}\n" for n, s in zip(files.names, stats)).encode()
    ).hexdigest()
    memo_key = str(files.root.resolve())
    memo = _read_memo(cache_dir)
    entry = memo.get(memo_key)
    if entry and entry.get("stat") == stat_key and len(entry.get("crc", [])) == len(files.names):
        return [(n, s.st_size, crc) for n, s, crc in zip(files.names, stats, entry["crc"])]
    crcs = [_file_crc(files.root / name) for name in files.names]
    memo.pop(memo_key, None)
    memo[memo_key] = {"stat": stat_key, "crc": crcs}
    _write_memo(cache_dir, dict(list(memo.items())[-_MEMO_ENTRIES:]))
    return [(n, s.st_size, crc) for n, s, crc in zip(files.names, stats, crcs)]


def _file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _read_memo(cache_dir: Path | None) -> dict:
    if cache_dir is None:
        return {}
    try:
        memo = json.loads((cache_dir / _DIGEST_MEMO).read_text())
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _write_memo(cache_dir: Path | None, memo: dict) -> None:
    if cache_dir is None:
        return
    try:
        with atomic_path(cache_dir / _DIGEST_MEMO, durable=False) as tmp:
            tmp.write_text(json.dumps(memo))
    except OSError as exc:  # a read-only cache costs a re-read next time, nothing more
        logger.warning("could not write %s (%s)", cache_dir / _DIGEST_MEMO, exc)


def reference_digest(files: FileSet, cache_dir: Path | None = None) -> str:
    """Hex SHA-256 of the reference recipe and (name, size, CRC-32) of every photo (module docstring)."""
    digest = hashlib.sha256(REFERENCE_RECIPE.encode())
    for name, size, crc in _crc_entries(files, cache_dir):
        digest.update(f"{name}\0{size}\0{crc:08x}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Reference features


@dataclass(frozen=True)
class ReferenceFeatures:
    """The reference side of MiFID."""

    features: np.ndarray  # (n, width) float32 (or as given in a user's .npz); width 2048 for Inception
    mu: np.ndarray  # (width,) float64 mean, the .npz's ``m``
    sigma: np.ndarray  # (width, width) float64 covariance (ddof 1), the .npz's ``s``
    source: str  # what they were computed from, for the report
    cache_path: Path | None  # the .npz read or written; None when the cache could not be written
    reused: bool  # read from a cache or a given .npz: no feature extraction ran
    skipped: tuple[str, ...] = ()  # reference photos that could not be decoded (left out)


def load_reference_npz(path: str | os.PathLike, extractor: FeatureExtractor | None = None) -> ReferenceFeatures:
    """Reference features from an ``.npz`` with ``m`` (n,), ``s`` (n, n) and ``features`` (rows, n), used as is.

    An ``extractor`` entry (as dogkit's cache writes) must match ``extractor.identity``.

    Raises:
        DogkitError: unreadable, keys missing (a crop cache from `dogkit prepare` is named as such),
            shapes wrong or inconsistent, values not finite, or features from another extractor.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DogkitError(f"{path}: not a readable .npz ({exc})") from None
    missing = [key for key in ("m", "s", "features") if key not in arrays]
    if missing:
        hint = " (this is a crop cache from `dogkit prepare`; pass the competition data folder instead)"
        raise DogkitError(
            f"{path}: reference features need arrays m, s and features; missing {', '.join(missing)}, "
            f"found {', '.join(sorted(arrays)) or 'none'}{hint if 'images' in arrays else ''}"
        )
    features, mu, sigma = arrays["features"], arrays["m"], arrays["s"]
    width = extractor.width if extractor is not None else FEATURE_WIDTH
    if features.ndim != 2 or features.shape[0] < 2 or features.shape[1] != width:
        raise DogkitError(f"{path}: features must have shape (rows >= 2, {width}), got {features.shape}")
    if mu.shape != (width,) or sigma.shape != (width, width):
        raise DogkitError(
            f"{path}: m must have shape ({width},) and s ({width}, {width}), got {mu.shape} and {sigma.shape}"
        )
    for key, array in (("features", features), ("m", mu), ("s", sigma)):
        if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
            raise DogkitError(f"{path}: {key} must hold finite numbers")
    made_by = str(arrays["extractor"]) if "extractor" in arrays else None
    if extractor is not None and made_by is not None and made_by != extractor.identity:
        raise DogkitError(
            f"{path}: reference features from extractor {made_by}, but this score uses {extractor.identity}; "
            "pass the matching --inception, or the photos as --reference"
        )
    source = str(arrays["source"]) if "source" in arrays else str(path)
    return ReferenceFeatures(
        features=features,
        mu=mu.astype(np.float64),
        sigma=sigma.astype(np.float64),
        source=source,
        cache_path=path,
        reused=True,
    )


def _reference_cache(
    path: Path, extractor: FeatureExtractor, cache_dir: str | os.PathLike | None
) -> tuple[FileSet, str, Path]:
    """The reference's files, their content digest and the cache file for them and ``extractor``."""
    files = reference_files(path)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digest = reference_digest(files, cache)
    return files, digest, cache / f"reference-{extractor.identity}-{digest[:16]}.npz"


def images_to_extract(
    reference: str | os.PathLike | None,
    extractor: FeatureExtractor,
    cache_dir: str | os.PathLike | None = None,
    count: int = IMAGE_COUNT,
) -> int:
    """How many images a score runs through ``extractor``: the zip's, plus the reference's unless cached."""
    path = Path(reference) if reference is not None else default_reference()
    if path.suffix.lower() == ".npz" and path.is_file():
        return count
    files, _, cache_path = _reference_cache(path, extractor, cache_dir)
    return count + (0 if cache_path.is_file() else len(files.names))


def reference_features(
    reference: str | os.PathLike | None,
    extractor: FeatureExtractor,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressFactory | None = None,
) -> ReferenceFeatures:
    """Reference features for ``extractor``: from a given ``.npz``, the cache, or computed and cached.

    Args:
        reference: the competition data folder (any layout), a folder or zip of images (any size),
            or an ``.npz`` with m, s, features (used as is); None: ``default_reference()``.
        extractor: the network, whose identity keys the cache.
        cache_dir: where cached ``.npz`` files live; None: ``default_cache_dir()``.
        batch_size: images per forward pass when computing.
        progress: progress bar factory (stage "reference", counted in photos).

    Raises:
        DogkitError: see ``reference_files`` and ``load_reference_npz``; fewer than 2 decodable photos.
    """
    path = Path(reference) if reference is not None else default_reference()
    if path.suffix.lower() == ".npz" and path.is_file():
        return load_reference_npz(path, extractor)
    files, digest, cache_path = _reference_cache(path, extractor, cache_dir)
    if cache_path.is_file():
        try:
            cached = load_reference_npz(cache_path, extractor)
        except DogkitError as exc:
            logger.warning("ignoring a broken reference cache: %s", exc)
        else:
            logger.info("reference features: %s (cached)", cache_path)
            return cached

    logger.info("computing reference features of %s with %s", files.describe(), extractor.description)
    skipped: list[str] = []
    with (progress or no_progress)(len(files.names), "reference") as update:
        features = extractor.extract(_photos64(files, skipped), batch_size, update)
    if skipped:
        logger.warning("reference: %d photos could not be decoded and were left out, e.g. %s", len(skipped), skipped[0])
    if features.shape[0] < 2:
        raise DogkitError(f"{path}: {features.shape[0]} decodable reference images; at least 2 are needed")
    mu, sigma = feature_statistics(features)
    source = files.describe()
    try:
        save_npz(
            cache_path,
            m=mu,
            s=sigma,
            features=features,
            extractor=np.array(extractor.identity),
            reference_digest=np.array(digest),
            source=np.array(source),
            skipped=np.array(skipped, dtype=str),
        )
    except OSError as exc:  # scoring still works; the next run computes again
        logger.warning("could not write the reference cache %s (%s)", cache_path, exc)
        cache_path = None
    else:
        logger.info("reference features cached in %s", cache_path)
    return ReferenceFeatures(features, mu, sigma, source, cache_path, reused=False, skipped=tuple(skipped))


# ---------------------------------------------------------------------------------------------
# Scoring a zip


@dataclass(frozen=True)
class ScoreConfig:
    zip_path: Path  # the submission to score
    reference: Path | None = None  # competition data / folder or zip of images / .npz; None: default_reference()
    inception: Path | None = None  # graph .pb or Keras weights; None: find_extractor's search
    features: Path | None = None  # a Keras model (.keras) defining another feature space; excludes inception
    cache_dir: Path | None = None  # reference feature cache; None: ~/.cache/dogkit
    eps: float = DEFAULT_EPS  # memorization threshold
    batch_size: int = DEFAULT_BATCH_SIZE  # images per forward pass
    count: int = IMAGE_COUNT  # images the zip must hold (tests use fewer)


@dataclass(frozen=True)
class ScoreReport:
    """What ``score_zip`` found. ``to_json`` gives the JSON object, ``lines``/``warnings`` the text."""

    zip_path: Path
    zip_sha256: str  # of the bytes scored, so a later command can tell whether the zip changed
    fid: float
    distance: float  # memorization distance d
    distance_thresholded: float  # d' = d if d < eps else 1
    mifid: float  # fid / (d' + 1e-14)
    eps: float
    n_generated: int
    n_reference: int
    extractor: str  # the extractor's identity (recipe + weights hash)
    extractor_description: str
    official: bool  # features of the competition's graph; False: indicative only
    space: str  # the feature space the numbers are in, in a few words (``FeatureExtractor.space``)
    extractor_kind: str  # "graph", "keras" or "features"
    extractor_file: Path  # the weights or model file
    extractor_sha256: str  # of that file: with the kind, what the numbers are comparable by
    width: int  # features per image
    reference: str  # what the reference features came from
    reference_cache: Path | None = None
    reference_reused: bool = False  # True: no reference features were computed this time
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())  # e.g. reference photos left out

    @property
    def memorization_penalty(self) -> bool:
        """True when d < eps: the score is FID divided by d, not by 1."""
        return self.distance < self.eps

    @property
    def warnings(self) -> list[str]:
        """Plain sentences for the user (no prefix), most important first."""
        found = []
        if self.memorization_penalty:
            found.append(
                f"memorization distance {self.distance:.4g} is below eps {self.eps:g}: the images are too close "
                f"to training photos, so the memorization penalty applies and MiFID = FID / {self.distance:.4g} "
                f"({1 / max(self.distance, 1e-14):.3g} x FID)"
            )
        if not self.official:
            found.append(f"{self.extractor_description}")
        found.extend(self.notes)
        return found

    def lines(self) -> list[str]:
        """The result as aligned text lines: FID, d, d', MiFID (labelled indicative when not official)."""
        penalty = "penalty applies: d < eps" if self.memorization_penalty else "no penalty: d >= eps"
        if self.extractor_kind == "features":  # every number names its space: none is the competition's
            fid, mifid_label, suffix = f"FID in {self.space}", f"MiFID in {self.space}", f" [{self.space}]"
        else:
            label = "MiFID" if self.official else "MiFID (indicative, not the competition's graph)"
            fid, mifid_label, suffix = "FID", label, ""
        return [
            f"{self.zip_path}: {self.n_generated} images against {self.n_reference} reference images",
            f"features: {self.extractor_description}",
            f"{fid:<32}{self.fid:.4f}",
            f"memorization distance d         {self.distance:.6f} (eps {self.eps:g}){suffix}",
            f"thresholded distance d'         {self.distance_thresholded:.6g} ({penalty}){suffix}",
            f"{mifid_label:<32}{self.mifid:.4f}",
        ]

    def to_dict(self) -> dict:
        """The JSON object's content: exactly ``JSON_KEYS``."""
        return {
            "fid": self.fid,
            "distance": self.distance,
            "distance_thresholded": self.distance_thresholded,
            "mifid": self.mifid,
            "eps": self.eps,
            "n_generated": self.n_generated,
            "n_reference": self.n_reference,
            "extractor": {
                "identity": self.extractor,
                "description": self.extractor_description,
                "official": self.official,
                "kind": self.extractor_kind,
                "space": self.space,
                "file": str(self.extractor_file),
                "sha256": self.extractor_sha256,
                "width": self.width,
            },
        }

    def to_json(self) -> str:
        """One JSON object with keys ``JSON_KEYS`` (``extractor``: identity, description, official, kind,
        space, file, sha256, width)."""
        return json.dumps(self.to_dict(), indent=2)


def _check_config(config: ScoreConfig) -> None:
    eps, batch = config.eps, config.batch_size
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise DogkitError(f"eps must be a positive number, got {eps!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise DogkitError(f"batch size must be a positive integer, got {batch!r}")


def validated_zip(zip_path: Path, count: int, stage: ProgressFactory, not_done: str, advice: str = ""):
    """The zip's validation report when it is a valid submission; else one line quoting its first
    problems, saying what was ``not_done`` and ending with ``advice``."""
    with stage(count, "check") as update:
        validation = validate_zip(zip_path, count, progress=update)
    if not validation.ok:
        problems = validation.problems
        shown = "; ".join(str(p) for p in problems[:_PROBLEMS_SHOWN])
        more = f"; and {len(problems) - _PROBLEMS_SHOWN} more" if len(problems) > _PROBLEMS_SHOWN else ""
        raise DogkitError(f"{zip_path}: not a valid submission, {not_done} ({shown}{more}){advice}")
    return validation


def score_zip(
    config: ScoreConfig,
    progress: ProgressFactory | None = None,
    extractor: FeatureExtractor | None = None,
) -> ScoreReport:
    """Score a submission zip: validate it, extract features, compare with the reference, MiFID.

    Args:
        config: what to score and with what.
        progress: progress bar factory, ``progress(total, desc)`` -> context yielding update(n); one
            bar per stage: "check" (validation), "reference" (only when computed), "features".
        extractor: the feature extractor; None: ``requested_features_extractor`` when --features is given
            (loaded and checked before anything else), else ``find_extractor(config.inception)``.

    Raises:
        DogkitError: an invalid zip (the first problems quoted), no weights found, an unusable
            reference, weights or features file; each message names the file.
    """
    started = time.perf_counter()
    _check_config(config)
    owned = extractor is None
    extractor = extractor or requested_features_extractor(config.features, config.inception)
    zip_path = Path(config.zip_path)
    validation = validated_zip(  # an invalid zip is the first thing to know
        zip_path, config.count, progress or no_progress, "not scored", "; `dogkit check` lists every problem"
    )
    extractor = extractor or find_extractor(config.inception)
    try:
        return _score(config, zip_path, extractor, progress, started, validation)
    finally:
        if owned:
            extractor.close()


def _score(
    config: ScoreConfig,
    zip_path: Path,
    extractor: FeatureExtractor,
    progress: ProgressFactory | None,
    started: float,
    validation,
) -> ScoreReport:
    """``score_zip`` once the zip is checked and the extractor chosen."""
    stage = progress or no_progress

    reference = reference_features(config.reference, extractor, config.cache_dir, config.batch_size, progress)
    data = zip_path.read_bytes()
    images = read_zip_images(data)
    with stage(images.shape[0], "features") as update:
        generated = extractor.extract(images, config.batch_size, update)
    try:
        result = mifid(generated, reference.features, config.eps, ref_stats=(reference.mu, reference.sigma))
    except ValueError as exc:
        raise DogkitError(f"{zip_path}: MiFID cannot be computed against {reference.source} ({exc})") from None
    notes = ()
    if reference.skipped:
        notes = (f"{len(reference.skipped)} reference photos could not be decoded and were left out",)
    return ScoreReport(
        zip_path=zip_path,
        zip_sha256=hashlib.sha256(data).hexdigest(),
        fid=result.fid,
        distance=result.distance,
        distance_thresholded=result.distance_thresholded,
        mifid=result.mifid,
        eps=result.eps,
        n_generated=result.n_generated,
        n_reference=result.n_reference,
        extractor=extractor.identity,
        extractor_description=extractor.description,
        official=extractor.official,
        space=extractor.space,
        extractor_kind=extractor.kind,
        extractor_file=extractor.path,
        extractor_sha256=extractor.sha256,
        width=extractor.width,
        reference=reference.source,
        reference_cache=reference.cache_path,
        reference_reused=reference.reused,
        seconds=time.perf_counter() - started,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------
# score.json


def score_path(zip_path: str | os.PathLike) -> Path:
    """Where the score of ``zip_path`` is written: ``score.json`` in the zip's folder."""
    return Path(zip_path).with_name(SCORE_FILE)


def write_score_json(report: ScoreReport, path: str | os.PathLike | None = None) -> Path:
    """Write ``report`` as ``score.json`` beside the zip (or at ``path``), atomically; return the path.

    Holds ``JSON_KEYS`` plus zip (name), zip_sha256, official, feature_space, memorization_penalty, reference and
    scored_at (UTC, ISO 8601); ``saved_score`` reads it back for the same zip bytes only.
    """
    target = Path(path) if path is not None else score_path(report.zip_path)
    record = report.to_dict()
    record.update(
        zip=report.zip_path.name,
        zip_sha256=report.zip_sha256,
        official=report.official,
        feature_space=report.space,
        memorization_penalty=report.memorization_penalty,
        reference=report.reference,
        scored_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return target


def saved_score(zip_path: str | os.PathLike, path: str | os.PathLike | None = None) -> dict | None:
    """The ``score.json`` record of exactly this zip (same SHA-256), else None (absent, other zip, unreadable)."""
    zip_path = Path(zip_path)
    source = Path(path) if path is not None else score_path(zip_path)
    try:
        record = json.loads(source.read_text())
        if not isinstance(record, dict) or record.get("zip_sha256") != file_sha256(zip_path):
            return None
    except (OSError, ValueError):
        return None
    return record
