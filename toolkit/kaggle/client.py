"""The ``kaggle`` package, made quiet and predictable for dogkit.

- ``connect()`` returns an authenticated ``KaggleApi``, or a ``DogkitError`` saying how to sign in.
  The client signs in, in this order, with an access token (``KAGGLE_API_TOKEN`` or
  ``~/.kaggle/access_token``, checked with Kaggle), the legacy API key (``KAGGLE_USERNAME``/``KAGGLE_KEY``
  or kaggle.json) or OAuth (``kaggle auth login``). Importing ``kaggle`` prints its authentication
  help; that output is swallowed. ``whoami()`` says which account and which way.
- The client honours ``KAGGLE_API_ENVIRONMENT`` (kagglesdk's ``get_env``): the installed
  ``KaggleApi`` itself always talks to production unless given CLI flags. Tests use ``TEST``
  (http://localhost:7777) to reach dogkit's fake Kaggle server.
- ``kaggle_errors()`` turns the client's exceptions into one line a user can act on. Credentials
  never appear in those lines.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from toolkit.competition import rules_url
from toolkit.errors import DogkitError

log = logging.getLogger("dogkit")

CREDENTIALS_HELP = (
    "sign in one of three ways: an API token in KAGGLE_API_TOKEN or saved as ~/.kaggle/access_token "
    "('Generate New Token' at https://www.kaggle.com/settings); the legacy API key in KAGGLE_USERNAME and "
    "KAGGLE_KEY or kaggle.json (in ~/.kaggle/ or $KAGGLE_CONFIG_DIR); or `kaggle auth login`"
)
_AUTH_METHODS = {"ACCESS_TOKEN": "an access token", "LEGACY_API_KEY": "the legacy API key", "OAUTH": "OAuth"}


class KaggleUnreachable(DogkitError):
    """Kaggle could not be reached at all (no network, DNS, refused connection, timeout)."""


@dataclass(frozen=True)
class Identity:
    """The Kaggle account dogkit acts as, and how it knows."""

    username: str
    how: str  # e.g. "signed in with an access token from KAGGLE_API_TOKEN"

    def __str__(self) -> str:
        return f"{self.username} ({self.how})"


def _config_dir() -> Path:
    """Where the kaggle client reads kaggle.json, computed from the current environment."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"])
    legacy = Path.home() / ".kaggle"
    if sys.platform.startswith("linux") and not legacy.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle"
    return legacy


def _api_class():
    with contextlib.redirect_stdout(io.StringIO()):
        from kaggle.api.kaggle_api_extended import KaggleApi
        from kagglesdk import KaggleClient
        from kagglesdk.kaggle_env import get_env

    class DogkitKaggleApi(KaggleApi):
        def build_kaggle_client(self):
            try:
                env = get_env()
            except Exception as exc:  # kagglesdk raises a bare Exception for unknown values
                raise DogkitError(f"KAGGLE_API_ENVIRONMENT: {exc}") from None
            return KaggleClient(
                env=env,
                verbose=False,
                username=self.config_values.get(self.CONFIG_NAME_USER),
                password=self.config_values.get(self.CONFIG_NAME_KEY),
                api_token=self.config_values.get(self.CONFIG_NAME_TOKEN),
                response_processor=self.get_response_processor(),
            )

    return DogkitKaggleApi


def _access_token_source() -> str | None:
    """Where the client would read an access token from (None: nowhere), without reading the network."""
    with contextlib.redirect_stdout(io.StringIO()):
        from kagglesdk.kaggle_env import get_access_token_from_env

    try:
        token, source = get_access_token_from_env()
    except (UnicodeDecodeError, ValueError, OSError) as exc:  # a token file of raw bytes, a NUL in the variable
        raise DogkitError(
            f"{_token_file()}: malformed access token, cannot be read ({type(exc).__name__}); "
            "generate a new one at https://www.kaggle.com/settings"
        ) from None
    if not token:
        return None
    return "~/.kaggle/access_token" if source == "access_token" else source


def _token_file() -> str:
    """The file (or variable) the client reads its access token from, in the client's order."""
    variable = os.environ.get("KAGGLE_API_TOKEN")
    if variable:
        # os.path.exists, not Path.exists: a token longer than a file name may be (ENAMETOOLONG) is no file
        return variable if os.path.exists(variable) else "KAGGLE_API_TOKEN"
    for name in ("~/.kaggle/access_token", "~/.kaggle/access_token.txt"):
        if Path(os.path.expanduser(name)).exists():
            return str(Path(os.path.expanduser(name)))
    return "~/.kaggle/access_token"


def connect():
    """An authenticated ``KaggleApi``.

    Raises:
        DogkitError: no credentials found, or Kaggle refused them (the message says how to sign in);
            ``KaggleUnreachable`` when the sign-in needs Kaggle (an access token is checked with it)
            and it cannot be reached.
    """
    api = _api_class()()
    config_dir = _config_dir()
    api.config_dir, api.config = str(config_dir), str(config_dir / "kaggle.json")
    token_source = _access_token_source()
    if not token_source and not os.environ.get("KAGGLE_KEY"):
        _check_kaggle_json(config_dir / "kaggle.json")
    with kaggle_errors("Kaggle sign-in"):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                api.authenticate()
        except SystemExit:
            if token_source:
                raise DogkitError(
                    f"Kaggle did not accept the access token in {token_source} (invalid, expired or revoked): "
                    "generate a new one at https://www.kaggle.com/settings"
                ) from None
            raise DogkitError(f"no Kaggle credentials found: {CREDENTIALS_HELP}") from None
        except (KeyError, ValueError) as exc:  # a malformed credentials file
            raise DogkitError(f"Kaggle sign-in failed: unreadable credentials ({type(exc).__name__}: {exc})") from None
    method = str(api.config_values.get("auth_method", ""))
    if token_source and method != "ACCESS_TOKEN":
        log.warning(
            "warning: Kaggle did not accept the access token in %s; signed in with %s instead",
            token_source,
            _AUTH_METHODS.get(method, method),
        )
    return api


def _check_kaggle_json(path: Path) -> None:
    """A kaggle.json that is there but is not one: the client would ignore it without a word."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DogkitError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DogkitError(f"{path}: malformed (not UTF-8 text); download it again") from None
    try:
        content = json.loads(text)
    except ValueError as exc:
        raise DogkitError(
            f"{path}: malformed (not JSON: {exc.msg}, line {exc.lineno}); download it again from "
            "https://www.kaggle.com/settings ('Create New Token')"
        ) from None
    if not isinstance(content, dict) or not {"username", "key"} <= set(content):
        raise DogkitError(f'{path}: malformed (expected {{"username": ..., "key": ...}}); download it again')


def _describe_sign_in(api) -> str:
    method = str(api.config_values.get("auth_method", ""))
    if method == "ACCESS_TOKEN":
        return f"signed in with an access token from {_access_token_source()}"
    if method == "LEGACY_API_KEY":
        where = "KAGGLE_USERNAME/KAGGLE_KEY" if os.environ.get("KAGGLE_KEY") else str(_config_dir() / "kaggle.json")
        return f"signed in with the legacy API key from {where}"
    if method == "OAUTH":
        return "signed in with OAuth (kaggle auth login)"
    return "signed in"


def whoami() -> Identity:
    """The account the credentials sign in as, asked of the authenticated client.

    When Kaggle cannot be reached, the username the legacy key or OAuth credentials name is used
    instead, and said to be unverified. Not with an access token: the client signs in with it before
    anything else, and only Kaggle knows its owner, so a username written elsewhere may be another's.

    Raises:
        DogkitError: no credentials, refused ones, or Kaggle unreachable with an access token or with no
            username written anywhere.
    """
    try:
        api = connect()
    except KaggleUnreachable as exc:
        token_source = _access_token_source()
        offline = None if token_source else offline_username()
        if offline is None:
            whose = f"whose access token {token_source} holds" if token_source else "which account signs in"
            hint = f"offline, Kaggle cannot tell {whose}: pass --kernel-id OWNER/SLUG"
            raise KaggleUnreachable(f"{exc}; {hint}") from None
        name, where = offline
        return Identity(name, f"from {where}; not verified: Kaggle could not be reached")
    username = api.get_config_value("username")
    if not username:
        raise DogkitError(f"Kaggle signed in without telling the username; {CREDENTIALS_HELP}")
    return Identity(str(username), _describe_sign_in(api))


def _kaggle_json() -> dict:
    """The contents of kaggle.json, or {} when there is none (or it is unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        content = json.loads((_config_dir() / "kaggle.json").read_text())
        if isinstance(content, dict):
            return content
    return {}


def _oauth_credentials() -> dict:
    """``~/.kaggle/credentials.json`` as `kaggle auth login` writes it, or {}."""
    with contextlib.suppress(OSError, ValueError):
        content = json.loads((Path.home() / ".kaggle" / "credentials.json").read_text())
        if isinstance(content, dict):
            return content
    return {}


def offline_username() -> tuple[str, str] | None:
    """(username, where it was read) from the credentials, without a request; None when none names one.

    An access token does not name its owner (only Kaggle can tell), so this is a fallback.
    """
    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"], "KAGGLE_USERNAME"
    if _kaggle_json().get("username"):
        return str(_kaggle_json()["username"]), str(_config_dir() / "kaggle.json")
    if _oauth_credentials().get("username"):
        return str(_oauth_credentials()["username"]), "~/.kaggle/credentials.json"
    return None


def _secrets() -> list[str]:
    secrets = [os.environ.get(name, "") for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
    secrets.append(str(_kaggle_json().get("key", "")))
    secrets += [str(_oauth_credentials().get(key, "")) for key in ("refresh_token", "access_token")]
    for path in (Path.home() / ".kaggle" / "access_token", Path.home() / ".kaggle" / "access_token.txt"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            secrets.append(path.read_text().strip())
    return [s for s in secrets if len(s) >= 4]


def scrub(text: str) -> str:
    """``text`` with any credential it might contain replaced by ***."""
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


class KaggleAnswered(DogkitError):
    """Kaggle answered with an HTTP error; ``status`` is its code."""

    def __init__(self, message: str, status: int | None):
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        """Worth asking again later: rate limited (429) or a server error (5xx)."""
        return self.status is not None and (self.status == 429 or self.status >= 500)


@contextlib.contextmanager
def kaggle_errors(
    subject: str, competition: str | None = None, not_found: str = "not found on Kaggle (404)"
) -> Iterator[None]:
    """Re-raise the client's failures as one-line ``DogkitError``s about ``subject``.

    ``competition``: when given, a 403 is explained as the competition's rules not accepted (what a
    403 means for downloads and submissions). ``not_found``: what a 404 means here.
    """
    import requests

    try:
        yield
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        detail = scrub(str(exc)).strip()
        if status == 401:
            message = f"Kaggle refused the credentials (401 Unauthorized); check them: {CREDENTIALS_HELP}"
        elif status == 403 and competition:
            message = (
                f"{subject}: access denied (403): accept the competition's rules at {rules_url(competition)} "
                "(signed in as the account whose credentials dogkit uses), then run again"
            )
        elif status == 403:
            message = f"{subject}: access denied (403): {detail}"
        elif status == 404:
            message = f"{subject}: {not_found}"
        else:
            message = f"{subject}: Kaggle answered {status}: {detail}"
        raise KaggleAnswered(message, status) from None
    except requests.RequestException as exc:
        raise KaggleUnreachable(
            f"{subject}: cannot reach Kaggle ({type(exc).__name__}); check the network connection and try again"
        ) from None
