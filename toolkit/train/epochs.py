"""An epoch of steps, timed: the loop runs each phase epoch by epoch through ``run_epoch``, and
``StepClock`` says whether one more step fits before a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolkit.train.budget import Deadline


class StepClock:
    """Seconds per step, from the steps seen so far (the first, which compiles, counts apart)."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.total = 0.0
        self.count = 0

    def record(self, seconds: float) -> None:
        if self.first is None:
            self.first = seconds
        else:
            self.total += seconds
            self.count += 1

    def estimate(self) -> float:
        if self.count:
            return self.total / self.count
        return self.first or 0.0

    def fits(self, deadline: Deadline, margin: float = 1.5, then: float = 0.0) -> bool:
        """Whether one more step (with ``margin`` times the usual step), and ``then`` seconds after it,
        end before ``deadline``."""
        return deadline.left() > margin * self.estimate() + then


@dataclass(frozen=True)
class EpochOutcome:
    metrics: dict[str, float]  # each metric's mean over the rows of the steps that gave it ({}: none)
    rows: int  # rows trained on
    steps: int
    stopped: bool  # the deadline (or a signal) came before the epoch's end
    seconds: float  # wall
    step_seconds: float  # in the steps


def run_epoch(
    batches,
    step: Callable[[np.ndarray], Mapping[str, Any]],
    clock: StepClock,
    keep_going: Callable[[], bool],
    on_step: Callable[[Mapping[str, Any]], object] = lambda metrics: None,
) -> EpochOutcome:
    """Run ``step`` on each batch until the epoch ends or ``keep_going()`` (asked before each step)
    says no."""
    started = time.perf_counter()
    totals: dict[str, float] = {}
    weights: dict[str, int] = {}  # rows behind each metric (a step may leave one out)
    rows = steps = 0
    stepping = 0.0
    stopped = False
    for batch in batches:
        if not keep_going():
            stopped = True
            break
        tick = time.perf_counter()
        metrics = {name: float(value) for name, value in step(batch).items()}
        seconds = time.perf_counter() - tick
        clock.record(seconds)
        stepping += seconds
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + value * len(batch)
            weights[name] = weights.get(name, 0) + len(batch)
        rows += len(batch)
        steps += 1
        on_step(metrics)
    means = {name: total / weights[name] for name, total in totals.items()}
    return EpochOutcome(means, rows, steps, stopped, time.perf_counter() - started, stepping)
