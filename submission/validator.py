"""Check a zip against the competition's rules and report every problem found."""

from __future__ import annotations

import collections
import hashlib
import io
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .rules import IMAGE_COUNT, IMAGE_SIZE, PNG_SIGNATURE

# A 64x64 RGB PNG holds 12,288 values; even stored without compression and with a few ancillary chunks
# it stays well under this. A member that claims more is not read (a deflate bomb would fill memory).
MAX_MEMBER_BYTES = 1 << 20
DUPLICATE_SHARE_WARNED = 0.1  # warn when more than this share of the images repeat another one


@dataclass(frozen=True)
class Problem:
    """One broken rule: ``member`` is the zip member concerned, or None for the whole zip."""

    member: str | None
    kind: str  # short category, e.g. "size", "mode", "not png", "count"
    message: str

    def __str__(self) -> str:
        return self.message if self.member is None else f"{self.member or repr('')}: {self.message}"


@dataclass
class ValidationReport:
    """What ``validate_zip`` found in one zip."""

    path: Path
    expected_count: int
    image_count: int = 0  # file members (directories not counted)
    problems: list[Problem] = field(default_factory=list)
    distinct_images: int = 0  # images whose pixels differ from every other's (of those that decoded)
    decoded_images: int = 0

    @property
    def warnings(self) -> list[str]:
        """What the rules allow but a competitor would want to know: images repeated many times."""
        repeated = self.decoded_images - self.distinct_images
        if self.decoded_images and repeated > DUPLICATE_SHARE_WARNED * self.decoded_images:
            return [
                f"only {self.distinct_images} distinct images among {self.decoded_images}: the rest repeat them "
                "(a collapsed or untrained model?)"
            ]
        return []

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"{self.path}: valid, {self.image_count} PNG images of {IMAGE_SIZE}x{IMAGE_SIZE} RGB"
        kinds = collections.Counter(p.kind for p in self.problems)
        n = len(self.problems)
        listed = ", ".join(f"{kind}: {times}" for kind, times in kinds.most_common())
        return f"{self.path}: INVALID, {n} problem{'s' * (n != 1)} ({listed})"


def _png_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, read without decoding; None when there is no IHDR."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _image_problems(name: str, data: bytes) -> tuple[list[Problem], bytes | None]:
    """What is wrong with one member's bytes as a submission image (empty when nothing), and the
    decoded pixels when it decodes. Nothing larger than a submission image is ever decoded."""
    if not data.startswith(PNG_SIGNATURE):
        try:
            with Image.open(io.BytesIO(data)) as image:
                found = f"{image.format} image" if image.format else "unknown image"
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            found = "not an image Pillow recognises"
        return [Problem(name, "not png", f"not PNG data ({found})")], None
    size = _png_header(data)
    if size is None:
        return [Problem(name, "undecodable", "PNG without its header chunk (IHDR)")], None
    if size != (IMAGE_SIZE, IMAGE_SIZE):  # not decoded: a PNG may declare 100,000 x 100,000 pixels
        return [Problem(name, "size", f"size {size[0]}x{size[1]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}")], None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode = image.mode
            pixels = image.tobytes()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return [Problem(name, "undecodable", f"PNG does not decode ({exc})")], None
    if mode != "RGB":
        return [Problem(name, "mode", f"mode {mode}, expected RGB")], pixels
    return [], pixels


def validate_zip(
    path: str | os.PathLike,
    count: int = IMAGE_COUNT,
    *,
    progress: Callable[[int], object] | None = None,
) -> ValidationReport:
    """Check the zip at ``path`` against the submission rules.

    Every member is read (which checks its CRC), identified by content and fully decoded; a member
    larger than any submission image could be, or a PNG that declares another size, is reported
    without being inflated or decoded. Problems are collected, not raised: the report lists all of
    them. Repeated images are counted (``report.warnings``).

    Args:
        path: the zip to check.
        count: how many images it must hold.
        progress: called with 1 after each member (for a progress bar).
    """
    report = ValidationReport(path=Path(path), expected_count=count)
    add = report.problems.append
    if not report.path.is_file():
        add(Problem(None, "zip", "file not found"))
        return report
    try:
        archive = zipfile.ZipFile(report.path)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
        # NotImplementedError: a central directory that claims a zip version past 6.3;
        # ValueError: a name flagged UTF-8 that is not (UnicodeDecodeError)
        add(Problem(None, "zip", f"not a readable zip archive ({type(exc).__name__}: {exc})"))
        return report
    digests: set[bytes] = set()
    with archive:
        members = archive.infolist()
        names = collections.Counter(info.filename for info in members)
        for name, times in names.items():
            if times > 1:
                add(Problem(name, "duplicate", f"duplicate name, appears {times} times"))
        for info in members:
            name = info.filename
            if name.endswith("/"):  # not info.is_dir(): it fails on an empty name
                add(Problem(name, "directory", "directory entry (the zip must be flat)"))
                if progress is not None:
                    progress(1)
                continue
            report.image_count += 1
            if not name:
                add(Problem(name, "name", "member with an empty name"))
            if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
                add(Problem(name, "absolute path", "absolute path (members must be plain file names)"))
            elif "/" in name.strip("/") or "\\" in name:
                add(Problem(name, "nested path", "nested path (members must sit at the top level)"))
            if not name.lower().endswith(".png"):
                add(Problem(name, "name", "name does not end in .png"))
            if info.file_size > MAX_MEMBER_BYTES:
                add(Problem(name, "too large", f"{info.file_size:,} bytes, far more than a 64x64 PNG needs; not read"))
                if progress is not None:
                    progress(1)
                continue
            try:
                with archive.open(info) as member:
                    # zipfile stops at the size the header gives (a bomb that lies about it fails its CRC)
                    data = member.read(MAX_MEMBER_BYTES + 1)
            except zipfile.BadZipFile as exc:
                add(Problem(name, "corrupt", f"corrupted member ({exc})"))
            except (zlib.error, OSError, EOFError, NotImplementedError) as exc:
                add(Problem(name, "corrupt", f"corrupted member, cannot be read ({exc})"))
            except UnicodeDecodeError:  # a local header's name flagged UTF-8 that is not
                add(Problem(name, "corrupt", "corrupted member: its local header's name is not UTF-8"))
            except RuntimeError as exc:  # zipfile's "File ... is encrypted, password required"
                add(Problem(name, "encrypted", f"encrypted member, cannot be read ({exc})"))
            else:
                problems, pixels = _image_problems(name, data)
                report.problems.extend(problems)
                if pixels is not None:
                    report.decoded_images += 1
                    digests.add(hashlib.blake2b(pixels, digest_size=16).digest())
            if progress is not None:
                progress(1)
    report.distinct_images = len(digests)
    if report.image_count != count:
        add(Problem(None, "count", f"holds {report.image_count} images, expected exactly {count}"))
    return report
