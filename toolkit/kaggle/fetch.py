"""``dogkit fetch``: download the competition's files with the kaggle client and extract them.

Layout written: ``DEST/<competition>/all-dogs/*.jpg`` and ``DEST/<competition>/Annotation/<breed>/<id>``
(the inner ``all-dogs.zip`` and ``Annotation.zip`` are extracted, then removed). Everything is
extracted into a staging folder and renamed into place at the end, with a marker file, so a
complete folder is recognised on the next run and an interrupted one is redone.
"""

from __future__ import annotations

import json
import logging
import shutil
import stat
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from toolkit.competition import COMPETITION
from toolkit.errors import DogkitError
from toolkit.kaggle.client import connect, kaggle_errors
from toolkit.progress import progress_bar

log = logging.getLogger(__name__)

MARKER = ".dogkit-fetched.json"
_INNER_ZIPS = ("all-dogs.zip", "Annotation.zip")


@dataclass(frozen=True)
class FetchConfig:
    competition: str = COMPETITION  # Kaggle competition slug
    dest: Path = Path("data")  # the data lands in dest/<competition>/
    force: bool = False  # download and extract again even when complete


@dataclass(frozen=True)
class FetchResult:
    folder: Path
    downloaded: bool  # False: the data was already complete, nothing was done
    files: int  # files in the folder
    bytes: int  # their total size


def unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why extracting this member could write outside the destination, or None if it cannot."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in path.parts:
        return "path climbs out with '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return None


def safe_extract(archive_path: Path, dest: Path, desc: str = "extract") -> int:
    """Extract ``archive_path`` into ``dest``; refuse the whole archive if any member is unsafe.

    Returns the number of files written. Raises ``DogkitError`` naming the first unsafe member
    (nothing is written then) or when the archive is unreadable.
    """
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DogkitError(f"{archive_path}: not a readable zip archive ({exc})") from None
    with archive:
        members = archive.infolist()
        for info in members:
            reason = unsafe_member(info)
            if reason:
                raise DogkitError(
                    f"{archive_path}: refusing to extract member {info.filename!r} ({reason}): "
                    f"it would land outside {dest}"
                )
        root = dest.resolve()
        written = 0
        with progress_bar(sum(i.file_size for i in members), desc, unit="B", unit_scale=True) as bar:
            for info in members:
                target = (dest / info.filename).resolve()
                if root != target and root not in target.parents:  # belt and braces after the name checks
                    raise DogkitError(f"{archive_path}: member {info.filename!r} would land outside {dest}")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with archive.open(info) as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                except (zipfile.BadZipFile, OSError) as exc:
                    raise DogkitError(f"{archive_path}: member {info.filename!r} is corrupt ({exc})") from None
                bar.update(info.file_size)
                written += 1
    return written


def _folder_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != MARKER]
    return len(files), sum(p.stat().st_size for p in files)


def is_complete(folder: Path) -> bool:
    """True when a fetch into ``folder`` ran to its end (its marker is written last)."""
    return (folder / MARKER).is_file()


def _holds_the_data(folder: Path) -> bool:
    """Photos and annotations already there (extracted by hand, say): nothing to fetch, nothing to replace."""
    from toolkit.data.discovery import find_competition_data

    if not folder.is_dir():
        return False
    try:
        return find_competition_data(folder).annotations is not None
    except DogkitError:
        return False


def downloaded_archive(folder: Path, competition: str) -> Path:
    """The file the client wrote for ``competition`` in ``folder``: ``<competition>.<extension>``, the
    extension taken from the download URL (so not always ``.zip``); the newest if several.

    Raises:
        DogkitError: no such file, or it is not a zip archive.
    """
    written = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith(f"{competition}.") and not p.name.endswith(".kaggle-partial")
    ]
    if not written:
        found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        raise DogkitError(f"competition '{competition}': the download finished but {folder} holds {found}")
    archive = max(written, key=lambda p: p.stat().st_mtime_ns)
    if not zipfile.is_zipfile(archive):
        raise DogkitError(f"{archive}: Kaggle's download is not a zip archive; run `dogkit fetch --force`")
    return archive


def fetch(config: FetchConfig) -> FetchResult:
    """Download and extract the competition's data into ``config.dest / config.competition``.

    Raises:
        DogkitError: missing or refused credentials, rules not accepted, unknown competition,
            network failure, or an archive that is unreadable or would write outside the folder.
    """
    dest = Path(config.dest)
    folder = dest / config.competition
    if not config.force and (is_complete(folder) or _holds_the_data(folder)):
        files, size = _folder_size(folder)
        return FetchResult(folder=folder, downloaded=False, files=files, bytes=size)

    api = connect()
    download_dir = dest / ".download"
    download_dir.mkdir(parents=True, exist_ok=True)
    subject = f"competition '{config.competition}'"
    with kaggle_errors(subject, competition=config.competition):
        api.competition_download_files(
            config.competition, path=str(download_dir), force=config.force, quiet=not sys.stderr.isatty()
        )
    archive = downloaded_archive(download_dir, config.competition)

    staging = dest / f".{config.competition}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        safe_extract(archive, staging, desc=archive.name)
        for inner in _INNER_ZIPS:
            inner_path = staging / inner
            if inner_path.is_file():
                safe_extract(inner_path, staging, desc=inner)
                inner_path.unlink()
        files, size = _folder_size(staging)
        (staging / MARKER).write_text(
            json.dumps({"competition": config.competition, "files": files, "bytes": size, "time": time.time()})
        )
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    archive.unlink()
    shutil.rmtree(download_dir, ignore_errors=True)
    log.debug("fetched %s: %d files, %d bytes", folder, files, size)
    return FetchResult(folder=folder, downloaded=True, files=files, bytes=size)
