"""SIGINT and SIGTERM while training: finish the step under way, save, then stop."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger("dogkit")


class StopSignals:
    """SIGINT and SIGTERM ask training to stop after the step under way (a second one stops at once)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.training = False  # before, the one line that training stopped while starting says it all
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signum
        if self.training:  # the step under way may take a while: say the signal was heard
            log.warning(
                "%s: stopping after this step and saving a checkpoint (send it again to stop at once)",
                signal.Signals(signum).name,
            )
        for number, previous in self._previous.items():
            signal.signal(number, previous)

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def __call__(self) -> bool:
        return self.received is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else ""
