"""A fake Kaggle API on 127.0.0.1:7777 that the real ``kaggle`` client (2.2.x, kagglesdk 0.1.x) can talk to.

What the installed client does on the wire (read from its sources, checked by ``tests/test_fake_kaggle.py``):

* Every API call is ``POST {endpoint}/v1/{service}/{Method}`` with a camelCase JSON body, e.g.
  ``POST /v1/competitions.CompetitionApiService/DownloadDataFiles {"competitionName": "..."}``.
  The prefix is ``/api/v1`` for every environment except PROD.
* Sign-in, in the client's order: an access token (``KAGGLE_API_TOKEN``, the text or a file path, or
  ``~/.kaggle/access_token``) is checked with ``security.OAuthService/IntrospectToken`` and then sent as
  ``Authorization: Bearer``; legacy credentials (``KAGGLE_USERNAME``/``KAGGLE_KEY`` or kaggle.json) are
  sent as HTTP Basic auth; OAuth (``kaggle auth login`` writes ``~/.kaggle/credentials.json``) trades the
  refresh token for an access token with ``users.AccountService/GenerateAccessToken`` when the stored one
  has expired, then sends it as a Bearer token. The token check and the token trade need no credentials.
* An error is a non-2xx reply; if its JSON body has ``code >= 400`` the client raises
  ``requests.HTTPError(body["message"], response=...)``.
* Downloads are redirects: ``DownloadDataFiles`` answers 302 to a signed blob URL, which ``requests``
  follows with a GET; the file name comes from that URL's extension. ``kernels_output`` fetches each
  file's URL with a bare ``requests.get`` (no credentials). Interrupted downloads are retried with
  ``Range``/``If-Range`` requests.
* Kernels are versioned: ``SaveKernel`` answers the new ``versionNumber``; status and output calls may carry
  ``versionLabel`` ("v3"). Without one they are about the newest version, which right after a push can
  still report the previous version's session (``stale_status_after_push``). A push naming sources that
  do not exist succeeds but lists them in ``invalidDatasetSources`` (and the competition, kernel and model
  equivalents); the run would then fail on Kaggle for want of its input.
* ``KAGGLE_API_ENVIRONMENT=TEST`` names ``http://localhost:7777`` in kagglesdk, but ``KaggleApi`` ignores
  it: ``KaggleApi.build_kaggle_client_with_params`` always passes an explicit environment (PROD unless
  ``--local``/``--staging``/``--admin`` is in ``KaggleApi.args``), so with TEST alone the client still
  calls https://api.kaggle.com. The ``fake_kaggle`` fixture therefore also points kagglesdk's PROD
  endpoint at this server and refuses DNS lookups of any non-loopback host.

The server answers both the ``/v1`` and the ``/api/v1`` prefix. Blob URLs carry a signature in the
query string instead of credentials, as Google Cloud Storage signed URLs do.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import json
import os
import re
import secrets
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

HOST = "127.0.0.1"
PORT = 7777
COMPETITIONS = "competitions.CompetitionApiService"
KERNELS = "kernels.KernelsApiService"
OAUTH = "security.OAuthService"
ACCOUNTS = "users.AccountService"
BLOB = "blob"  # pseudo endpoint name for the signed download URLs
ENDPOINTS = frozenset(
    {
        "DownloadDataFiles",
        "ListDataFiles",
        "CreateCodeSubmission",
        "ListSubmissions",
        "GetSubmissionLimits",
        "SaveKernel",
        "GetKernel",
        "GetKernelSessionStatus",
        "ListKernelSessionOutput",
        "IntrospectToken",
        "GenerateAccessToken",
        BLOB,
    }
)
OPEN_ENDPOINTS = frozenset({"IntrospectToken", "GenerateAccessToken"})  # answered without credentials
KERNEL_STATUSES = ("QUEUED", "RUNNING", "COMPLETE", "ERROR", "CANCEL_REQUESTED", "CANCEL_ACKNOWLEDGED")
RULES_MESSAGE = "You must accept this competition's rules before you'll be able to download files."
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_RPC_PATH = re.compile(r"^(?:/api)?/v1/(?P<service>[\w.]+)/(?P<method>\w+)$")
_BLOB_PATH = re.compile(r"^/blobs/(?P<blob>\w+)/(?P<name>[^/]+)$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, in arrival order."""

    method: str  # "POST" for API calls, "GET" for blob downloads
    path: str  # without the query string
    endpoint: str  # RPC method name such as "SaveKernel", BLOB, or "" when unknown
    body: dict[str, Any]  # parsed JSON body of an API call, {} for a GET
    authorized: bool  # whether the credentials matched (always False for blobs, which need none)
    headers: dict[str, str]  # request headers, e.g. "Range" on a resumed download
    user: str | None = None  # the account the credentials belong to, None when they match none


@dataclass
class KernelPush:
    """A kernel version recorded from a ``SaveKernel`` call (``api.kernels_push``)."""

    kernel: str  # "owner/slug" as sent in the metadata "id"
    version: int  # version number the fake answered with
    title: str | None
    text: str  # the code file's text
    language: str | None
    kernel_type: str | None
    is_private: bool | None
    enable_gpu: bool | None
    enable_tpu: bool | None
    enable_internet: bool | None
    dataset_sources: list[str]
    competition_sources: list[str]
    kernel_sources: list[str]
    model_sources: list[str]
    machine_shape: str | None
    session_timeout_seconds: int | None
    body: dict[str, Any]  # the raw request body, camelCase keys


@dataclass
class Submission:
    """A code-competition submission recorded from ``CreateCodeSubmission``; tests may edit its state."""

    ref: int
    competition: str
    kernel: str  # "owner/slug"
    kernel_version: int | None
    file_name: str | None
    message: str | None  # the submission description
    date: datetime
    status: str = "PENDING"  # SubmissionStatus name: PENDING, COMPLETE or ERROR
    public_score: str | None = None
    private_score: str | None = None
    error_description: str | None = None


@dataclass
class _Blob:
    data: bytes
    name: str
    modified: float  # epoch seconds

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.data).hexdigest() + '"'

    @property
    def last_modified(self) -> str:
        """RFC 1123 date, the format the client parses with strptime."""
        return email.utils.formatdate(self.modified, usegmt=True)


@dataclass
class _Competition:
    slug: str
    blob_id: str
    rules_accepted: bool


@dataclass
class _Run:
    """A kernel version's session: the statuses it reports in turn (the last repeats) and its output.

    A field left None takes the kernel's default (what ``set_kernel_statuses``/``set_kernel_output``
    set without a version).
    """

    statuses: list[tuple[str, str | None]] | None = None
    polls: int = 0  # status calls answered so far
    outputs: list[tuple[str, str]] | None = None  # (file name, blob id)
    log: str | None = None


@dataclass
class _Kernel:
    version: int = 0  # newest version pushed (0: never pushed)
    runs: dict[int, _Run] = field(default_factory=dict)  # version -> its session
    default: _Run = field(default_factory=lambda: _Run(statuses=[("COMPLETE", None)], outputs=[]))
    stale_polls: int = 0  # unversioned status calls still answered with the previous version's last status
    title: str | None = None

    def run(self, version: int) -> _Run:
        return self.runs.setdefault(version, _Run())

    def status(self, version: int, advance: bool = True) -> tuple[str, str | None]:
        run = self.run(version)
        sequence = run.statuses or self.default.statuses or [("COMPLETE", None)]
        answer = sequence[min(run.polls, len(sequence) - 1)]
        run.polls += advance
        return answer

    def final_status(self, version: int) -> tuple[str, str | None]:
        """The status a version's session ends with."""
        return (self.run(version).statuses or self.default.statuses or [("COMPLETE", None)])[-1]

    def output(self, version: int) -> tuple[list[tuple[str, str]], str | None]:
        run = self.run(version)
        if run.outputs is None:
            return list(self.default.outputs or []), self.default.log
        return run.outputs, run.log


@dataclass
class _Failure:
    status: int
    message: str
    times: int | None  # None: every call


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] | None = None
    location: str | None = None


def _error(status: int, message: str) -> _Reply:
    """The error shape the client turns into ``HTTPError(message)``."""
    return _Reply(status, {"code": status, "message": message})


def _basic_auth(username: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode()


def _version_of(body: dict[str, Any]) -> int | None | _Reply:
    """The version a ``versionLabel`` ("v3") names; None when absent; a 404 reply when malformed."""
    label = body.get("versionLabel")
    if not label:
        return None
    match = re.fullmatch(r"v(\d+)", str(label))
    if match is None:
        return _error(404, f"Version '{label}' not found")
    return int(match.group(1))


class FakeKaggle:
    """State and configuration of the fake Kaggle API; ``start()`` serves it on ``127.0.0.1:port``.

    Args:
        username: the account the fake accepts.
        key: the API key the fake accepts; random when not given.
        port: TCP port; kagglesdk's TEST environment expects 7777.

    Example:
        fake.add_competition("generative-dog-images", archive_bytes)
        fake.fail("DownloadDataFiles", 403, "rules", times=1)
        fake.set_kernel_statuses("me/dog-gan", ["queued", "running", ("error", "OOM")])
        token = fake.add_token()  # an access token of this fake's user, accepted as a Bearer token
    """

    def __init__(self, username: str = "dogkit-tester", key: str | None = None, port: int = PORT) -> None:
        self.username = username
        self.key = key or secrets.token_hex(16)
        self.api_keys: dict[str, str] = {username: self.key}  # legacy credentials: username -> key
        self.tokens: dict[str, str] = {}  # access token -> its owner
        self.refresh_tokens: dict[str, str] = {}  # OAuth refresh token -> its owner
        self.datasets: set[str] = set()  # "owner/slug" of the datasets that exist
        self.submission_limits: dict[str, int] = {"per_day": 5, "total": 0}  # total 0: no lifetime cap
        self.port = port
        self.base_url = f"http://localhost:{port}"
        self.config_dir: Path | None = None  # set by write_config()
        self.requests: list[RecordedRequest] = []
        self.pushes: list[KernelPush] = []
        self.submissions: list[Submission] = []
        self.lookups: list[tuple[str, Any]] = []  # (host, port) resolved by the client under the fixture
        self.backoffs: list[float] = []  # sleeps the client asked for after skip_backoff()
        self._monkeypatch: pytest.MonkeyPatch | None = None
        self._lock = threading.Lock()
        self._signature = secrets.token_hex(8)
        self._blobs: dict[str, _Blob] = {}
        self._competitions: dict[str, _Competition] = {}
        self._kernels: dict[str, _Kernel] = {}
        self._failures: dict[str, _Failure] = {}
        self._drops: dict[str, int] = {}  # endpoint -> calls left whose connection is closed unanswered
        self._stale_after_push = 0
        self._cuts_left = 0
        self._cut_fraction = 0.5
        self._push_error: str | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeKaggle:
        """Bind ``127.0.0.1:port`` and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeKaggle is already running")
        self._server = _Server(self, (HOST, self.port))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kaggle", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the serving and request threads."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()  # joins request threads (daemon_threads is off)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeKaggle:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def write_config(self, config_dir: Path) -> Path:
        """Write ``kaggle.json`` (mode 600) with this fake's credentials into ``config_dir``."""
        config_dir.mkdir(parents=True, exist_ok=True)
        path = config_dir / "kaggle.json"
        path.write_text(json.dumps({"username": self.username, "key": self.key}))
        path.chmod(0o600)
        self.config_dir = config_dir
        return path

    # ---- sign-in ---------------------------------------------------------------------------------

    def add_account(self, username: str, key: str | None = None) -> str:
        """Another account with legacy credentials; returns its key."""
        key = key or secrets.token_hex(16)
        with self._lock:
            self.api_keys[username] = key
        return key

    def add_token(self, token: str | None = None, username: str | None = None) -> str:
        """An access token (as kaggle.com/settings 'Generate New Token' gives) of ``username`` (default: this
        fake's user); returns it."""
        token = token or "KGAT_" + secrets.token_hex(16)
        with self._lock:
            self.tokens[token] = username or self.username
        return token

    def write_oauth_credentials(self, home: Path, username: str | None = None, expired: bool = True) -> Path:
        """Write ``~/.kaggle/credentials.json`` as ``kaggle auth login`` does, under ``home``.

        ``expired``: the stored access token is out of date, so the client trades the refresh token
        for a new one (``GenerateAccessToken``) before its first call.
        """
        username = username or self.username
        refresh, access = "refresh_" + secrets.token_hex(12), self.add_token(username=username)
        with self._lock:
            self.refresh_tokens[refresh] = username
        expires = datetime.now(timezone.utc) + (timedelta(hours=-2) if expired else timedelta(hours=10))
        path = home / ".kaggle" / "credentials.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "refresh_token": refresh,
                    "access_token": access,
                    "access_token_expiration": expires.isoformat(),
                    "username": username,
                    "scopes": ["resources.admin:*"],
                }
            )
        )
        path.chmod(0o600)
        return path

    def _user_for(self, authorization: str | None) -> str | None:
        """The account a request's Authorization header signs in as (None: none)."""
        if not authorization:
            return None
        if authorization.startswith("Bearer "):
            return self.tokens.get(authorization[len("Bearer ") :])
        for username, key in self.api_keys.items():
            if authorization == _basic_auth(username, key):
                return username
        return None

    # ---- configuration ---------------------------------------------------------------------------

    def add_competition(
        self,
        slug: str,
        archive: bytes,
        *,
        rules_accepted: bool = True,
        last_modified: float = 1_560_000_000.0,
        file_name: str | None = None,
    ) -> None:
        """Serve ``archive`` (the zip of all data files) for competition ``slug``.

        Args:
            slug: competition url name, e.g. "generative-dog-images".
            archive: bytes served by ``competition_download_files``.
            rules_accepted: False makes downloads and submissions answer 403.
            last_modified: epoch seconds sent as Last-Modified (the client sets the file's mtime to it).
            file_name: the name in the signed download URL (default ``<slug>.zip``); the client names the
                file it writes ``<slug>.<this name's extension>``.
        """
        with self._lock:
            blob_id = self._add_blob(archive, file_name or f"{slug}.zip", last_modified)
            self._competitions[slug] = _Competition(slug, blob_id, rules_accepted)

    def add_dataset(self, ref: str) -> None:
        """Make dataset ``owner/slug`` exist, so that a kernel may name it among its sources."""
        with self._lock:
            self.datasets.add(ref)

    def fail(self, endpoint: str, status: int, message: str = "Forced failure", times: int | None = None) -> None:
        """Make ``endpoint`` answer ``status`` with ``message`` (after the credential check).

        Args:
            endpoint: an RPC method name from ``ENDPOINTS`` (e.g. "SaveKernel") or ``BLOB``.
            status: HTTP status code, e.g. 400, 403, 500.
            message: the error message the client's exception will carry.
            times: fail only this many calls; None fails every call until ``clear_failures()``.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, got {endpoint!r}")
        with self._lock:
            self._failures[endpoint] = _Failure(status, message, times)

    def clear_failures(self) -> None:
        """Forget every ``fail()``."""
        with self._lock:
            self._failures.clear()

    def drop(self, endpoint: str, times: int = 1) -> None:
        """Close the connection of the next ``times`` calls to ``endpoint`` without an answer (a network
        failure: the client raises ``requests.ConnectionError``)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, got {endpoint!r}")
        with self._lock:
            self._drops[endpoint] = times

    def _take_drop(self, endpoint: str) -> bool:
        with self._lock:
            left = self._drops.get(endpoint, 0)
            if left <= 0:
                return False
            self._drops[endpoint] = left - 1
            return True

    def stale_status_after_push(self, polls: int) -> None:
        """After each later push, answer the next ``polls`` unversioned status calls with the previous
        version's last status, as Kaggle does until the new version's session exists."""
        with self._lock:
            self._stale_after_push = polls

    def cut_downloads(self, times: int, fraction: float = 0.5) -> None:
        """Cut the next ``times`` blob downloads: send the full Content-Length, then close after ``fraction``."""
        with self._lock:
            self._cuts_left = times
            self._cut_fraction = fraction

    def reject_push(self, message: str | None) -> None:
        """Answer every ``SaveKernel`` with 200 and ``error=message`` (None: accept pushes again)."""
        with self._lock:
            self._push_error = message

    def set_kernel_statuses(
        self, kernel: str, statuses: list[str | tuple[str, str]], version: int | None = None
    ) -> None:
        """Answer successive ``kernels_status`` calls about ``version`` with ``statuses``; the last one repeats.

        Args:
            kernel: "owner/slug" or "slug" (owner = this fake's username).
            statuses: KernelWorkerStatus names in any case ("queued", "running", "complete", "error", ...),
                or ``(name, failure_message)`` pairs.
            version: the kernel version they describe; None: every version without statuses of its own
                (set before a push, they describe the run that push starts).
        """
        parsed: list[tuple[str, str | None]] = []
        for entry in statuses:
            name, message = (entry, None) if isinstance(entry, str) else entry
            if name.upper() not in KERNEL_STATUSES:
                raise ValueError(f"kernel status must be one of {KERNEL_STATUSES}, got {name!r}")
            parsed.append((name.upper(), message))
        if not parsed:
            raise ValueError("statuses must not be empty")
        with self._lock:
            state = self._kernel(kernel)
            if version is None:
                state.default.statuses = parsed
                for run in state.runs.values():
                    if run.statuses is None:
                        run.polls = 0  # the new sequence starts from its beginning
            else:
                run = state.run(version)
                run.statuses, run.polls = parsed, 0

    def set_kernel_output(
        self, kernel: str, files: dict[str, bytes], log: str | None = None, version: int | None = None
    ) -> None:
        """Serve ``files`` (name -> bytes) and ``log`` from ``kernels_output`` for ``kernel``'s ``version``
        (None: for every version without output of its own)."""
        with self._lock:
            state = self._kernel(kernel)
            outputs = [(name, self._add_blob(data, name, time.time())) for name, data in files.items()]
            run = state.default if version is None else state.run(version)
            run.outputs, run.log = outputs, log

    def skip_backoff(self) -> list[float]:
        """Make the client's download retries sleep not at all; returns the list the skipped sleeps go to.

        Only ``kaggle.api.kaggle_api_extended`` sees the change (its module-level ``time`` is replaced by a
        proxy), so other code keeps its real ``time.sleep``. Needs the ``fake_kaggle`` fixture.
        """
        if self._monkeypatch is None:
            raise RuntimeError("skip_backoff() needs the fake_kaggle fixture")
        from kaggle.api import kaggle_api_extended

        self._monkeypatch.setattr(kaggle_api_extended, "time", _NoSleepTime(self.backoffs))
        return self.backoffs

    # ---- queries ---------------------------------------------------------------------------------

    def calls(self, endpoint: str) -> list[RecordedRequest]:
        """Recorded requests to one endpoint (RPC method name or ``BLOB``)."""
        return [r for r in self.requests if r.endpoint == endpoint]

    # ---- request handling (server threads) -------------------------------------------------------

    def _add_blob(self, data: bytes, name: str, last_modified: float) -> str:
        blob_id = f"b{len(self._blobs)}"
        self._blobs[blob_id] = _Blob(data, name, last_modified)
        return blob_id

    def _blob_url(self, host: str, blob_id: str) -> str:
        name = quote(self._blobs[blob_id].name)
        return f"http://{host}/blobs/{blob_id}/{name}?sig={self._signature}"

    def _kernel(self, kernel: str) -> _Kernel:
        key = kernel if "/" in kernel else f"{self.username}/{kernel}"
        return self._kernels.setdefault(key, _Kernel())

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _forced(self, endpoint: str) -> _Reply | None:
        """The configured failure for ``endpoint``, consuming one of its ``times``."""
        with self._lock:
            failure = self._failures.get(endpoint)
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[endpoint]
        return _error(failure.status, failure.message)

    def _rpc(self, method: str, body: dict[str, Any], user: str | None, host: str) -> _Reply:
        """Answer one API call from ``user`` (None: no valid credentials); runs on a request thread."""
        if user is None and method not in OPEN_ENDPOINTS:
            return _error(401, "Unauthenticated: missing or invalid credentials")
        forced = self._forced(method)
        if forced is not None:
            return forced
        handler: Callable[[dict[str, Any], str, str | None], _Reply] | None = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            return _error(404, f"Endpoint {method} is not implemented by FakeKaggle")
        with self._lock:
            return handler(body, host, user)

    def _rpc_IntrospectToken(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        owner = self.tokens.get(body.get("token", ""))
        if owner is None:
            return _Reply(200, {"active": False})
        return _Reply(200, {"active": True, "username": owner, "userId": 1, "scope": "resources.admin:*"})

    def _rpc_GenerateAccessToken(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        owner = self.refresh_tokens.get(body.get("refreshToken", ""))
        if owner is None:
            return _error(401, "Invalid or revoked refresh token")
        token = "KGAT_" + secrets.token_hex(16)
        self.tokens[token] = owner
        return _Reply(200, {"token": token, "expiresIn": 12 * 3600, "userName": owner, "userId": 1})

    def _competition_check(self, slug: str, need_rules: bool) -> _Competition | _Reply:
        competition = self._competitions.get(slug)
        if competition is None:
            return _error(404, f"Competition '{slug}' not found")
        if need_rules and not competition.rules_accepted:
            return _error(403, RULES_MESSAGE)
        return competition

    def _rpc_DownloadDataFiles(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        competition = self._competition_check(body.get("competitionName", ""), need_rules=True)
        if isinstance(competition, _Reply):
            return competition
        return _Reply(302, location=self._blob_url(host, competition.blob_id))

    def _rpc_ListDataFiles(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        competition = self._competition_check(body.get("competitionName", ""), need_rules=False)
        if isinstance(competition, _Reply):
            return competition
        blob = self._blobs[competition.blob_id]
        try:
            with zipfile.ZipFile(io.BytesIO(blob.data)) as archive:
                entries = [(i.filename, i.file_size) for i in archive.infolist() if not i.is_dir()]
        except zipfile.BadZipFile:
            entries = [(blob.name, len(blob.data))]
        created = datetime.fromtimestamp(blob.modified, timezone.utc).replace(tzinfo=None).isoformat() + "Z"
        files = [{"name": n, "totalBytes": s, "creationDate": created} for n, s in entries]
        return _Reply(200, {"files": files})

    def _rpc_CreateCodeSubmission(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        slug = body.get("competitionName", "")
        competition = self._competition_check(slug, need_rules=True)
        if isinstance(competition, _Reply):
            return competition
        kernel = f"{body.get('kernelOwner', '')}/{body.get('kernelSlug', '')}"
        version = body.get("kernelVersion")
        if not version:  # the real CLI refuses before asking; the service needs the version to find the output
            return _error(400, "A code competition submission needs the kernel version")
        state = self._kernels.get(kernel)
        if state is not None and state.version and not 1 <= int(version) <= state.version:
            return _error(404, f"Kernel '{kernel}' has no version {version}")
        if self._submissions_left(slug) <= 0:
            return _error(400, "You have used all your submissions for today")
        submission = Submission(
            ref=100_000 + len(self.submissions),
            competition=slug,
            kernel=kernel,
            kernel_version=version,
            file_name=body.get("fileName"),
            message=body.get("submissionDescription"),
            date=datetime.now(timezone.utc).replace(tzinfo=None),
        )
        self.submissions.append(submission)
        return _Reply(200, {"message": "Your submission was successfully saved", "ref": submission.ref})

    def _submissions_left(self, slug: str) -> int:
        today = sum(s.competition == slug for s in self.submissions)
        left = self.submission_limits["per_day"] - today
        if self.submission_limits["total"]:
            left = min(left, self.submission_limits["total"] - today)
        return max(left, 0)

    def _rpc_GetSubmissionLimits(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        slug = body.get("competitionName", "")
        competition = self._competition_check(slug, need_rules=False)
        if isinstance(competition, _Reply):
            return competition
        today = sum(s.competition == slug for s in self.submissions)
        limits = self.submission_limits
        by_total = bool(limits["total"]) and limits["total"] - today < limits["per_day"] - today
        return _Reply(
            200,
            {
                "numToday": today,
                "numTotal": today,
                "numAllowedNow": self._submissions_left(slug),
                "limitedByTotal": by_total,
            },
        )

    def _rpc_ListSubmissions(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        slug = body.get("competitionName", "")
        competition = self._competition_check(slug, need_rules=False)
        if isinstance(competition, _Reply):
            return competition
        rows = [
            {
                "ref": s.ref,
                "date": s.date.isoformat(timespec="milliseconds") + "Z",
                "description": s.message,
                "fileName": s.file_name,
                "status": s.status,
                "publicScore": s.public_score,
                "privateScore": s.private_score,
                "errorDescription": s.error_description,
                "submittedBy": self.username,
                "url": f"http://{host}/competitions/{slug}/submissions#{s.ref}",
            }
            for s in reversed(self.submissions)
            if s.competition == slug
        ]
        return _Reply(200, {"submissions": [{k: v for k, v in row.items() if v is not None} for row in rows]})

    def _rpc_SaveKernel(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        kernel = body.get("slug")
        if not kernel:
            return _error(400, "FakeKaggle needs the kernel metadata 'id' (owner/slug)")
        if kernel.split("/")[0] != user:
            return _error(403, f"Permission denied: {user} may not save kernels of {kernel.split('/')[0]}")
        if self._push_error is not None:
            return _Reply(200, {"error": self._push_error})
        state = self._kernel(kernel)
        state.version += 1
        state.stale_polls = self._stale_after_push if state.version > 1 else 0
        state.title = body.get("newTitle")
        push = KernelPush(
            kernel=kernel,
            version=state.version,
            title=body.get("newTitle"),
            text=body.get("text", ""),
            language=body.get("language"),
            kernel_type=body.get("kernelType"),
            is_private=body.get("isPrivate"),
            enable_gpu=body.get("enableGpu"),
            enable_tpu=body.get("enableTpu"),
            enable_internet=body.get("enableInternet"),
            dataset_sources=body.get("datasetDataSources", []),
            competition_sources=body.get("competitionDataSources", []),
            kernel_sources=body.get("kernelDataSources", []),
            model_sources=body.get("modelDataSources", []),
            machine_shape=body.get("machineShape"),
            session_timeout_seconds=body.get("sessionTimeoutSeconds"),
            body=body,
        )
        self.pushes.append(push)
        reply: dict[str, Any] = {
            "ref": f"/code/{kernel}",
            "url": f"http://{host}/code/{kernel}",
            "versionNumber": state.version,
            "kernelId": 1000 + list(self._kernels).index(kernel),
        }
        # the version is saved all the same; the sources it cannot find are listed (its run will lack them)
        invalid = {
            "invalidDatasetSources": [d for d in push.dataset_sources if d not in self.datasets],
            "invalidCompetitionSources": [c for c in push.competition_sources if c not in self._competitions],
            "invalidKernelSources": [k for k in push.kernel_sources if not self._kernels.get(k, _Kernel()).version],
            "invalidModelSources": list(push.model_sources),  # the fake knows no models
        }
        reply.update({key: names for key, names in invalid.items() if names})
        return _Reply(200, reply)

    def _known_kernel(self, body: dict[str, Any]) -> tuple[_Kernel, int | None] | _Reply:
        """The kernel a request names and the version its ``versionLabel`` asks for (None: the newest)."""
        key = f"{body.get('userName', '')}/{body.get('kernelSlug', '')}"
        state = self._kernels.get(key)
        if state is None:
            return _error(404, f"Kernel '{key}' not found")
        version = _version_of(body)
        if isinstance(version, _Reply):
            return version
        if version is not None and not 1 <= version <= state.version:
            return _error(404, f"Kernel '{key}' has no version {version}")
        return state, version

    def _rpc_GetKernel(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        known = self._known_kernel(body)
        if isinstance(known, _Reply):
            return known
        state, _ = known
        key = f"{body.get('userName', '')}/{body.get('kernelSlug', '')}"
        metadata: dict[str, Any] = {
            "id": 1000 + list(self._kernels).index(key),
            "ref": key,
            "slug": key,
            "author": key.split("/")[0],
            "title": state.title or key.split("/")[1],
            "language": "python",
            "kernelType": "script",
        }
        if state.version:
            metadata["currentVersionNumber"] = state.version
        return _Reply(200, {"metadata": metadata, "blob": {"slug": key, "language": "python"}})

    def _rpc_GetKernelSessionStatus(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        known = self._known_kernel(body)
        if isinstance(known, _Reply):
            return known
        state, version = known
        if version is None and state.stale_polls > 0:  # the new version's session does not exist yet
            state.stale_polls -= 1
            status, message = state.final_status(state.version - 1)
        else:
            status, message = state.status(state.version if version is None else version)
        reply: dict[str, Any] = {"status": status}
        if message is not None:
            reply["failureMessage"] = message
        return _Reply(200, reply)

    def _rpc_ListKernelSessionOutput(self, body: dict[str, Any], host: str, user: str | None) -> _Reply:  # noqa: N802
        known = self._known_kernel(body)
        if isinstance(known, _Reply):
            return known
        state, version = known
        outputs, log = state.output(state.version if version is None else version)
        start = int(body.get("pageToken") or 0)
        end = start + int(body.get("pageSize") or 20)
        page = outputs[start:end]
        reply: dict[str, Any] = {"files": [{"fileName": n, "url": self._blob_url(host, b)} for n, b in page]}
        if end < len(outputs):
            reply["nextPageToken"] = str(end)
        if log is not None:
            reply["log"] = log
        return _Reply(200, reply)

    def _blob_plan(self, blob_id: str, query: str, headers: dict[str, str]) -> _Reply | tuple[_Blob, int, int]:
        """Decide how to answer a blob GET: an error reply, or the blob and byte range [start, end) to send."""
        blob = self._blobs.get(blob_id)
        if blob is None or parse_qs(query).get("sig") != [self._signature]:
            return _error(403, "Invalid or expired signature")
        forced = self._forced(BLOB)
        if forced is not None:
            return forced
        start, end = 0, len(blob.data)
        match = _RANGE.match(headers.get("Range", ""))
        # If-Range: honour the range only while the object is unchanged, else send it whole.
        if match and headers.get("If-Range", blob.etag) in (blob.etag, blob.last_modified):
            start = int(match.group(1))
            end = min(int(match.group(2)) + 1, end) if match.group(2) else end
            if start >= len(blob.data):
                return _Reply(416)
        return blob, start, end

    def _take_cut(self) -> float | None:
        with self._lock:
            if self._cuts_left <= 0:
                return None
            self._cuts_left -= 1
            return self._cut_fraction


class _NoSleepTime:
    """Stands in for the ``time`` module inside kaggle_api_extended, recording sleeps instead of sleeping."""

    def __init__(self, slept: list[float]) -> None:
        self._slept = slept

    def sleep(self, seconds: float) -> None:
        self._slept.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # SO_REUSEADDR: tests restart on the same port at once
    daemon_threads = False  # so server_close() joins every request thread
    block_on_close = True

    def __init__(self, fake: FakeKaggle, address: tuple[str, int]) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP layer: parse, record, ask FakeKaggle, write the reply. One request per connection."""

    server: _Server
    protocol_version = "HTTP/1.0"  # close after each reply: no idle keep-alive threads at shutdown
    timeout = 5  # socket timeout, so a stuck client cannot hold stop() for long

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base-class signature)
        """Keep test output clean."""

    def do_POST(self) -> None:  # noqa: N802
        fake = self.server.fake
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        match = _RPC_PATH.match(path)
        method = match.group("method") if match else ""
        user = fake._user_for(self.headers.get("Authorization"))
        fake._record(RecordedRequest("POST", path, method, body, user is not None, dict(self.headers), user))
        if match is None:
            self._send(_error(404, f"No such API path: {path}"))
            return
        if fake._take_drop(method):
            self.close_connection = True  # no status line at all: the client sees the connection go
            return
        self._send(fake._rpc(method, body, user, self._host()))

    def do_GET(self) -> None:  # noqa: N802
        fake = self.server.fake
        parts = urlsplit(self.path)
        headers = dict(self.headers)
        match = _BLOB_PATH.match(parts.path)
        fake._record(RecordedRequest("GET", parts.path, BLOB if match else "", {}, False, headers))
        if match is None:
            self._send(_error(404, f"No such path: {parts.path}"))
            return
        plan = fake._blob_plan(match.group("blob"), parts.query, headers)
        if isinstance(plan, _Reply):
            self._send(plan)
            return
        blob, start, end = plan
        partial = (start, end) != (0, len(blob.data))
        self.send_response(206 if partial else 200)
        name = unquote(match.group("name"))
        self.send_header("Content-Type", "application/zip" if name.endswith(".zip") else "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", blob.etag)
        self.send_header("Last-Modified", blob.last_modified)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(blob.data)}")
        self.end_headers()
        cut = fake._take_cut()
        if cut is not None:
            end = start + int((end - start) * cut)  # headers promised more; closing now breaks the read
        self._write(blob.data[start:end])

    def _host(self) -> str:
        return self.headers.get("Host") or f"localhost:{self.server.fake.port}"

    def _send(self, reply: _Reply) -> None:
        data = json.dumps(reply.body).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        if reply.location is not None:
            self.send_header("Location", reply.location)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self._write(data)

    def _write(self, data: bytes) -> None:
        """Write ``data``; a client that hung up early (e.g. a skipped download) is not an error."""
        try:
            for offset in range(0, len(data), _CHUNK):
                self.wfile.write(data[offset : offset + _CHUNK])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True


def _guard_network(fake: FakeKaggle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record every host name the process resolves and refuse anything but loopback."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        fake.lookups.append((name, port))
        if name not in LOOPBACK_HOSTS:
            raise socket.gaierror(f"fake_kaggle refused to resolve {name!r}: tests must not use the network")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def _point_client_at(fake: FakeKaggle, config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Route the installed kaggle client to ``fake``. Importing kaggle here authenticates against the fake config."""
    from kaggle.api.kaggle_api_extended import KaggleApi
    from kagglesdk import kaggle_env

    for env in (kaggle_env.KaggleEnv.PROD, kaggle_env.KaggleEnv.TEST):
        monkeypatch.setitem(kaggle_env._env_to_endpoint, env, fake.base_url)
    # Class attributes computed when kaggle was first imported, possibly under another environment.
    monkeypatch.setattr(KaggleApi, "config_dir", str(config_dir))
    monkeypatch.setattr(KaggleApi, "config", str(config_dir / "kaggle.json"))
    monkeypatch.setattr(KaggleApi, "args", [])


@pytest.fixture
def fake_kaggle(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKaggle]:
    """A running FakeKaggle that ``KaggleApi().authenticate()`` reaches with legacy (Basic) credentials.

    Sets ``KAGGLE_CONFIG_DIR`` (kaggle.json, mode 600), ``KAGGLE_API_ENVIRONMENT=TEST`` and a temporary
    ``HOME``; removes every other ``KAGGLE_*`` variable and proxy settings; blocks non-loopback lookups.
    """
    home = tmp_path_factory.mktemp("fake_kaggle_home")
    config_dir = home / "kaggle-config"
    for name in list(os.environ):
        if name.startswith("KAGGLE_") or name.lower() in {"http_proxy", "https_proxy", "all_proxy"}:
            monkeypatch.delenv(name)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(home))  # hides ~/.kaggle/access_token and credentials.json
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    fake = FakeKaggle()
    fake.write_config(config_dir)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    fake._monkeypatch = monkeypatch
    _guard_network(fake, monkeypatch)
    _point_client_at(fake, config_dir, monkeypatch)
    with fake:
        yield fake
