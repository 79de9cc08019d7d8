"""A run folder: ``config.json``, checkpoints, ``history.csv``, ``samples/``, ``tensorboard/``.

A checkpoint is one ``.npz`` holding arrays and, under the key ``state``, a JSON document with
the position in training (phase, round, epoch, counters, random generator state). Arrays and
position are written together, atomically, so a process killed at any moment leaves either
the previous checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from submission import atomic_path
from toolkit.errors import DogkitError

CONFIG = "config.json"
HISTORY = "history.csv"
HISTORY_FIELDS = ("phase", "round", "epoch", "loss", "learning_rate", "seconds", "elapsed")


@dataclass(frozen=True)
class Checkpoint:
    arrays: dict[str, np.ndarray]
    state: dict[str, Any]


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

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.npz"

    def has_checkpoint(self, name: str) -> bool:
        return self.checkpoint_path(name).is_file()

    def save_checkpoint(self, name: str, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> Path:
        path = self.checkpoint_path(name)
        payload = {f"a/{key}": value for key, value in arrays.items()}
        payload["state"] = np.array(json.dumps(state))
        with atomic_path(path, durable=False) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **payload)
        return path

    def load_checkpoint(self, name: str) -> Checkpoint:
        path = self.checkpoint_path(name)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key[2:]: archive[key] for key in archive.files if key.startswith("a/")}
                state = json.loads(str(archive["state"]))
        except FileNotFoundError:
            raise DogkitError(f"{path}: checkpoint not found") from None
        except (OSError, ValueError, KeyError) as exc:
            raise DogkitError(f"{path}: unreadable checkpoint ({exc})") from None
        return Checkpoint(arrays=arrays, state=state)

    # ------------------------------------------------------------------ history, samples, logs

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    def append_history(self, row: dict[str, Any]) -> None:
        new = not self.history_path.exists()
        with open(self.history_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({key: row.get(key, "") for key in HISTORY_FIELDS})

    def read_history(self) -> list[dict[str, str]]:
        if not self.history_path.exists():
            return []
        with open(self.history_path, newline="") as handle:
            return list(csv.DictReader(handle))

    def truncate_history(self, keep: int) -> None:
        """Keep the first ``keep`` rows (drop rows a killed process wrote after its last checkpoint)."""
        rows = self.read_history()
        if len(rows) <= keep:
            return
        if keep == 0:
            self.history_path.unlink()
            return
        with atomic_path(self.history_path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS)
            writer.writeheader()
            writer.writerows(rows[:keep])

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"


def variables_state(prefix: str, variables) -> dict[str, np.ndarray]:
    """Checkpoint arrays of a list of Keras/TF variables, named ``prefix/000``, ``prefix/001``, ..."""
    return {f"{prefix}/{k:03d}": v.numpy() for k, v in enumerate(variables)}


def load_variables(prefix: str, variables, arrays: dict[str, np.ndarray]) -> None:
    """Assign what ``variables_state(prefix, ...)`` saved; a shape that differs is a ValueError."""
    for k, variable in enumerate(variables):
        value = arrays[f"{prefix}/{k:03d}"]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"checkpoint {prefix}/{k:03d} has shape {value.shape}, the model expects {variable.shape}")
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
