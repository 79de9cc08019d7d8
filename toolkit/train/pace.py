"""How long ``dogkit pack`` will take on this machine: measured, never guessed.

Training keeps time back in its budget for generating and packing 10,000 images afterwards. That
time is measured on the machine that trains, through the code ``dogkit pack`` runs: a sampler
built from the model's state as ``pack`` builds one from a checkpoint, asked for images at pack's
batch size, each batch turned into uint8 pixels and written through the submission writer into a
trial zip on the run's disk. The first batch pays for tracing and compiling (and the BigGAN's
standing statistics); a few steady batches after it give the median pace; the last, smaller batch
(``count % batch`` images) is traced again in pack too, so the trial ends with one of that size.

How long a PNG takes to encode depends on what it shows: an untrained generator's flat images
encode more than ten times faster than a trained one's smooth, blurred ones (zlib searches longer
for matches in smooth, slightly noisy rows). The trial therefore writes stand-ins for what training
will make in place of the generated pixels: training crops, or blurred blends of two of them (what
a memorizer or a young GAN makes), whichever encodes slower here.

A later ``dogkit pack`` is a new process: it pays Python's and TensorFlow's start-up again, which
is what this process paid to reach the point where TensorFlow was loaded. Packing in the same
process (``dogkit run``, ``dogkit demo``, the kernel) pays only for building the sampler.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from submission import write_images_zip
from toolkit.visuals import to_uint8

SAMPLE_BATCH = 256  # images per generator call in `dogkit pack` (every sampler's default)
STEADY_BATCHES = 3  # timed after the first, compiling one; their median is the pace
BLUR_RADIUS = 2.0  # the stand-ins' Gaussian blur, in pixels
TRIAL_NAME = ".pack-trial.tmp"  # the trial zip in the run folder (a leftover is removed as an orphan)


@dataclass(frozen=True)
class PackPace:
    """What generating and packing ``count`` images costs here, in seconds, part by part."""

    count: int  # images pack writes
    batch: int  # images per generator call
    process_s: float  # a new process's start until TensorFlow is loaded (0: packing in this process)
    build_s: float  # building the sampler from the model's state
    warmup_s: float  # the first batch beyond a steady one: tracing, compiling, a sampler's set-up
    batch_s: float  # a steady batch, generated, encoded and written: the median of those timed
    tail_s: float  # the last, smaller batch (traced again); 0 when count is a multiple of batch
    finish_s: float  # closing the zip (the last encodes, fsync, rename), scaled to count images

    def seconds(self) -> float:
        full = self.count // self.batch
        return self.process_s + self.build_s + self.warmup_s + full * self.batch_s + self.tail_s + self.finish_s

    def images_per_second(self) -> float:
        """Generated, encoded and written, once started."""
        seconds = self.count // self.batch * self.batch_s + self.tail_s
        return self.count / seconds if seconds > 0 else float("inf")

    def describe(self) -> str:
        start = "start-up " + _s(self.process_s + self.build_s + self.warmup_s)
        return f"{start}, {self.images_per_second():,.0f} images/s"

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "estimate_s": self.seconds()}

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> PackPace:
        """The pace ``to_dict`` recorded (a run's timing.json ``pack``)."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    def for_count(self, count: int) -> PackPace:
        """The same pace for packing ``count`` images. A last, smaller batch is traced again: when the
        trial had none, it costs what the first batch's tracing did."""
        rest = count % self.batch
        tail_s = 0.0 if not rest else self.tail_s or self.warmup_s + self.batch_s * rest / self.batch
        return replace(self, count=count, tail_s=tail_s, finish_s=self.finish_s * count / self.count)


def _s(seconds: float) -> str:
    from toolkit.train.budget import format_seconds

    return format_seconds(seconds)


def standin_images(crops: np.ndarray, count: int = 64, seed: int = 0) -> np.ndarray:
    """(count, 64, 64, 3) uint8 images that encode as slowly as trained models' images: ``count``
    training crops, or blends of two of them (0.7 and 0.3) blurred, whichever set encodes slower."""
    from PIL import Image, ImageFilter

    from submission.png import encode_png

    rows = np.random.default_rng(seed).choice(len(crops), size=count, replace=len(crops) < count)
    sharp = np.asarray(crops[rows], np.uint8)
    blends = np.rint(0.7 * sharp + 0.3 * np.roll(sharp, 1, axis=0)).astype(np.uint8)
    blurred = np.stack([np.asarray(Image.fromarray(b).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))) for b in blends])

    def encode_seconds(images: np.ndarray) -> float:
        tick = time.perf_counter()
        for image in images:
            encode_png(image)
        return time.perf_counter() - tick

    return max((sharp, blurred), key=encode_seconds)


def measure_pack_pace(
    build_sampler: Callable[[], object],
    count: int,
    folder: Path,
    standins: np.ndarray,
    seed: int = 0,
    process_s: float = 0.0,
    steady_batches: int = STEADY_BATCHES,
    batch: int = SAMPLE_BATCH,
    clock: Callable[[], float] = time.perf_counter,
) -> PackPace:
    """Build a sampler with ``build_sampler()`` and time a trial pack of a few batches in ``folder``
    (sampled with ``seed``), writing ``standins`` (cycled; see ``standin_images``) in place of the
    generated pixels.

    The trial zip is removed afterwards. ``process_s``: the start-up a later ``dogkit pack`` process
    pays before it can build its sampler (0 when packing happens in this process). ``clock``: seconds,
    read at each batch the writer asks for.
    """
    tick = clock()
    sampler = build_sampler()
    build_s = clock() - tick
    full = count // batch
    rest = count % batch
    trial_full = min(full, 1 + steady_batches)
    trial = trial_full * batch + rest
    marks: list[float] = []  # when the writer asked for each batch (and, last, for the end)

    def images() -> Iterator[np.ndarray]:
        stream = iter(sampler.sample(trial, seed))
        while True:
            marks.append(clock())
            try:
                generated = to_uint8(next(stream))
            except StopIteration:
                return
            for k in range(len(generated)):
                yield standins[(len(marks) * batch + k) % len(standins)]

    path = Path(folder) / TRIAL_NAME
    try:
        write_images_zip(images(), path, trial)
        finished = clock()
    except OSError as exc:  # a full disk, most likely: the folder is what the user can act on
        raise OSError(exc.errno, exc.strerror, os.fspath(folder)) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    intervals = np.diff(marks)  # one per batch: its generation and the writer's handling of it
    steady = list(intervals[1:trial_full])
    first = float(intervals[0]) if trial_full else 0.0
    batch_s = statistics.median(steady) if steady else first
    return PackPace(
        count=count,
        batch=batch,
        process_s=process_s,
        build_s=build_s,
        warmup_s=max(first - batch_s, 0.0),
        batch_s=batch_s,
        tail_s=float(intervals[trial_full]) if rest else 0.0,
        finish_s=(finished - marks[-1]) * count / max(trial, 1),
    )


def process_age() -> float | None:
    """Seconds since this process started, from the kernel's record of it (Linux), or None."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def process_startup_seconds(fallback_start: float) -> float:
    """What this process took to start and load TensorFlow: what a new ``dogkit pack`` pays again.

    ``fallback_start``: a monotonic time to count from where the process's own start is unknown.
    """
    from toolkit.backend import READY_AT

    age = process_age()
    started = time.monotonic() - age if age is not None else fallback_start
    return max(READY_AT - started, 0.0)


SLOWER = 1.2  # packing this much slower than the pace measured before training is worth a line in the log
OVERRUN_ALLOWED = 1.05  # a job may end within its budget plus 5% (README)
WATCH_EVERY = 1000  # images between checks of packing's pace


class PackWatch:
    """Checks packing's pace as it goes (``update(n)`` after every ``n`` images written): says once
    when it runs slower than the pace measured before training (a slower or busier machine than the
    trial's), and once, as soon as its pace shows it, that the job will end past its budget plus 5%
    and by how much. The pace is counted from the first check on, after the first batches' tracing."""

    def __init__(self, count: int, planned: PackPace | None, deadline, say: Callable[[str], object], clock=None):
        self.count, self.planned, self.deadline, self.say = count, planned, deadline, say
        self.clock = clock or time.monotonic  # the deadline's clock
        self.done = 0
        self.first: tuple[int, float] | None = None  # (images, time) at the first check
        self.said_slower = self.said_overrun = False

    def update(self, n: int) -> None:
        before, self.done = self.done, self.done + n
        if before // WATCH_EVERY == self.done // WATCH_EVERY or self.done >= self.count:
            return
        now = self.clock()
        if self.first is None:
            self.first = (self.done, now)
            return
        rate = (self.done - self.first[0]) / max(now - self.first[1], 1e-9)
        left_s = (self.count - self.done) / rate
        if self.planned is not None and not self.said_slower and rate * SLOWER < self.planned.images_per_second():
            self.said_slower = True
            self.say(
                f"pack: slower than planned: {rate:,.0f} images/s against {self.planned.images_per_second():,.0f} "
                f"measured before training (a slower or busier machine); about {_s(left_s)} to go"
            )
        end_s = now - self.deadline.start + left_s
        if not self.said_overrun and end_s > OVERRUN_ALLOWED * self.deadline.seconds:
            self.said_overrun = True
            self.say(
                f"pack: at {rate:,.0f} images/s this job will end about {_s(end_s - self.deadline.seconds)} past "
                f"its budget of {_s(self.deadline.seconds)} (at {_s(end_s)}; the budget allows 5% over)"
            )
