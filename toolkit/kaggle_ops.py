"""Kernels on Kaggle: push a bundled kernel, follow it, fetch its output, submit its images.zip.

All requests go through the real ``kaggle`` client (``toolkit.kaggle_client``); every failure is
a one-line ``DogkitError``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import DogkitError
from .kaggle_client import connect, kaggle_errors

log = logging.getLogger("dogkit")

COMPETITION = "generative-dog-images"
FINAL_STATES = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")


@dataclass(frozen=True)
class PushResult:
    kernel: str  # owner/slug
    version: int
    url: str


@dataclass(frozen=True)
class KernelStatus:
    kernel: str
    state: str  # QUEUED, RUNNING, COMPLETE, ERROR, CANCEL_REQUESTED, CANCEL_ACKNOWLEDGED
    failure: str  # Kaggle's failure message, "" when none

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class SubmitResult:
    kernel: str
    version: int | None
    message: str  # Kaggle's answer
    ref: int
    local_score: dict | None  # score.json of this very zip, when `dogkit score` made one


def check_kernel_id(kernel: str, allow_version: bool = False) -> str:
    parts = kernel.split("/")
    if len(parts) not in ((2, 3) if allow_version else (2,)) or not all(parts[:2]):
        expected = "owner/slug" + (" or owner/slug/VERSION" if allow_version else "")
        raise DogkitError(f"kernel must be given as {expected}, got {kernel!r}")
    return kernel


def read_metadata(folder: Path) -> dict:
    path = Path(folder) / "kernel-metadata.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DogkitError(f"{path}: not found; write the kernel folder with `dogkit bundle` first") from None
    except ValueError as exc:
        raise DogkitError(f"{path}: not valid JSON ({exc})") from None


def push(folder: str | os.PathLike) -> PushResult:
    """Push the kernel in ``folder`` (kernel-metadata.json + code file) as a new version."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    kernel = metadata.get("id", "")
    code = folder / metadata.get("code_file", "")
    if not code.is_file():
        raise DogkitError(f"{code}: the code file named in kernel-metadata.json is missing")
    api = connect()
    with kaggle_errors(f"kernel '{kernel}'", competition=COMPETITION):
        try:
            response = api.kernels_push(str(folder))
        except ValueError as exc:  # the client's own checks of the metadata
            raise DogkitError(f"{folder / 'kernel-metadata.json'}: {exc}") from None
    if getattr(response, "error", ""):
        raise DogkitError(f"Kaggle rejected the push of '{kernel}': {response.error}")
    return PushResult(kernel=kernel, version=int(response.version_number or 0), url=response.url or "")


def status(kernel: str) -> KernelStatus:
    check_kernel_id(kernel, allow_version=True)
    api = connect()
    with kaggle_errors(f"kernel '{kernel}'"):
        try:
            response = api.kernels_status(kernel)
        except ValueError as exc:  # the client turns 401/403 on kernels into ValueError
            raise DogkitError(f"kernel '{kernel}': {exc}") from None
    state = getattr(response.status, "name", str(response.status)).upper()
    return KernelStatus(kernel=kernel, state=state, failure=response.failure_message or "")


def wait(
    kernel: str,
    poll_seconds: float = 30.0,
    timeout_s: float = 12 * 3600,
    on_change: Callable[[KernelStatus], object] | None = None,
) -> KernelStatus:
    """Poll until the kernel run ends; a run that ends in error is a ``DogkitError``."""
    started = time.monotonic()
    last = None
    while True:
        current = status(kernel)
        if current.state != last and on_change is not None:
            on_change(current)
        last = current.state
        if current.done:
            break
        if time.monotonic() - started > timeout_s:
            raise DogkitError(f"kernel '{kernel}' still {current.state.lower()} after {timeout_s:.0f} s")
        time.sleep(poll_seconds)
    if current.state != "COMPLETE":
        detail = f": {current.failure}" if current.failure else ""
        raise DogkitError(
            f"kernel '{kernel}' ended in {current.state.lower()}{detail}; see its log with `dogkit output`"
        )
    return current


def output(kernel: str, dest: str | os.PathLike) -> list[Path]:
    """Download the output files (and the log) of the kernel's run into ``dest``."""
    check_kernel_id(kernel, allow_version=True)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    api = connect()
    with kaggle_errors(f"kernel '{kernel}'"):
        try:
            files, _ = api.kernels_output(kernel, str(dest), force=True, quiet=True)
        except ValueError as exc:
            raise DogkitError(f"kernel '{kernel}': {exc}") from None
    return [Path(f) for f in files]


def local_score_for(zip_path: Path, search: list[Path]) -> dict | None:
    """The score.json among ``search`` that was computed for exactly this zip (same SHA-256)."""
    from .score import saved_score

    return next((score for score in (saved_score(zip_path, path) for path in search) if score), None)


def submit(
    kernel: str,
    message: str,
    version: int | None = None,
    competition: str = COMPETITION,
    score_files: list[Path] | None = None,
) -> SubmitResult:
    """Submit the ``images.zip`` of a kernel version, after checking it against the rules.

    The zip is downloaded first and validated; an invalid one is refused with what is wrong.
    """
    from submission import validate_zip

    check_kernel_id(kernel)
    versioned = f"{kernel}/{version}" if version else kernel
    with tempfile.TemporaryDirectory(prefix="dogkit-submit-") as tmp:
        files = output(versioned, tmp)
        zip_path = next((f for f in files if f.name == "images.zip"), None)
        if zip_path is None:
            names = ", ".join(sorted(f.name for f in files)) or "nothing"
            raise DogkitError(f"kernel '{versioned}' has no images.zip in its output (it has: {names})")
        report = validate_zip(zip_path)
        if not report.ok:
            first = "; ".join(str(p) for p in report.problems[:3])
            more = f" (and {len(report.problems) - 3} more)" if len(report.problems) > 3 else ""
            raise DogkitError(f"refusing to submit kernel '{versioned}': its images.zip is invalid: {first}{more}")
        candidates = [Path(tmp) / "score.json", *(score_files or [])]
        local = local_score_for(zip_path, [c for c in candidates if c.is_file()])
        api = connect()
        with kaggle_errors(f"submission to '{competition}'", competition=competition):
            response = api.competition_submit_code(
                file_name="images.zip",
                message=message,
                competition=competition,
                kernel=kernel,
                kernel_version=version,
                quiet=True,
            )
    return SubmitResult(
        kernel=kernel,
        version=version,
        message=str(getattr(response, "message", "") or ""),
        ref=int(getattr(response, "ref", 0) or 0),
        local_score=local,
    )
