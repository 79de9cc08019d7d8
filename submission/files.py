"""Atomic file output: write under a temporary name, rename into place when complete."""

from __future__ import annotations

import contextlib
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
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder so that the final ``os.replace`` is an atomic
    rename on the same file system. If the block raises, the temporary file is removed and
    whatever already stood at ``path`` is untouched. ``durable`` flushes the data to disk before
    the rename (survives a machine crash, not only a killed process); large checkpoints that are
    rewritten every epoch skip it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if tmp.exists():
            if durable:
                with open(tmp, "rb") as written:
                    os.fsync(written.fileno())
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
