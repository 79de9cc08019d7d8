"""Pack images into a submission zip: from a folder of existing images."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from submission import IMAGE_COUNT, IMAGE_SIZE, write_images_zip
from toolkit.errors import DogkitError


@dataclass(frozen=True)
class PackResult:
    path: Path  # the zip written
    count: int  # images in it
    resized: int  # images that were not 64x64 and were resized
    converted: int  # images that were not RGB and were converted


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Files directly inside ``folder`` whose extension Pillow can read, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DogkitError(f"{folder}: not a folder")
    readable = {ext.lower() for ext in Image.registered_extensions()}
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in readable)


MAX_SOURCE_PIXELS = 50_000_000  # a photo to shrink to 64x64 needs no more (Pillow's own bomb limit: 89 M)


def _load(path: Path, resize: bool, counts: dict[str, int]) -> np.ndarray:
    """One image as (64, 64, 3) uint8; a clear error naming the file when it cannot be.

    The size is read from the header before any pixel is decoded: a file that declares a huge
    image (a decompression bomb) is refused, not decoded.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            if (width, height) != (IMAGE_SIZE, IMAGE_SIZE):
                if not resize:
                    raise DogkitError(
                        f"{path}: image is {width}x{height}, expected {IMAGE_SIZE}x{IMAGE_SIZE} "
                        "(pass --resize to resize it)"
                    )
                if width * height > MAX_SOURCE_PIXELS:
                    raise DogkitError(f"{path}: declares {width}x{height} pixels; refusing to decode that much")
            image.load()
            if image.mode != "RGB":
                image = image.convert("RGB")
                counts["converted"] += 1
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
                counts["resized"] += 1
            return np.asarray(image, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise DogkitError(f"{path}: refusing to decode it ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DogkitError(f"{path}: cannot read image ({exc})") from None


def pack_from_dir(
    src: str | os.PathLike,
    out: str | os.PathLike,
    count: int = IMAGE_COUNT,
    *,
    resize: bool = False,
    progress: Callable[[int], object] | None = None,
) -> PackResult:
    """Pack the images of folder ``src`` (sorted by name) into the submission zip ``out``.

    Raises:
        DogkitError: ``src`` does not hold exactly ``count`` images, or one cannot be read or
            has the wrong size without ``resize``. Nothing is written at ``out`` then.
    """
    files = image_files(src)
    if len(files) != count:
        raise DogkitError(f"{src}: holds {len(files)} images, expected exactly {count}")
    counts = {"resized": 0, "converted": 0}

    def images() -> Iterator[np.ndarray]:
        for path in files:
            yield _load(path, resize, counts)

    path = write_images_zip(images(), out, count, progress=progress)
    return PackResult(path=path, count=count, **counts)
