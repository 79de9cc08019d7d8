"""A run folder: ``config.json``, ``checkpoints/``, ``history.csv``, ``timing.json``, ``samples/``, ``tensorboard/``.

A checkpoint is a set of part files (``checkpoints/<part>-<number>.npz``, uncompressed, written by
``toolkit.train.checkpoint``) and ``checkpoints/latest.json``, which names them and holds the
position in training (phase, epoch, counters, random generator state). Parts are written first,
each under a temporary name renamed into place once complete and on disk; ``latest.json`` is
replaced last, then parts it no longer names are removed. A process killed at any moment leaves
the previous checkpoint or the new one, never a mix. A part marked frozen (a finished memory) is
written once and named again by later checkpoints. ``checkpoints/best.json`` names the checkpoint
with the best evaluation so far (``toolkit.train.evaluation``) and holds that evaluation; its parts
are kept until a better one replaces it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from submission import atomic_path
from toolkit.errors import DogkitError
from toolkit.train.checkpoint import ArrayFile, CheckpointError, write_arrays

log = logging.getLogger("dogkit")

CONFIG = "config.json"
HISTORY = "history.csv"
TIMING = "timing.json"
LATEST = "latest.json"
PREVIOUS = "previous.json"  # the checkpoint before the latest: the fallback when the latest is damaged
BEST = "best.json"  # the checkpoint with the best evaluation so far, and that evaluation
LOCK = ".lock"
HISTORY_FIELDS = ("phase", "round", "epoch", "steps", "learning_rate", "seconds", "step_seconds", "elapsed")


@dataclass
class Position:
    """Where training stands; saved with every checkpoint (its ``position``)."""

    phase: int = 0  # index into the model's phases
    epoch: int = 0  # epochs of that phase done
    epochs_done: int = 0  # epochs of all phases done (sample grids and TensorBoard count in it)
    steps: int = 0  # steps of all phases, cut-short epochs' included
    generator_steps: int | None = None  # steps of phases that train the generator (None: written before 0.2)
    history_rows: int = 0  # rows of history.csv this checkpoint accounts for
    rng: dict | None = None  # the loop's random generator state
    complete: bool = False
    untrained: bool = False  # a stand-in saved before any step (0.1 saved one for budgets too small)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> Position:
        names = {f.name for f in fields(cls)}
        position = cls(**{key: value for key, value in saved.items() if key in names})
        if position.generator_steps is None:  # before 0.2 every step counted
            position.generator_steps = 0 if position.untrained else position.steps
        return position

    def generator_trained(self) -> bool:
        """Whether the generator has had a training step (the memorizer's memorize phase trains none)."""
        return not self.untrained and bool(self.generator_steps)


@dataclass
class Checkpoint:
    position: dict[str, Any]  # where training stands (``Position``, as a dict)
    parts: dict[str, ArrayFile]  # part name -> its arrays, read on demand
    files: dict[str, str]  # part name -> file name in checkpoints/
    evaluation: dict[str, Any] | None = None  # a best snapshot's evaluation (best.json's)

    def close(self) -> None:
        for part in self.parts.values():
            part.close()


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._latest_damaged = False  # load_checkpoint fell back to previous.json

    # ------------------------------------------------------------------ config

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def exists(self) -> bool:
        """Whether the folder holds a run (its config; a folder with training state but no config is an error)."""
        if self.config_path.is_file():
            return True
        if self.has_checkpoint() or self.history_path.is_file():
            raise DogkitError(
                f"{self.config_path}: missing, though the folder holds a run's checkpoints or history; put the "
                "config back, or start a new run with another --run"
            )
        return False

    def read_config(self) -> dict[str, Any]:
        try:
            config = json.loads(self.config_path.read_text())
        except FileNotFoundError:
            raise DogkitError(f"{self.path}: not a run folder (no {CONFIG}); train one with `dogkit train`") from None
        except (OSError, ValueError) as exc:
            raise DogkitError(f"{self.config_path}: unreadable ({exc}); start a new run with another --run") from None
        problem = None
        if not isinstance(config, dict):
            problem = f"a JSON {type(config).__name__}, not the object `dogkit train` writes"
        else:
            for key, kind, needed in (("model", str, True), ("model_config", dict, True), ("data", dict, False)):
                if key not in config:
                    problem = f"it has no {key!r}" if needed else None
                elif not isinstance(config[key], kind):
                    problem = f"its {key!r} is a {type(config[key]).__name__}, not a {kind.__name__}"
                if problem:
                    break
        if problem:
            raise DogkitError(
                f"{self.config_path}: not a dogkit run config ({problem}); start a new run with another --run"
            )
        return config

    def saved_model_config(self, config_class) -> dict[str, Any]:
        """The options in config.json's model_config that ``config_class`` has, each checked.

        Raises:
            DogkitError: a value the option refuses (hand-edited, or another version's), naming config.json.
        """
        from toolkit.train.options import check_values

        saved = self.read_config()["model_config"]
        names = {f.name for f in fields(config_class)}
        try:
            values = check_values(config_class, {k: v for k, v in saved.items() if k in names})
            config_class(**values)
        except (TypeError, ValueError) as exc:  # OptionError is a ValueError
            raise DogkitError(f"{self.config_path}: model_config: {exc}") from None
        return values

    # ------------------------------------------------------------------ one writer at a time

    @contextlib.contextmanager
    def writer(self):
        """Hold the run folder for writing (an exclusive lock on ``.lock``) for the whole block.

        A second process gets a ``DogkitError`` naming the holder's PID. The lock dies with its
        process, so a killed run never blocks the next. A folder this call made is removed again if
        the block fails before the run's config is written (a refused start leaves nothing behind).
        Leftover temporary files of writes a killed process never finished are removed.
        """
        import fcntl

        made = next((p for p in reversed((self.path, *self.path.parents)) if not p.exists()), None)
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / LOCK, "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise DogkitError(
                    f"{self.path}: another dogkit train (PID {holder}) is writing this run; wait for it to end "
                    "or choose another --run"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            self._remove_orphans()
            try:
                yield self
            except BaseException:
                if made is not None and not self.config_path.is_file():
                    handle.close()
                    shutil.rmtree(made, ignore_errors=True)  # the outermost folder this call made
                raise
        finally:
            handle.close()

    def _remove_orphans(self) -> None:
        for folder in (self.path, self.checkpoints_dir, self.samples_dir):
            for path in folder.glob(".*.tmp"):  # atomic_path's and write_arrays' names: .<name>.<pid>.tmp
                with contextlib.suppress(OSError):
                    path.unlink()

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.config_path) as tmp:
            tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ checkpoints

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def has_checkpoint(self) -> bool:
        return any((self.checkpoints_dir / name).is_file() for name in (LATEST, PREVIOUS))

    def _record(self, name: str) -> dict[str, Any] | None:
        """A checkpoint record (``latest.json`` or ``previous.json``); None when there is none."""
        path = self.checkpoints_dir / name
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DogkitError(f"{path}: unreadable ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("parts"), dict):
            raise DogkitError(f"{path}: not a dogkit checkpoint record")
        return record

    def _record_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            return self._record(name)
        except DogkitError:
            return None

    def save_checkpoint(
        self, parts: Mapping[str, Any], position: dict[str, Any], best: Mapping[str, Any] | None = None
    ) -> int:
        """Write a checkpoint of ``parts`` (name -> ``toolkit.models.base.Part``) at ``position``.

        The checkpoint it replaces is kept as the fallback (``previous.json`` and its parts). With
        ``best`` (an evaluation), it is also the best snapshot (``best.json``: the record and the
        evaluation); the best snapshot's parts stay until a better one replaces it, named, not
        copied. Returns the bytes written (frozen parts already on disk cost nothing).
        """
        folder = self.checkpoints_dir
        folder.mkdir(parents=True, exist_ok=True)
        best_record = self._record_or_none(BEST)
        records = self._record_or_none(LATEST), self._record_or_none(PREVIOUS)
        numbers = [int(r.get("number", 0)) for r in records if r]
        # the checkpoint replaced becomes the fallback; after resuming from the fallback because the latest
        # was damaged, that sound one stays the fallback (and the damaged one's files go)
        latest = records[1] if self._latest_damaged else records[0]
        self._latest_damaged = False
        previous = latest or {"number": 0, "parts": {}, "frozen": {}}
        number = max(numbers, default=0) + 1
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
        if latest is not None:
            with atomic_path(folder / PREVIOUS) as tmp:
                tmp.write_text(json.dumps(latest, indent=1, sort_keys=True) + "\n")
        with atomic_path(folder / LATEST) as tmp:
            tmp.write_text(text)
        written += len(text)
        if best is not None:
            best_record = {**record, "evaluation": dict(best)}
            with atomic_path(folder / BEST) as tmp:
                tmp.write_text(json.dumps(best_record, indent=1, sort_keys=True) + "\n")
        kept = set(files.values()) | set((latest or {}).get("parts", {}).values())
        kept |= set((best_record or {}).get("parts", {}).values())
        for path in folder.glob("*.npz"):  # parts neither checkpoint names any more
            if path.name not in kept:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return written

    def load_checkpoint(self, verify: bool = True, use: str = "resuming from") -> Checkpoint | None:
        """The latest checkpoint, its parts opened for reading (and, with ``verify``, their CRCs
        checked); the one before it when the latest is damaged (said in the log, with ``use``: what
        is done with it); None when none.

        Raises:
            DogkitError: damaged, with no sound checkpoint before it (the file named, with what to do).
        """
        problems: list[str] = []
        for name in (LATEST, PREVIOUS):
            try:
                record = self._record(name)
            except DogkitError as exc:
                problems.append(str(exc))
                continue
            if record is None:
                continue
            try:
                parts = self._open_parts(record, verify)
            except CheckpointError as exc:
                problems.append(str(exc))
                continue
            if problems:
                log.warning("warning: %s; %s the checkpoint before it (number %s)", problems[0], use, record["number"])
                self._latest_damaged = True
            return Checkpoint(position=record.get("position", {}), parts=parts, files=dict(record["parts"]))
        if problems:
            raise DogkitError(f"{problems[-1]}; no sound checkpoint to resume from: start a new run with another --run")
        return None

    def _open_parts(self, record: Mapping[str, Any], verify: bool) -> dict[str, ArrayFile]:
        """The part files a checkpoint record names, opened (and, with ``verify``, their CRCs checked).

        Raises:
            CheckpointError: one is missing or damaged (those already opened are closed again).
        """
        parts: dict[str, ArrayFile] = {}
        try:
            for part, file_name in record["parts"].items():
                parts[part] = ArrayFile(self.checkpoints_dir / file_name)
                if verify:
                    parts[part].verify()
        except CheckpointError:
            for opened in parts.values():
                opened.close()
            raise
        return parts

    def best_evaluation(self) -> dict[str, Any] | None:
        """The best snapshot's evaluation, or None (no evaluations, or best.json unreadable)."""
        record = self._record_or_none(BEST)
        evaluation = (record or {}).get("evaluation")
        return evaluation if isinstance(evaluation, dict) else None

    def has_best(self) -> bool:
        return (self.checkpoints_dir / BEST).is_file()

    def load_best(self, verify: bool = False) -> Checkpoint | None:
        """The best snapshot, its parts opened; None (said in one line) when it is damaged or gone."""
        try:
            record = self._record(BEST)
        except DogkitError as exc:
            log.warning("warning: %s; using the latest checkpoint instead", exc)
            return None
        if record is None:
            return None
        try:
            parts = self._open_parts(record, verify)
        except CheckpointError as exc:
            log.warning("warning: the best snapshot is damaged (%s); using the latest checkpoint instead", exc)
            return None
        evaluation = record.get("evaluation") if isinstance(record.get("evaluation"), dict) else None
        return Checkpoint(record.get("position", {}), parts, dict(record["parts"]), evaluation)

    # ------------------------------------------------------------------ history, timing, samples, logs

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    def read_history(self) -> list[dict[str, str]]:
        """The rows of history.csv, up to the first damaged one (see ``repair_history``)."""
        rows, _ = self._parse_history()
        return rows

    def _parse_history(self) -> tuple[list[dict[str, str]], str | None]:
        """(the sound rows, what is wrong after them or None). A row is sound when every column the
        loop writes is there and reads as its type; rows after a damaged one are not trusted."""
        try:
            raw = self.history_path.read_bytes()
        except FileNotFoundError:
            return [], None
        text = raw.decode("utf-8", errors="replace").replace("\0", "\ufffd")
        lines = text.splitlines(keepends=True)
        if not lines:
            return [], None
        header = next(csv.reader([lines[0]]), [])
        if tuple(header[: len(HISTORY_FIELDS)]) != HISTORY_FIELDS or "\ufffd" in lines[0]:
            return [], "its header is damaged"
        rows = []
        for number, line in enumerate(lines[1:], start=2):
            values = next(csv.reader([line]), [])
            problem = None
            if not line.endswith("\n"):
                problem = f"line {number} is cut short"
            elif "\ufffd" in line or len(values) != len(header):
                problem = f"line {number} holds damaged bytes"
            else:
                row = dict(zip(header, values))
                if not _sound_row(row):
                    problem = f"line {number} holds damaged values"
            if problem:
                return rows, problem
            rows.append(row)
        return rows, None

    def repair_history(self) -> str | None:
        """Rewrite history.csv without its damaged rows (and those after them); say what was removed."""
        rows, problem = self._parse_history()
        if problem is None:
            return None
        total = sum(1 for _ in self.history_path.open("rb")) - 1
        self._write_history(rows, self._history_columns() if rows else list(HISTORY_FIELDS))
        return f"{self.history_path}: {problem}; kept its first {len(rows)} rows, removed {max(total - len(rows), 0)}"

    def _history_columns(self) -> list[str]:
        if not self.history_path.exists():
            return []
        with open(self.history_path, newline="", errors="replace") as handle:
            return next(csv.reader(line.replace("\0", "") for line in handle), [])

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


def _sound_row(row: dict[str, str]) -> bool:
    try:
        for key in ("round", "epoch", "steps"):
            int(row[key])
        for key in ("seconds", "step_seconds", "elapsed"):
            float(row[key])
    except (KeyError, ValueError):
        return False
    return bool(row.get("phase")) and row["phase"].replace("-", "").replace("_", "").isalnum()


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
