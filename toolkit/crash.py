"""The last line of defence: an unexpected exception becomes one line and a file holding its traceback."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

import click

INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE in sysexits.h: an internal software error


def report_internal_error(exc: BaseException) -> int:
    """Print ``dogkit: internal error: TYPE: MESSAGE`` with where its traceback was saved; the exit code.

    With ``DOGKIT_DEBUG=1`` the exception is raised again, so that its traceback shows.
    """
    if os.environ.get("DOGKIT_DEBUG") == "1":
        raise exc
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    command = " ".join(["dogkit", *sys.argv[1:]])
    saved = "(could not be saved)"
    try:
        handle, name = tempfile.mkstemp(prefix=f"dogkit-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
        with os.fdopen(handle, "w") as out:
            out.write(f"command: {command}\n\n{details}")
        saved = name
    except OSError:
        pass
    message = str(exc).splitlines()[0] if str(exc) else ""
    click.echo(
        f"dogkit: internal error: {type(exc).__name__}: {message} (traceback and command in {saved}; "
        "please report it with that file; DOGKIT_DEBUG=1 shows the traceback)",
        err=True,
    )
    return INTERNAL_ERROR_EXIT
