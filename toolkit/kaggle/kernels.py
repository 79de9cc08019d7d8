"""Kernels on Kaggle: push a bundled kernel, follow it, fetch its output, submit its images.zip.

All requests go through the real ``kaggle`` client (``toolkit.kaggle.client``); every failure is
a one-line ``DogkitError``. Everything after a push names the version it is about
(``owner/slug/VERSION``): right after a push, Kaggle may still report the previous version's
session when asked about the kernel without one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.competition import COMPETITION, check_kernel_id
from toolkit.errors import DogkitError
from toolkit.kaggle.client import KaggleAnswered, KaggleUnreachable, connect, kaggle_errors
from toolkit.train.budget import format_seconds

log = logging.getLogger("dogkit")

FINAL_STATES = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")
BUNDLE_SETTINGS = "dogkit-bundle.json"  # written by `dogkit bundle` beside kernel-metadata.json
KAGGLE_SESSION_LIMIT_S = 9 * 3600  # Kaggle stops a kernel's run after 9 hours
SESSION_MARGIN_S = 15 * 60  # the run's timeout: its budget plus this (start-up, the last writes)
VERSIONS_SEARCHED = 20  # how far back `submit` looks for the latest complete version
MAX_RETRY_WAIT_S = 600.0
MAX_FAILED_POLLS = 40  # consecutive transient failures a wait rides out (hours, with backoff)


@dataclass(frozen=True)
class PushResult:
    kernel: str  # owner/slug
    version: int
    url: str
    timeout_s: int | None  # the session timeout sent with the push, None when none was


@dataclass(frozen=True)
class KernelStatus:
    kernel: str  # owner/slug or owner/slug/VERSION, as asked
    state: str  # QUEUED, RUNNING, COMPLETE, ERROR, CANCEL_REQUESTED, CANCEL_ACKNOWLEDGED
    failure: str  # Kaggle's failure message, "" when none

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class SubmitResult:
    kernel: str
    version: int
    message: str  # Kaggle's answer
    ref: int
    local_score: dict | None  # score.json of this very zip, when `dogkit score` made one
    submissions_left: int | None  # submissions left today after this one, when Kaggle tells


def read_metadata(folder: Path) -> dict:
    path = Path(folder) / "kernel-metadata.json"
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise DogkitError(f"{path}: not found; write the kernel folder with `dogkit bundle` first") from None
    except ValueError as exc:
        raise DogkitError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(metadata, dict):
        raise DogkitError(f"{path}: expected a JSON object, found {type(metadata).__name__}")
    return metadata


def session_timeout(folder: Path) -> int | None:
    """The run's timeout in seconds, from the budget ``dogkit bundle`` recorded (None: no record)."""
    path = Path(folder) / BUNDLE_SETTINGS
    try:
        budget_s = float(json.loads(path.read_text())["budget_s"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DogkitError(f"{path}: unreadable ({exc}); write the kernel folder again with `dogkit bundle`") from None
    return min(KAGGLE_SESSION_LIMIT_S, math.ceil(budget_s + SESSION_MARGIN_S))


_SOURCE_KINDS = (
    ("invalid_dataset_sources", "dataset"),
    ("invalid_competition_sources", "competition"),
    ("invalid_kernel_sources", "kernel"),
    ("invalid_model_sources", "model"),
)


def push(folder: str | os.PathLike) -> PushResult:
    """Push the kernel in ``folder`` (kernel-metadata.json + code file) as a new version, which runs.

    The session timeout comes from the budget in ``dogkit-bundle.json``.

    Raises:
        DogkitError: the folder is not a kernel folder; Kaggle refused the push (its own words);
            or Kaggle saved the version but cannot find sources it names (which the run needs).
    """
    folder = Path(folder)
    metadata = read_metadata(folder)
    kernel = metadata.get("id", "")
    code = folder / metadata.get("code_file", "")
    if not code.is_file():
        raise DogkitError(f"{code}: the code file named in kernel-metadata.json is missing")
    timeout = session_timeout(folder)
    api = connect()
    with kaggle_errors(f"push of kernel '{kernel}'"):
        try:
            response = api.kernels_push(str(folder), timeout=str(timeout) if timeout else None)
        except ValueError as exc:  # the client's own checks of the metadata
            raise DogkitError(f"{folder / 'kernel-metadata.json'}: {exc}") from None
    if getattr(response, "error", ""):
        raise DogkitError(f"Kaggle rejected the push of '{kernel}': {response.error}")
    version = int(response.version_number or 0)
    missing = [f"{kind} {name}" for field, kind in _SOURCE_KINDS for name in (getattr(response, field, None) or [])]
    if missing:
        raise DogkitError(
            f"Kaggle saved version {version} of '{kernel}' but cannot find its sources: {', '.join(missing)}; "
            "that version runs without them and will fail (stop it on its Kaggle page): correct the names in "
            "kernel-metadata.json, or attach the data or accept the competition's rules on Kaggle, then push again"
        )
    return PushResult(kernel=kernel, version=version, url=response.url or "", timeout_s=timeout)


def status(kernel: str, api=None) -> KernelStatus:
    """The state of ``kernel`` (``owner/slug/VERSION``: that version's run; ``owner/slug``: the newest)."""
    check_kernel_id(kernel, version=True)
    api = api or connect()
    with kaggle_errors(f"kernel '{kernel}'"):
        try:
            response = api.kernels_status(kernel)
        except ValueError as exc:  # the client turns 401/403 on kernels into ValueError
            raise DogkitError(f"kernel '{kernel}': {exc}") from None
    state = getattr(response.status, "name", str(response.status)).upper()
    return KernelStatus(kernel=kernel, state=state, failure=response.failure_message or "")


def wait(
    kernel: str,
    version: int,
    poll_seconds: float = 30.0,
    timeout_s: float = 12 * 3600,
    on_change: Callable[[KernelStatus], object] | None = None,
    on_retry: Callable[[str], object] | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> KernelStatus:
    """Poll version ``version`` of ``kernel`` until its run ends; a run that ends in error is a ``DogkitError``.

    Rate limits (429), server errors (5xx) and network failures are waited out, with a growing pause
    (``on_retry`` gets a line each); other refusals end the wait.
    """
    versioned = f"{kernel}/{version}"
    started = time.monotonic()
    api = connect()
    last, failures = None, 0
    while True:
        try:
            current = status(versioned, api)
        except (KaggleUnreachable, KaggleAnswered) as exc:
            if isinstance(exc, KaggleAnswered) and not exc.transient:
                raise
            failures += 1
            if failures > MAX_FAILED_POLLS:
                raise DogkitError(f"{exc} ({failures - 1} status checks in a row failed; gave up)") from None
            pause = min(poll_seconds * 2 ** min(failures, 20), MAX_RETRY_WAIT_S)
            if on_retry is not None:
                on_retry(f"status check failed ({exc}); trying again in {format_seconds(pause)}")
            sleep(pause)
            continue
        failures = 0
        if current.state != last and on_change is not None:
            on_change(current)
        last = current.state
        if current.done:
            break
        if time.monotonic() - started > timeout_s:
            raise DogkitError(f"kernel '{versioned}' still {current.state.lower()} after {timeout_s:.0f} s")
        sleep(poll_seconds)
    if current.state != "COMPLETE":
        detail = f": {current.failure}" if current.failure else ""
        raise DogkitError(
            f"kernel '{versioned}' ended in {current.state.lower()}{detail}; "
            f"see its log with `dogkit output {versioned}`"
        )
    return current


def latest_version(kernel: str, api=None) -> int:
    """The newest version number of ``owner/slug``.

    Raises:
        DogkitError: the kernel does not exist or has never been pushed.
    """
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelRequest

    owner, slug, _ = check_kernel_id(kernel)
    api = api or connect()
    request = ApiGetKernelRequest()
    request.user_name, request.kernel_slug = owner, slug
    with kaggle_errors(f"kernel '{kernel}'"), api.build_kaggle_client() as client:
        response = client.kernels.kernels_api_client.get_kernel(request)
    version = int(getattr(response.metadata, "current_version_number", None) or 0)
    if version < 1:
        raise DogkitError(f"kernel '{kernel}' has no version yet; push it with `dogkit push`")
    return version


def latest_complete_version(kernel: str, api=None, say: Callable[[str], object] = log.info) -> int:
    """The newest version of ``kernel`` whose run completed (looking back ``VERSIONS_SEARCHED`` versions).

    Raises:
        DogkitError: none of them completed.
    """
    api = api or connect()
    newest = latest_version(kernel, api)
    for version in range(newest, max(newest - VERSIONS_SEARCHED, 0), -1):
        current = status(f"{kernel}/{version}", api)
        if current.state == "COMPLETE":
            return version
        say(f"{kernel} version {version}: {current.state.lower()}, not complete")
    raise DogkitError(
        f"kernel '{kernel}': no complete version among versions {max(newest - VERSIONS_SEARCHED + 1, 1)} to "
        f"{newest}; wait for the run (dogkit status {kernel}/{newest}) or pass --version"
    )


def output(kernel: str, dest: str | os.PathLike, api=None) -> list[Path]:
    """Download the output files (and the log) of the kernel version's run into ``dest``."""
    check_kernel_id(kernel, version=True)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    api = api or connect()
    not_found = "not found on Kaggle (404): no such kernel or version, or another account's private kernel"
    with kaggle_errors(f"kernel '{kernel}'", not_found=not_found):
        try:
            files, _ = api.kernels_output(kernel, str(dest), force=True, quiet=True)
        except ValueError as exc:
            raise DogkitError(f"kernel '{kernel}': {exc}") from None
    return [Path(f) for f in files]


def local_score_for(zip_path: Path, search: list[Path]) -> dict | None:
    """The score.json among ``search`` that was computed for exactly this zip (same SHA-256)."""
    from toolkit.metric.score import saved_score

    return next((score for score in (saved_score(zip_path, path) for path in search) if score), None)


def submissions_left(competition: str, api) -> int | None:
    """Submissions Kaggle still accepts today from this account, or None when the client cannot tell."""
    ask = getattr(api, "competition_get_submission_limits", None)
    if ask is None:  # an older kaggle client
        return None
    try:
        with kaggle_errors(f"submission limits of '{competition}'"):
            return int(ask(competition).num_allowed_now)
    except DogkitError as exc:
        log.debug("no submission limits: %s", exc)
        return None


def submit(
    kernel: str,
    message: str,
    version: int | None = None,
    competition: str = COMPETITION,
    score_files: list[Path] | None = None,
    say: Callable[[str], object] = log.info,
) -> SubmitResult:
    """Submit the ``images.zip`` of one version of ``kernel``, after checking it against the rules.

    ``version`` None: the latest complete version, said with ``say``. That version's zip is
    downloaded and validated first; an invalid one is refused with what is wrong.
    """
    from submission import validate_zip

    check_kernel_id(kernel)
    api = connect()
    if version is None:
        version = latest_complete_version(kernel, api, say)
        say(f"submitting version {version} of {kernel}, its latest complete version")
    left = submissions_left(competition, api)
    if left == 0:
        raise DogkitError(f"no submissions left today for '{competition}'; Kaggle allows more tomorrow")
    versioned = f"{kernel}/{version}"
    with tempfile.TemporaryDirectory(prefix="dogkit-submit-") as tmp:
        files = output(versioned, tmp, api)
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
        with kaggle_errors(
            f"submission of '{versioned}' to '{competition}'",
            competition=competition,
            not_found=(
                "Kaggle answered 404: the competition may no longer accept submissions, "
                f"or '{kernel}' has no version {version}"
            ),
        ):
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
        submissions_left=None if left is None else left - 1,
    )
