"""Thread pools whose threads are all running before any work is handed to them."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends, then are handled as they would have been.

    dogkit stops on them by raising in the main thread, wherever it stands. Raised inside
    ``Thread.start`` that leaves the new thread half-registered (Python prints a ``KeyError``
    traceback from ``threading``); raised between two starts it leaves a pool short of threads.
    Only the main thread can set handlers; elsewhere nothing is raised, so nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for signum in _STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is not None:  # None: set outside Python, and it could not be put back
            previous[signum] = signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in received:
            if previous[signum] != signal.SIG_IGN:
                signal.raise_signal(signum)  # its handler runs now, in this thread, as it would have


@contextlib.contextmanager
def started_thread_pool(workers: int, initializer: Callable[[], object] | None = None) -> Iterator[ThreadPoolExecutor]:
    """A ``ThreadPoolExecutor`` of ``workers`` threads, all started before it is yielded.

    A pool starts its threads lazily, one per ``submit`` while none is idle, so a stop signal could
    otherwise land inside a thread's start in the middle of the work. Here the threads start at once,
    with SIGINT and SIGTERM held back until they all run; a signal that came meanwhile is handled as
    the pool is complete, and the pool is shut down on the way out.
    """
    pool = ThreadPoolExecutor(max_workers=workers, initializer=initializer)
    try:
        all_running = threading.Barrier(workers)
        with _stop_signals_held():
            try:
                # each task waits for the others, so every submit finds no idle thread and starts one
                for started in [pool.submit(all_running.wait) for _ in range(workers)]:
                    started.result()
            except BaseException:
                all_running.abort()  # no thread waits forever for one that never started
                raise
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
