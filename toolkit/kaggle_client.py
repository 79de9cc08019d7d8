"""The ``kaggle`` package, made quiet and predictable for dogkit.

- ``connect()`` returns an authenticated ``KaggleApi``, or a ``DogkitError`` saying how to set
  credentials. Importing ``kaggle`` prints its authentication help; that output is swallowed.
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
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import DogkitError

CREDENTIALS_HELP = (
    "set KAGGLE_USERNAME and KAGGLE_KEY, or save kaggle.json (from https://www.kaggle.com/settings, "
    "'Create New Token') as ~/.kaggle/kaggle.json or in $KAGGLE_CONFIG_DIR"
)


def rules_url(competition: str) -> str:
    return f"https://www.kaggle.com/competitions/{competition}/rules"


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


def connect():
    """An authenticated ``KaggleApi``.

    Raises:
        DogkitError: no credentials found (the message says how to set them).
    """
    api = _api_class()()
    config_dir = _config_dir()
    api.config_dir, api.config = str(config_dir), str(config_dir / "kaggle.json")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api.authenticate()
    except SystemExit:
        raise DogkitError(f"no Kaggle credentials found: {CREDENTIALS_HELP}") from None
    return api


def _kaggle_json() -> dict:
    """The contents of kaggle.json, or {} when there is none (or it is unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        content = json.loads((_config_dir() / "kaggle.json").read_text())
        if isinstance(content, dict):
            return content
    return {}


def username() -> str | None:
    """The Kaggle user the credentials belong to (KAGGLE_USERNAME, else kaggle.json), without a request."""
    return os.environ.get("KAGGLE_USERNAME") or _kaggle_json().get("username")


def _secrets() -> list[str]:
    secrets = [os.environ.get(name, "") for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
    secrets.append(str(_kaggle_json().get("key", "")))
    return [s for s in secrets if len(s) >= 4]


def scrub(text: str) -> str:
    """``text`` with any credential it might contain replaced by ***."""
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


@contextlib.contextmanager
def kaggle_errors(subject: str, competition: str | None = None) -> Iterator[None]:
    """Re-raise the client's failures as one-line ``DogkitError``s about ``subject``.

    ``competition``: when given, a 403 is explained as the competition's rules not accepted.
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
            message = f"{subject}: not found on Kaggle (404)"
        else:
            message = f"{subject}: Kaggle answered {status}: {detail}"
        raise DogkitError(message) from None
    except requests.RequestException as exc:
        raise DogkitError(
            f"{subject}: cannot reach Kaggle ({type(exc).__name__}); check the network connection and try again"
        ) from None
