"""``dogkit prepare``: the competition's photos and boxes to a cache of 64x64 crops.

Output: an ``.npz`` (no pickled objects) with ``images`` uint8 (N, 64, 64, 3), ``breeds`` and
``sources`` (str, N), ``boxes`` int32 (N, 4) (the cropped square, x0 y0 x1 y1, photo pixels);
``report.json`` and ``contact_sheet.png`` beside it. Broken input never stops the run: every
photo, annotation or box that is skipped or repaired is counted under its reason.

Speed: libjpeg can decode a JPEG at 1/2, 1/4 or 1/8 of its size (DCT scaling), skipping most of
the inverse transform. Each photo is decoded at the smallest such scale that still leaves its
smallest crop at least 64 pixels wide, then each crop is Lanczos-resized from there; photos are
spread over worker processes. The crops differ from a full-size decode by about 0.3 of a level
(of 255) on average. What is left, JPEG entropy decoding and the Lanczos resizes, does not shrink
with the scale.
``PrepareConfig.draft_margin`` below 1 decodes smaller still and upsamples the smallest crops:
faster, less sharp (the benchmark prints the trade).
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from submission import atomic_path, check_writable
from toolkit.data.crops import CROP_SIZE, save_npz
from toolkit.data.discovery import (
    PHOTO_SUFFIXES,
    CompetitionData,
    FileReader,
    FileSet,
    NotRegularFile,
    find_competition_data,
    find_images,
)
from toolkit.errors import DogkitError
from toolkit.visuals import image_grid

CROP_MODES = ("bbox", "center")
_CHUNK = 32  # photos per task sent to a worker
MAX_WORKERS = 64  # past this, processes cost more to start than they save
MAX_WORKERS_PER_CORE = 4  # processes per core worth having while others wait on the disk

log = logging.getLogger("dogkit")
NOT_REGULAR = "not a regular file (FIFO, device or socket)"


@dataclass(frozen=True)
class PrepareConfig:
    src: Path  # competition data folder (any layout ``find_competition_data`` knows)
    out: Path = Path("data/dogs64.npz")  # the crop cache to write
    crop: str = "bbox"  # "bbox": one square crop per box; "center": the photo's central square
    workers: int = 0  # worker processes; 0 = one per CPU core
    sheet_seed: int = 0  # which crops the contact sheet shows
    draft_margin: float = 1.0  # decode JPEGs reduced while the smallest crop keeps >= margin * 64 pixels

    def __post_init__(self):
        if not self.draft_margin > 0:
            raise ValueError(f"draft_margin must be positive, got {self.draft_margin}")


@dataclass
class PrepareReport:
    """What ``prepare`` found and did; written as ``report.json``."""

    source: str
    crop: str
    photos: int = 0
    annotation_files: int = 0
    boxes: int = 0
    crops: int = 0
    breeds: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    crops_per_breed: dict[str, int] = field(default_factory=dict)
    photo_width: dict[str, float] = field(default_factory=dict)  # min, median, max
    photo_height: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class PrepareResult:
    out: Path
    report_path: Path
    sheet_path: Path
    report: PrepareReport


# ---------------------------------------------------------------- numeric core: boxes to squares


def square_from_box(
    box: tuple[int, int, int, int], width: int, height: int
) -> tuple[tuple[int, int, int, int] | None, bool]:
    """The crop square for a VOC box: side min(box w, box h) from its top-left corner.

    The box is first clipped to the photo. Returns (square or None if nothing is left, clipped).
    """
    xmin, ymin, xmax, ymax = box
    cx0, cy0, cx1, cy1 = max(xmin, 0), max(ymin, 0), min(xmax, width), min(ymax, height)
    clipped = (cx0, cy0, cx1, cy1) != (xmin, ymin, xmax, ymax)
    side = min(cx1 - cx0, cy1 - cy0)
    if side <= 0:
        return None, clipped
    return (cx0, cy0, cx0 + side, cy0 + side), clipped


def center_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return x0, y0, x0 + side, y0 + side


def draft_scale(smallest_side: int, margin: float = 1.0, size: int = CROP_SIZE) -> int:
    """Largest JPEG DCT reduction (1, 2, 4, 8) that keeps ``smallest_side`` >= ``margin * size``."""
    scale = 1
    while scale < 8 and smallest_side / (scale * 2) >= margin * size:
        scale *= 2
    return scale


class AnnotationError(ValueError):
    pass


def parse_annotation(data: bytes) -> list[tuple[int, int, int, int]]:
    """Boxes (xmin, ymin, xmax, ymax) of a Stanford Dogs VOC annotation, in file order."""
    try:
        root = ET.fromstring(data)
        boxes = []
        for node in root.iter("bndbox"):
            boxes.append(tuple(int(float(node.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax")))
    except (ET.ParseError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf)
        raise AnnotationError(str(exc)) from exc
    if not boxes:
        raise AnnotationError("no <bndbox> in the file")
    return boxes


# ---------------------------------------------------------------- worker: one chunk of photos


@dataclass
class _ChunkResult:
    crops: np.ndarray  # (n, 64, 64, 3) uint8
    squares: list[tuple[int, int, int, int]] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)  # index (in the whole job) of each crop's photo
    skipped: collections.Counter = field(default_factory=collections.Counter)
    repaired: collections.Counter = field(default_factory=collections.Counter)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    boxes: int = 0


@dataclass(frozen=True)
class _Job:
    photos: FileSet
    annotations: FileSet | None
    items: list[tuple[str, str | None]]  # (photo name, annotation name or None)
    crop: str
    draft_margin: float


class _Worker:
    """Per-process state: the job (sent once, not with every chunk) and open file readers."""

    job: _Job | None = None
    readers: dict[Path, FileReader] = {}

    @classmethod
    def start(cls, job: _Job) -> None:
        cls.job = job
        cls.readers = {}

    @classmethod
    def read(cls, files: FileSet, name: str) -> bytes:
        reader = cls.readers.get(files.root)
        if reader is None:
            reader = cls.readers[files.root] = FileReader(files)
        return reader.read(name)


def _decode_rgb(image: Image.Image, smallest_side: int, margin: float, result: _ChunkResult) -> tuple[Image.Image, int]:
    """Decode an opened photo (reduced when JPEG allows) as RGB; return it and the reduction (1, 2, 4, 8)."""
    scale = 1
    if image.format == "JPEG":
        scale = draft_scale(smallest_side, margin)
        if scale > 1:
            # libjpeg scales by exactly 1/scale: pixel x of the photo is pixel x/scale of the result
            image.draft(image.mode, (math.ceil(image.size[0] / scale), math.ceil(image.size[1] / scale)))
            scale = image.decoderconfig[0] if image.decoderconfig else 1  # the reduction libjpeg will apply
    else:
        result.repaired["photo not a JPEG, read by its content"] += 1
    image.load()
    if image.mode != "RGB":
        result.repaired[f"photo converted from {image.mode} to RGB"] += 1
        image = image.convert("RGB")
    return image, scale


def _process_chunk(bounds: tuple[int, int]) -> _ChunkResult:
    """Crop photos ``items[start:stop]`` of the worker's job."""
    job = _Worker.job
    result = _ChunkResult(crops=np.empty((0, CROP_SIZE, CROP_SIZE, 3), np.uint8))
    crops = []
    for index in range(*bounds):
        photo_name, annotation_name = job.items[index]
        boxes = None
        if job.crop == "bbox":
            if annotation_name is None:
                result.skipped["photo without annotation"] += 1
                continue
            try:
                boxes = parse_annotation(_Worker.read(job.annotations, annotation_name))
            except AnnotationError:
                result.skipped["malformed annotation"] += 1
                continue
            except NotRegularFile:
                result.skipped[NOT_REGULAR] += 1
                continue
            result.boxes += len(boxes)
        try:
            data = _Worker.read(job.photos, photo_name)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            squares = []
            if boxes is None:
                squares.append(center_square(width, height))
            else:
                for box in boxes:
                    square, clipped = square_from_box(box, width, height)
                    if clipped:
                        result.repaired["box clipped to the photo"] += 1
                    if square is None:
                        result.skipped["empty box (nothing left inside the photo)"] += 1
                    else:
                        squares.append(square)
            if not squares:
                continue
            image, scale = _decode_rgb(image, min(s[2] - s[0] for s in squares), job.draft_margin, result)
        except NotRegularFile:
            result.skipped[NOT_REGULAR] += 1
            continue
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            result.skipped["unreadable photo (corrupt or truncated)"] += 1
            continue
        result.sizes.append((width, height))
        for square in squares:
            x0, y0, x1, y1 = (v / scale for v in square)
            region = (x0, y0, min(x1, image.size[0]), min(y1, image.size[1]))
            crops.append(np.asarray(image.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.LANCZOS, box=region)))
            result.squares.append(square)
            result.owners.append(index)
    if crops:
        result.crops = np.stack(crops)
    return result


# ---------------------------------------------------------------- orchestration


def _breed_name(folder: str) -> str:
    """'n02085620-Chihuahua' -> 'Chihuahua'."""
    return folder.split("-", 1)[1] if "-" in folder else folder


def _match(data: CompetitionData, crop: str) -> tuple[list[tuple[str, str | None]], list[str], collections.Counter]:
    """Pair photos with annotations; return work items, each item's breed, and skips."""
    by_id: dict[str, str] = {}
    wnid_breeds: dict[str, str] = {}
    if data.annotations is not None:
        for name in data.annotations.names:
            folder, photo_id = name.split("/")[-2:]
            by_id.setdefault(photo_id, name)
            wnid_breeds.setdefault(photo_id.split("_")[0], _breed_name(folder))
    items, breeds = [], []
    seen = set()
    for name in data.photos.names:
        photo_id = Path(name).stem
        seen.add(photo_id)
        annotation = by_id.get(photo_id)
        items.append((name, annotation))
        if annotation is not None:
            breeds.append(_breed_name(annotation.split("/")[-2]))
        else:
            breeds.append(wnid_breeds.get(photo_id.split("_")[0], "unknown"))
    skipped = collections.Counter()
    orphans = sum(1 for photo_id in by_id if photo_id not in seen)
    if orphans:
        skipped["annotation without photo"] = orphans
    return items, breeds, skipped


def _pool_context():
    # fork is fastest, but not after TensorFlow has started its threads
    return multiprocessing.get_context("spawn" if "tensorflow" in sys.modules else "fork")


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": int(np.min(values)), "median": float(np.median(values)), "max": int(np.max(values))}


def contact_sheet(images: np.ndarray, seed: int = 0, columns: int = 8, rows: int = 8) -> np.ndarray:
    """A (rows*64, columns*64, 3) grid of randomly chosen crops (fewer if there are fewer)."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(images), size=min(len(images), columns * rows), replace=False))
    return image_grid(images[chosen], columns, rows)


def find_input(src: str | os.PathLike, crop: str) -> CompetitionData:
    """The photos to crop: the competition's data in any layout; with ``crop="center"``, any image folder.

    Raises:
        DogkitError: nothing usable under ``src`` (the message says what was looked for).
    """
    try:
        return find_competition_data(src)
    except DogkitError:
        if crop != "center":
            raise
        images = find_images(src) if Path(src).exists() else None
        if images is None:
            raise DogkitError(f"{src}: neither the competition's data nor any image file found") from None
        return CompetitionData(photos=images, annotations=None)


def prepare(
    config: PrepareConfig,
    progress: Callable[[int], object] | None = None,
    data: CompetitionData | None = None,
) -> PrepareResult:
    """Crop every photo of ``config.src`` to 64x64 and write the cache, report and contact sheet.

    ``progress`` is called with the number of photos done after each chunk; ``data`` is what
    ``find_input(config.src, config.crop)`` returned, when the caller already has it.

    Raises:
        DogkitError: no photos found, an unknown crop mode, or no usable crop at all (then
            nothing is written).
    """
    if config.crop not in CROP_MODES:
        raise DogkitError(f"crop must be one of {', '.join(CROP_MODES)}, got {config.crop!r}")
    started = time.perf_counter()
    check_writable(Path(config.out).parent)  # before the work, not after it
    data = data or find_input(config.src, config.crop)
    if config.crop == "bbox" and data.annotations is None:
        raise DogkitError(f"{config.src}: photos found but no annotations; use --crop center to crop without boxes")
    items, breeds, skipped = _match(data, config.crop)
    job = _Job(
        replace(data.photos, names=()),
        data.annotations and replace(data.annotations, names=()),
        items,
        config.crop,
        config.draft_margin,
    )
    results = _crop_in_chunks(job, config.workers, progress)
    report = PrepareReport(source=f"{data.photos.describe()}", crop=config.crop)
    report.photos = len(data.photos.names)
    report.annotation_files = len(data.annotations.names) if data.annotations else 0
    crops = _gather(results, report, skipped)
    if not crops.owners:
        raise DogkitError(f"{config.src}: no usable crop in {report.photos} photos (skipped: {dict(skipped)})")
    crop_breeds = [breeds[i] for i in crops.owners]
    report.crops_per_breed = dict(sorted(collections.Counter(crop_breeds).items()))
    report.breeds = len(report.crops_per_breed)
    sources = [Path(items[i][0]).name for i in crops.owners]
    return _write_outputs(config, crops, crop_breeds, sources, report, started)


def _worker_count(requested: int, chunks: int) -> int:
    """Worker processes for ``chunks`` chunks of work: the request (0: one per core), but never more than
    there is work, than MAX_WORKERS_PER_CORE per core, or than MAX_WORKERS; a lowered request is said."""
    cores = os.cpu_count() or 1
    limit = max(1, min(chunks, MAX_WORKERS_PER_CORE * cores, MAX_WORKERS))
    if not requested:
        return min(cores, limit)
    if requested > limit:
        log.warning(
            "prepare: %d worker processes, not %d (%d chunks of %d photos, %d cores, at most %d)",
            limit, requested, chunks, _CHUNK, cores, MAX_WORKERS,
        )  # fmt: skip
        return limit
    return requested


def _crop_in_chunks(job: _Job, workers: int, progress: Callable[[int], object] | None) -> list[_ChunkResult]:
    """Every item of ``job`` cropped, chunk by chunk, in this process or spread over ``workers``."""
    chunks = [(i, min(i + _CHUNK, len(job.items))) for i in range(0, len(job.items), _CHUNK)]
    workers = _worker_count(workers, len(chunks))
    pool = None
    if workers == 1 or len(chunks) == 1:
        _Worker.start(job)
    else:
        pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_Worker.start, initargs=(job,))
    results: list[_ChunkResult] = []
    with pool or contextlib.nullcontext():
        for chunk, result in zip(chunks, (pool.map if pool else map)(_process_chunk, chunks)):
            results.append(result)
            if progress:
                progress(chunk[1] - chunk[0])
    return results


@dataclass
class _Crops:
    images: np.ndarray  # (N, 64, 64, 3) uint8
    squares: list  # each crop's square in its photo
    owners: list[int]  # each crop's item (photo) index


def _gather(results: list[_ChunkResult], report: PrepareReport, skipped: collections.Counter) -> _Crops:
    """The chunks' crops in order, and their counts in ``report`` (and ``skipped``)."""
    repaired: collections.Counter = collections.Counter()
    squares, owners, sizes = [], [], []
    for result in results:
        skipped.update(result.skipped)
        repaired.update(result.repaired)
        report.boxes += result.boxes
        sizes += result.sizes
        squares += result.squares
        owners += result.owners
    images = np.concatenate([result.crops for result in results]) if owners else np.zeros((0, 64, 64, 3), np.uint8)
    report.crops = len(images)
    report.skipped = dict(sorted(skipped.items()))
    report.repaired = dict(sorted(repaired.items()))
    report.photo_width = _stats([w for w, _ in sizes])
    report.photo_height = _stats([h for _, h in sizes])
    return _Crops(images, squares, owners)


def _write_outputs(config, crops: _Crops, breeds, sources, report: PrepareReport, started: float) -> PrepareResult:
    """The crop cache, its contact sheet and the report, each written under a temporary name first."""
    out = Path(config.out)
    save_npz(
        out,
        images=crops.images,
        breeds=np.array(breeds, dtype=str),
        sources=np.array(sources, dtype=str),
        boxes=np.array(crops.squares, dtype=np.int32).reshape(-1, 4),
    )
    sheet_path = out.with_name("contact_sheet.png")
    with atomic_path(sheet_path) as tmp:
        Image.fromarray(contact_sheet(crops.images, config.sheet_seed)).save(tmp, "PNG")
    report.seconds = round(time.perf_counter() - started, 2)
    report_path = out.with_name("report.json")
    with atomic_path(report_path) as tmp:
        tmp.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return PrepareResult(out=out, report_path=report_path, sheet_path=sheet_path, report=report)


__all__ = [
    "PHOTO_SUFFIXES",
    "PrepareConfig",
    "PrepareReport",
    "PrepareResult",
    "center_square",
    "contact_sheet",
    "parse_annotation",
    "prepare",
    "square_from_box",
]
