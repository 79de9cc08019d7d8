"""Check a zip against the competition's rules and report every problem found."""

from __future__ import annotations

import collections
import io
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .rules import IMAGE_COUNT, IMAGE_SIZE, PNG_SIGNATURE


@dataclass(frozen=True)
class Problem:
    """One broken rule: ``member`` is the zip member concerned, or None for the whole zip."""

    member: str | None
    kind: str  # short category, e.g. "size", "mode", "not png", "count"
    message: str

    def __str__(self) -> str:
        return self.message if self.member is None else f"{self.member}: {self.message}"


@dataclass
class ValidationReport:
    """What ``validate_zip`` found in one zip."""

    path: Path
    expected_count: int
    image_count: int = 0  # file members (directories not counted)
    problems: list[Problem] = field(default_factory=list)

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


def _image_problems(name: str, data: bytes) -> list[Problem]:
    """What is wrong with one member's bytes as a submission image (empty when nothing)."""
    if not data.startswith(PNG_SIGNATURE):
        try:
            with Image.open(io.BytesIO(data)) as image:
                found = f"{image.format} image" if image.format else "unknown image"
        except (UnidentifiedImageError, OSError, ValueError):
            found = "not an image Pillow recognises"
        return [Problem(name, "not png", f"not PNG data ({found})")]
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            (width, height), mode = image.size, image.mode
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return [Problem(name, "undecodable", f"PNG does not decode ({exc})")]
    problems = []
    if (width, height) != (IMAGE_SIZE, IMAGE_SIZE):
        problems.append(Problem(name, "size", f"size {width}x{height}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"))
    if mode != "RGB":
        problems.append(Problem(name, "mode", f"mode {mode}, expected RGB"))
    return problems


def validate_zip(
    path: str | os.PathLike,
    count: int = IMAGE_COUNT,
    *,
    progress: Callable[[int], object] | None = None,
) -> ValidationReport:
    """Check the zip at ``path`` against the submission rules.

    Every member is read (which checks its CRC), identified by content and fully decoded.
    Problems are collected, not raised: the report lists all of them.

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
    except (zipfile.BadZipFile, OSError) as exc:
        add(Problem(None, "zip", f"not a readable zip archive ({exc})"))
        return report
    with archive:
        members = archive.infolist()
        names = collections.Counter(info.filename for info in members)
        for name, times in names.items():
            if times > 1:
                add(Problem(name, "duplicate", f"duplicate name, appears {times} times"))
        for info in members:
            name = info.filename
            if info.is_dir():
                add(Problem(name, "directory", "directory entry (the zip must be flat)"))
                if progress is not None:
                    progress(1)
                continue
            report.image_count += 1
            if "/" in name.strip("/") or "\\" in name:
                add(Problem(name, "nested path", "nested path (members must sit at the top level)"))
            if not name.lower().endswith(".png"):
                add(Problem(name, "name", "name does not end in .png"))
            try:
                data = archive.read(info)
            except zipfile.BadZipFile as exc:
                add(Problem(name, "corrupt", f"corrupted member ({exc})"))
            except (zlib.error, OSError, EOFError, NotImplementedError) as exc:
                add(Problem(name, "corrupt", f"corrupted member, cannot be read ({exc})"))
            else:
                report.problems.extend(_image_problems(name, data))
            if progress is not None:
                progress(1)
    if report.image_count != count:
        add(Problem(None, "count", f"holds {report.image_count} images, expected exactly {count}"))
    return report
