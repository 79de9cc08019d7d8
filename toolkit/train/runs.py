"""A run folder: ``config.json``, ``checkpoints/``, ``history.csv``, ``timing.json``, ``samples/``, ``tensorboard/``.

A checkpoint is a set of part files (``checkpoints/<part>-<number>.npz``, uncompressed, written by
``toolkit.train.checkpoint``) and ``checkpoints/latest.json``, which names them and holds the
position in training (phase, epoch, counters, random generator state). Parts are written first,
each under a temporary name renamed into place once complete and on disk; ``latest.json`` is
replaced last, then parts it no longer names are removed. A process killed at any moment leaves
the previous checkpoint or the new one, never a mix. A part marked frozen (a finished memory) is
written once and named again by later checkpoints.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submission import atomic_path
from toolkit.errors import DogkitError
from toolkit.train.checkpoint import ArrayFile, CheckpointError, write_arrays

CONFIG = "config.json"
HISTORY = "history.csv"
TIMING = "timing.json"
LATEST = "latest.json"
HISTORY_FIELDS = ("phase", "round", "epoch", "steps", "learning_rate", "seconds", "step_seconds", "elapsed")


@dataclass
class Checkpoint:
    position: dict[str, Any]  # where training stands (see toolkit.train.loop.Position)
    parts: dict[str, ArrayFile]  # part name -> its arrays, read on demand
    files: dict[str, str]  # part name -> file name in checkpoints/

    def close(self) -> None:
        for part in self.parts.values():
            part.close()


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # ------------------------------------------------------------------ config

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def exists(self) -> bool:
        return self.config_path.is_file()

    def read_config(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError:
            raise DogkitError(f"{self.path}: not a run folder (no {CONFIG}); train one with `dogkit train`") from None
        except (OSError, ValueError) as exc:
            raise DogkitError(f"{self.config_path}: unreadable ({exc})") from None

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.config_path) as tmp:
            tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ checkpoints

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def has_checkpoint(self) -> bool:
        return (self.checkpoints_dir / LATEST).is_file()

    def _latest(self) -> dict[str, Any] | None:
        path = self.checkpoints_dir / LATEST
        try:
            latest = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DogkitError(f"{path}: unreadable ({exc}); start a new run with another --run") from None
        if not isinstance(latest, dict) or not isinstance(latest.get("parts"), dict):
            raise DogkitError(f"{path}: not a dogkit checkpoint record; start a new run with another --run")
        return latest

    def save_checkpoint(self, parts: Mapping[str, Any], position: dict[str, Any]) -> int:
        """Write a checkpoint of ``parts`` (name -> ``toolkit.models.base.Part``) at ``position``.

        Returns the bytes written (frozen parts already on disk cost nothing).
        """
        folder = self.checkpoints_dir
        folder.mkdir(parents=True, exist_ok=True)
        previous = self._latest() or {"number": 0, "parts": {}, "frozen": {}}
        number = int(previous.get("number", 0)) + 1
        files, frozen, written = {}, {}, 0
        for name, part in parts.items():
            kept = previous["parts"].get(name)
            if part.frozen is not None and previous.get("frozen", {}).get(name) == part.frozen and kept:
                if (folder / kept).is_file():
                    files[name], frozen[name] = kept, part.frozen
                    continue
            file_name = f"{name}-{number:06d}.npz"
            written += write_arrays(folder / file_name, part.arrays)
            files[name] = file_name
            if part.frozen is not None:
                frozen[name] = part.frozen
        record = {"number": number, "parts": files, "frozen": frozen, "position": position, "saved": time.time()}
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        with atomic_path(folder / LATEST) as tmp:
            tmp.write_text(text)
        written += len(text)
        for path in folder.glob("*.npz"):  # parts no checkpoint names any more
            if path.name not in files.values():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return written

    def load_checkpoint(self) -> Checkpoint | None:
        """The latest checkpoint, its parts opened for reading; None when there is none.

        Raises:
            DogkitError: a checkpoint file that is missing or damaged (named, with what to do).
        """
        latest = self._latest()
        if latest is None:
            return None
        parts: dict[str, ArrayFile] = {}
        try:
            for name, file_name in latest["parts"].items():
                parts[name] = ArrayFile(self.checkpoints_dir / file_name)
        except CheckpointError as exc:
            for part in parts.values():
                part.close()
            raise DogkitError(f"{exc}; the run cannot be resumed from it: start a new run with another --run") from None
        return Checkpoint(position=latest.get("position", {}), parts=parts, files=dict(latest["parts"]))

    # ------------------------------------------------------------------ history, timing, samples, logs

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    def read_history(self) -> list[dict[str, str]]:
        if not self.history_path.exists():
            return []
        with open(self.history_path, newline="") as handle:
            return list(csv.DictReader(handle))

    def _history_columns(self) -> list[str]:
        if not self.history_path.exists():
            return []
        with open(self.history_path, newline="") as handle:
            return next(csv.reader(handle), [])

    def append_history(self, row: dict[str, Any]) -> None:
        """Add one row; columns it brings that the file lacks are added (the file is rewritten once)."""
        columns = self._history_columns()
        new = [key for key in row if key not in columns]
        if new:
            columns = (columns or list(HISTORY_FIELDS)) + [key for key in new if key not in HISTORY_FIELDS]
            self._write_history(self.read_history(), columns)
        with open(self.history_path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=columns, restval="").writerow({k: row.get(k, "") for k in columns})

    def _write_history(self, rows: list[dict[str, str]], columns: list[str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.history_path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def truncate_history(self, keep: int) -> None:
        """Keep the first ``keep`` rows (drop rows a killed process wrote after its last checkpoint)."""
        rows = self.read_history()
        if len(rows) <= keep:
            return
        if keep == 0:
            self.history_path.unlink()
            return
        self._write_history(rows[:keep], self._history_columns())

    def read_timing(self) -> dict[str, dict[str, float]]:
        try:
            return json.loads((self.path / TIMING).read_text())
        except (OSError, ValueError):
            return {}

    def write_timing(self, timing: dict[str, dict[str, float]]) -> None:
        with atomic_path(self.path / TIMING, durable=False) as tmp:
            tmp.write_text(json.dumps(timing, indent=1, sort_keys=True) + "\n")

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"


def variables_state(prefix: str, variables) -> dict[str, Any]:
    """Checkpoint arrays of a list of Keras/TF variables, named ``prefix/000``, ``prefix/001``, ...

    The values are read now, as tensors that later training steps leave as they are (TensorFlow
    copies a variable's buffer before updating it while a read of it is held), and become arrays
    when written: a checkpoint writer thread can take them while training goes on, and the
    training thread pays nothing to copy them.
    """
    return {f"{prefix}/{k:03d}": _read(v) for k, v in enumerate(variables)}


def _read(variable):
    inner = getattr(variable, "value", None)  # a Keras variable holds a tf.Variable; a tf.Variable reads itself
    if callable(inner):
        return inner()
    if inner is not None and hasattr(inner, "read_value"):
        return inner.read_value()
    return variable.numpy()


def load_variables(prefix: str, variables, arrays) -> None:
    """Assign what ``variables_state(prefix, ...)`` saved; a shape that differs is a ValueError."""
    for k, variable in enumerate(variables):
        key = f"{prefix}/{k:03d}"
        if key not in arrays:
            raise ValueError(f"checkpoint has no {key}: it was written for another model")
        value = arrays[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"checkpoint {key} has shape {value.shape}, the model expects {variable.shape}")
        variable.assign(value)


def config_differences(saved: dict[str, Any], given: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two nested config dicts (``key: saved -> given``)."""
    lines = []
    for key in sorted(set(saved) | set(given)):
        a, b = saved.get(key, "<absent>"), given.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {a} in the run, {b} given")
    return lines
