"""A slower machine on this one: commands pinned to one core that a busy process shares.

On a 2-core machine that makes TensorFlow about 4x slower (half the cores, half of the one left),
the gap between the machines the README's figures come from and a slow user's laptop. Used by the
slow tests that CI runs and by the benchmarks' ``--slow``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def one_busy_core() -> Iterator[Callable[[], None]]:
    """Start a busy process on one core; yield a ``preexec_fn`` that pins a child process to that core."""
    core = min(os.sched_getaffinity(0))
    busy = subprocess.Popen(
        [sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True:\n    pass"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield lambda: os.sched_setaffinity(0, {core})
    finally:
        busy.kill()
        busy.wait()
