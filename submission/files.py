"""Atomic file output: write under a temporary name, rename into place when complete."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator
from pathlib import Path


def check_writable(folder: str | os.PathLike) -> Path:
    """Make ``folder`` (and its parents) if needed and prove a file can be written there, before work
    whose result would have nowhere to go.

    Raises:
        OSError: naming the folder (read-only, no permission, no space, a file in the way).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-test.{os.getpid()}.tmp"
    try:
        probe.write_bytes(b"x")
    except OSError as exc:
        raise _naming(exc, probe, folder) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return folder


def target_problem(path: str | os.PathLike, folder: bool = False) -> str | None:
    """Why dogkit must not write ``path`` (None: it may): an output is a regular file (a folder when
    ``folder``) or absent, under folders, never a device, FIFO or socket replaced by a rename."""
    import stat

    if str(path) == "":
        return "an empty path"
    target = Path(path)
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            return f"{parent} is not a folder"
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})"
    if folder and not stat.S_ISDIR(mode):
        return "exists and is not a folder"
    if not folder and not stat.S_ISREG(mode):
        kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                 (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))  # fmt: skip
        kind = next((name for test, name in kinds if test(mode)), "not a regular file")
        return f"is {kind}; dogkit only writes regular files and never replaces anything else"
    return None


def _naming(exc: OSError, tmp: Path, target: Path) -> OSError:
    """``exc`` about ``target`` where it named the temporary file, or nothing (a write that ran out of
    space names no file): the user knows the file they asked for, not dogkit's temporary name."""
    if exc.filename is None or Path(exc.filename) == tmp:
        return OSError(exc.errno, exc.strerror or str(exc), str(target))  # errno picks the subclass
    return exc


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder so that the final ``os.replace`` is an atomic
    rename on the same file system. If the block raises, the temporary file is removed and
    whatever already stood at ``path`` is untouched. ``durable`` flushes the data, then the
    rename, to disk (survives a machine crash, not only a killed process); files rewritten often
    whose loss costs nothing skip it.

    Raises:
        OSError: writing failed (no space, read-only, ...); an error about the temporary file, or
            about no file, names ``path``.
    """
    target = Path(path)
    created = [folder for folder in reversed(target.parents) if not folder.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    done = False
    try:
        yield tmp
        if tmp.exists():
            if durable:
                with open(tmp, "rb") as written:
                    os.fsync(written.fileno())
            os.replace(tmp, target)
            if durable:
                fsync_folder(target.parent)
        done = True
    except OSError as exc:
        raise _naming(exc, tmp, target) from None
    finally:
        with contextlib.suppress(OSError):  # on a read-only folder this fails too: the cause above must show
            tmp.unlink()
        if not done:  # a failed write leaves no folders it made behind (rmdir: only empty ones)
            for folder in reversed(created):
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _remove_orphans(target: Path) -> None:
    """Remove temporary files of ``target`` left by processes that no longer run (killed by SIGKILL)."""
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        pid = leftover.name[len(target.name) + 2 : -len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                leftover.unlink()
        except (PermissionError, OverflowError, OSError):
            continue  # alive under another user, or no such process number
