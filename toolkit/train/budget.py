"""Time budgets: parse ``8h30m`` / ``90m`` / ``45s`` / ``3600``, and a deadline to check against."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_BUDGET = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_budget(text: str | float | int, what: str = "budget") -> float:
    """Seconds in a budget (or another span of time, named by ``what`` in errors) written as
    ``8h30m``, ``90m``, ``45s``, ``1h5m30s`` or plain seconds.

    Raises:
        ValueError: anything else, or a budget that is not positive.
    """
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        cleaned = text.strip().lower().replace(" ", "")
        try:
            seconds = float(cleaned)
        except ValueError:
            match = _BUDGET.match(cleaned)
            if not cleaned or not match or not any(match.groups()):
                raise ValueError(
                    f"{what} must look like 8h30m, 90m, 45s or a number of seconds, got {text!r}"
                ) from None
            seconds = sum(float(v) * _UNIT_SECONDS[u] for v, u in zip(match.groups(), "hms") if v)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive, finite time, got {text!r}")
    return seconds


def format_seconds(seconds: float) -> str:
    """``5025`` -> ``1h23m45s``; under a minute with one decimal: ``12.5s``."""
    if seconds < 60:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes:02d}m" if hours else f"{minutes}m") + f"{secs:02d}s"


@dataclass
class Deadline:
    """A point in time (monotonic clock) that work must finish by."""

    seconds: float  # the budget
    start: float = field(default_factory=time.monotonic)  # when it began (monotonic clock)

    @property
    def at(self) -> float:
        return self.start + self.seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def sooner(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` earlier than this one (for leaving room for later work)."""
        return Deadline(self.seconds - seconds, self.start)

    def share(self, fraction: float) -> Deadline:
        """A deadline ``fraction`` of the time left from now (for one phase among several)."""
        return Deadline(self.elapsed() + fraction * max(self.left(), 0.0), self.start)


def too_small(budget_s: float, needed_s: float, why: str, train_s: float):
    """The ``BudgetTooSmall`` error for a budget that leaves less than ``train_s`` to train: it names
    the budget that would do, rounded up to 5 seconds so that the user can give it as written."""
    from toolkit.errors import BudgetTooSmall

    needed_s = 5.0 * math.ceil(needed_s / 5.0)
    message = (
        f"budget {format_seconds(budget_s)} is too small to train here: {why}; a budget of at least "
        f"{format_seconds(needed_s)} trains for {format_seconds(train_s)}"
    )
    return BudgetTooSmall(message, budget_s, needed_s, why, train_s)
