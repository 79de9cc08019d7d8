"""Find the competition's photos and annotations under a folder, in every layout it has had.

The data has been published zipped (``all-dogs.zip``, ``Annotation.zip``) and extracted, with
the photos in ``all-dogs/`` or ``all-dogs/all-dogs/`` and the annotations in ``Annotation/``,
``Annotation/Annotation/`` or ``annotation/Annotation/``, all possibly some folders down (under
``/kaggle/input``: at its top in 2019, in ``generative-dog-images/`` later, in
``competitions/generative-dog-images/`` today). Input folders are only read.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import DogkitError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")  # any image folder
_PHOTO_DIRS = ("all-dogs/all-dogs", "all-dogs")
_PHOTO_ZIPS = ("all-dogs.zip",)
_ANNOTATION_DIRS = ("annotation/Annotation", "Annotation/Annotation", "Annotation", "annotation")
_ANNOTATION_ZIPS = ("Annotation.zip", "annotation.zip")


@dataclass(frozen=True)
class FileSet:
    """Files in a folder, or members of a zip, by relative name ('/' separated)."""

    root: Path  # the folder, or the zip file
    in_zip: bool
    names: tuple[str, ...]

    def describe(self) -> str:
        return f"{len(self.names)} files in {self.root}{' (zip)' if self.in_zip else ''}"


class NotRegularFile(OSError):
    """A name among the inputs that is a FIFO, device or socket: never read (it could block forever)."""


class FileReader:
    """Reads bytes of a ``FileSet``'s files; keeps one zip handle open. One per process."""

    def __init__(self, files: FileSet):
        self.files = files
        self._zip = zipfile.ZipFile(files.root) if files.in_zip else None

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        path = self.files.root / name
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever; no effect on a regular file
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise NotRegularFile(errno.EINVAL, "not a regular file (a FIFO, device or socket)", str(path))
            with os.fdopen(descriptor, "rb", closefd=False) as handle:
                return handle.read()
        finally:
            os.close(descriptor)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class CompetitionData:
    photos: FileSet  # photo files; a photo's id is its name's stem (n02085620_10074)
    annotations: FileSet | None  # VOC files, <breed folder>/<photo id>; None when absent


def _walk(folder: Path) -> list[str]:
    names = []
    for dirpath, _, filenames in os.walk(folder):
        rel = Path(dirpath).relative_to(folder)
        names.extend((rel / f).as_posix() for f in filenames if not f.startswith("."))
    return sorted(names)


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return sorted(i.filename for i in archive.infolist() if not i.is_dir())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DogkitError(f"{path}: not a readable zip archive ({exc})") from exc


def _is_photo(name: str) -> bool:
    return name.lower().endswith(PHOTO_SUFFIXES) and not name.startswith("__MACOSX/")


def _first_found(base: Path, folders, in_folder, zips, in_zip) -> FileSet | None:
    """The first of ``folders`` (then ``zips``) under ``base`` holding files that the filter keeps."""
    for sub in folders:
        folder = base / sub
        if folder.is_dir():
            names = [n for n in _walk(folder) if in_folder(n)]
            if names:
                return FileSet(folder, False, tuple(names))
    for sub in zips:
        path = base / sub
        if path.is_file():
            names = [n for n in _zip_names(path) if in_zip(n)]
            if names:
                return FileSet(path, True, tuple(names))
    return None


def _photos_in(base: Path) -> FileSet | None:
    return _first_found(base, _PHOTO_DIRS, _is_photo, _PHOTO_ZIPS, _is_photo)


def _is_annotation(name: str) -> bool:
    parts = name.split("/")
    return len(parts) >= 2 and not name.startswith("__MACOSX/") and not parts[-1].startswith(".")


def _annotations_in(base: Path) -> FileSet | None:
    # extracted: breed folders directly inside, <breed>/<photo id>; zipped: Annotation/<breed>/<photo id>
    return _first_found(base, _ANNOTATION_DIRS, lambda n: n.count("/") == 1, _ANNOTATION_ZIPS, _is_annotation)


SEARCH_DEPTH = 4  # folders below the root searched for the data (competitions/<slug>/all-dogs/all-dogs)


class DataNotFound(DogkitError):
    """No competition photos under ``root``; ``hint`` says what to do (left out inside a kernel)."""

    def __init__(self, root: Path, hint: str = "run `dogkit fetch` first"):
        self.root = root
        looked = ", ".join(f"{name}/" for name in _PHOTO_DIRS) + ", " + ", ".join(_PHOTO_ZIPS)
        self.detail = f"{root}: no competition photos found (looked for {looked} up to {SEARCH_DEPTH} folders down)"
        super().__init__(f"{self.detail}; {hint}" if hint else self.detail)


def _skipped_folder(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def candidate_bases(root: Path, depth: int = SEARCH_DEPTH) -> list[Path]:
    """``root`` and every folder below it down to ``depth`` levels, shallowest first, by name within a level.

    Photo folders hold thousands of files and no folders worth entering; listing each folder once
    (``os.scandir``) keeps the walk quick.
    """
    bases, level = [], [root]
    for _ in range(depth + 1):
        bases += level
        below = []
        for folder in level:
            try:
                with os.scandir(folder) as entries:
                    below += sorted(
                        Path(e.path) for e in entries if e.is_dir(follow_symlinks=True) and not _skipped_folder(e.name)
                    )
            except OSError:
                continue
        level = below
    return bases


def find_competition_data(root: str | os.PathLike, hint: str = "run `dogkit fetch` first") -> CompetitionData:
    """Locate the photos and annotations under ``root`` (see the module docstring), at any depth down
    to ``SEARCH_DEPTH``: the shallowest folder holding the photos wins, and the annotations are taken
    from the same folder, else from the shallowest folder anywhere that holds them.

    ``root`` may be the competition folder itself, ``/kaggle/input`` (whose layout has changed over
    the years: ``generative-dog-images/``, ``competitions/generative-dog-images/``, datasets under
    ``datasets/<owner>/<slug>/``), or any folder with the data somewhere below.

    Raises:
        DataNotFound: no photos found; the message lists where dogkit looked, then ``hint``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DogkitError(f"{root}: not a folder")
    bases = candidate_bases(root)
    for base in bases:
        photos = _photos_in(base)
        if photos is not None:
            annotations = _annotations_in(base)
            if annotations is None:
                annotations = next((found for b in bases if (found := _annotations_in(b)) is not None), None)
            return CompetitionData(photos=photos, annotations=annotations)
    raise DataNotFound(root, hint)


def folder_listing(root: str | os.PathLike, depth: int = 2, per_folder: int = 12) -> list[str]:
    """A short listing of what lies under ``root`` (``depth`` levels; long folders cut), one line each."""
    lines: list[str] = []

    def visit(folder: Path, level: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            lines.append(f"{'  ' * level}(unreadable: {exc.strerror or exc})")
            return
        for entry in entries[:per_folder]:
            is_dir = entry.is_dir(follow_symlinks=True)
            lines.append(f"{'  ' * level}{entry.name}{'/' if is_dir else ''}")
            if is_dir and level + 1 < depth:
                visit(Path(entry.path), level + 1)
        if len(entries) > per_folder:
            lines.append(f"{'  ' * level}... and {len(entries) - per_folder} more")

    visit(Path(root), 0)
    return lines or ["(empty)"]


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("__MACOSX/") and "/." not in f"/{name}"


def find_images(path: str | os.PathLike) -> FileSet | None:
    """Every image file in a folder (recursively, hidden ones left out) or a zip; None if there is none.

    Raises:
        DogkitError: ``path`` is a file that is not a readable zip.
    """
    path = Path(path)
    if path.is_dir():
        names = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(path)
            names.extend((rel / f).as_posix() for f in filenames if _is_image(f))
        return FileSet(path, False, tuple(sorted(names))) if names else None
    names = [n for n in _zip_names(path) if _is_image(n)]
    return FileSet(path, True, tuple(names)) if names else None
