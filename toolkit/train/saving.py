"""Checkpoints written by time, on demand, and in the background."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from toolkit.errors import DogkitError
from toolkit.train.runs import Position, RunFolder


class CheckpointSaver:
    """Writes checkpoints: by time (``due``), on demand, a part of copies in a background thread."""

    def __init__(self, run: RunFolder, every_s: float):
        self.run = run
        self.every_s = every_s
        self.last = time.monotonic()
        self.blocked_s = 0.0  # time the training thread waited on saving
        self.bytes = 0
        self.saves = 0
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every_s

    def save(
        self,
        state: Callable[[], Mapping[str, Any]],
        position: Position,
        wait: bool = False,
        best: Mapping[str, Any] | None = None,
    ) -> None:
        """Save ``state()`` (the model's parts, taken now, on this thread) at ``position``; with ``best``
        (an evaluation), as the best snapshot too."""
        from toolkit.train.checkpoint import ChunkedArray

        tick = time.perf_counter()
        self.join()
        parts = state()
        record = asdict(position)
        # a part streamed from live tables (not frozen) must be written before training changes them
        live = any(
            isinstance(a, ChunkedArray) for part in parts.values() if part.frozen is None for a in part.arrays.values()
        )
        if live or wait:
            self._write(parts, record, best)
            self.join()  # a failed write is the caller's to hear of now, not at a next save that may never come
        else:
            self._thread = threading.Thread(
                target=self._write, args=(parts, record, best), name="checkpoint", daemon=True
            )
            self._thread.start()
        self.last = time.monotonic()
        self.blocked_s += time.perf_counter() - tick

    def _write(self, parts, record, best=None) -> None:
        try:
            self.bytes += self.run.save_checkpoint(parts, record, best)
            self.saves += 1
        except BaseException as exc:  # raised on the training thread by the next join()
            self._failure = exc

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            if isinstance(failure, OSError):
                raise DogkitError(f"{self.run.checkpoints_dir}: cannot write a checkpoint ({failure})") from failure
            raise failure
