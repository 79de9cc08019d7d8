"""Packing images into a submission zip (from a folder or a trained run)."""

from __future__ import annotations

import contextlib
import signal
import threading

from toolkit.errors import Interrupted


@contextlib.contextmanager
def sigterm_as_sigint(what: str):
    """SIGTERM stops ``what`` as SIGINT does: an ``Interrupted`` raised where the work stands, so that
    temporary files are removed on the way out and the old output stays as it was."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        signal.signal(signum, previous)  # a second SIGTERM stops at once
        raise Interrupted(f"{what} stopped by SIGTERM; the earlier output, if any, is unchanged", signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
