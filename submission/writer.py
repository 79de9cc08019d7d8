"""Stream images into a submission zip: exactly ``count`` PNG members, written atomically."""

from __future__ import annotations

import collections
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .files import atomic_path
from .png import encode_png
from .rules import IMAGE_COUNT, IMAGE_SHAPE
from .threads import started_thread_pool

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same images give the same zip


class SubmissionError(ValueError):
    """A submission that would break the competition's rules, or a zip that does."""


def member_name(index: int, count: int) -> str:
    """Flat, unique, sortable member name for image ``index`` of ``count``."""
    return f"{index:0{max(5, len(str(count - 1)))}d}.png"


def check_image(image: np.ndarray, index: int) -> np.ndarray:
    """Return ``image`` as a (64, 64, 3) uint8 array or raise ``SubmissionError`` saying why not."""
    array = np.asarray(image)
    if np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating):
        if not np.isfinite(array).all():
            raise SubmissionError(f"image {index} has non-finite values (NaN or inf)")
    if array.shape != IMAGE_SHAPE:
        raise SubmissionError(f"image {index} has shape {array.shape}, expected {IMAGE_SHAPE}")
    if array.dtype != np.uint8:
        raise SubmissionError(
            f"image {index} has dtype {array.dtype}, expected uint8 (clip to 0..255 and round before writing)"
        )
    return array


def write_images_zip(
    images: Iterable[np.ndarray],
    path: str | os.PathLike,
    count: int = IMAGE_COUNT,
    *,
    progress: Callable[[int], object] | None = None,
    workers: int | None = None,
) -> Path:
    """Write exactly ``count`` images from ``images`` as PNG members of the zip at ``path``.

    Args:
        images: iterable of (64, 64, 3) uint8 arrays; consumed lazily, one at a time.
        path: the zip to write. It appears only when complete; on any error nothing is left
            at ``path`` (an earlier file there stays as it was).
        count: how many images the iterable must yield, no more and no fewer.
        progress: called with 1 after each image is written (for a progress bar).
        workers: PNG encoding threads (zlib releases the GIL); default: CPU count, at most 8.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        SubmissionError: an image of the wrong shape or dtype, non-finite values, or a number
            of images other than ``count``.
    """
    if count < 1:
        raise SubmissionError(f"count must be at least 1, got {count}")
    target = Path(path)
    workers = workers or min(8, os.cpu_count() or 1)
    source = iter(images)
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        with started_thread_pool(workers) as pool:
            pending: collections.deque = collections.deque()

            def write_oldest() -> None:
                index, future = pending.popleft()
                info = zipfile.ZipInfo(member_name(index, count), date_time=_ZIP_EPOCH)
                info.external_attr = 0o644 << 16
                archive.writestr(info, future.result(), compress_type=zipfile.ZIP_STORED)
                if progress is not None:
                    progress(1)

            written = 0
            for index, image in enumerate(source):
                if index >= count:
                    raise SubmissionError(f"more than {count} images were given; expected exactly {count}")
                pending.append((index, pool.submit(encode_png, check_image(image, index))))
                if len(pending) >= 4 * workers:
                    write_oldest()
                written = index + 1
            while pending:
                write_oldest()
        if written != count:
            raise SubmissionError(f"only {written} images were given; expected exactly {count}")
    return target
