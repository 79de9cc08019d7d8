"""``dogkit train``: the one training loop every model runs in.

A model (``toolkit.models.base``) describes its training as phases; this loop owns everything
around them, the same for every model: the run folder and its config, the resume position and
the random generator's state, history trimming after a kill, the budget and the time it keeps
back for ``dogkit pack`` (measured here by a trial pack, ``toolkit.train.pace``; a budget that
leaves less than a minute to train is refused), progress bars, sample grids, TensorBoard, and
checkpoints.

Checkpoints are written by time, never every epoch (on a GPU an epoch is quicker than writing
the model): at most one per ``checkpoint_every_s``, plus at the end of each phase, when the
budget stops training and on SIGINT/SIGTERM (the step under way finishes, the checkpoint is
written, the process exits with 128 + the signal's number). A checkpoint of variables read at
one instant, or of frozen parts, is written by a background thread while training goes on; a
part streamed from tables that training changes (the memorizer's memory while it memorizes) is
written in place, between steps.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import __version__
from toolkit.data.crops import load_training_data
from toolkit.errors import DogkitError, Interrupted
from toolkit.train.budget import Deadline, format_seconds, too_small
from toolkit.train.checkpoint import StateArrays
from toolkit.train.options import check_values
from toolkit.train.pace import PackPace, measure_pack_pace, process_startup_seconds, standin_images
from toolkit.train.recording import Recorder
from toolkit.train.runs import RunFolder, config_differences

log = logging.getLogger("dogkit")

SAVE_BYTES_PER_SECOND = 150e6  # a checkpoint's write and fsync, to keep time for the last one
CHECKPOINT_EVERY_S = 600.0
MIN_TRAIN_S = 60.0  # the least training a budget must leave once packing is paid for
# A budget named as enough counts what was measured (start-up, packing) a fifth higher: the next run
# measures again, and a budget named as enough must not be refused then.
MEASURED_HEADROOM = 1.2


@dataclass(frozen=True)
class TrainConfig:
    data: Path = Path("data/dogs64.npz")  # crop cache from `dogkit prepare`
    run: Path = Path("runs/memorizer")  # run folder
    budget_s: float = 8.5 * 3600  # seconds for training plus generating and packing pack_count images
    train_s: float | None = None  # instead of budget_s: train this long; the budget adds what packing takes here
    resume: bool = False  # continue the run in `run` (or start it when there is none)
    strategy: str = "auto"  # auto | none | mirrored | tpu
    model: str = "memorizer"
    pack_count: int = 10_000  # images the budget keeps time to generate and pack afterwards
    pack_separately: bool = True  # a later `dogkit pack` process pays Python's and TensorFlow's start-up again
    min_train_s: float = MIN_TRAIN_S  # a budget that leaves less to train is refused (BudgetTooSmall)
    jit: bool = True  # XLA-compile the training steps (on accelerators)
    checkpoint_every_s: float = CHECKPOINT_EVERY_S  # at most one checkpoint per this many seconds
    started: float | None = None  # monotonic time the budget counts from (None: when train() is called)


@dataclass
class TrainResult:
    run: Path
    trained: bool = True  # False: the budget left no time to train; the initial model was saved
    complete: bool = False  # every epoch of every phase has run
    epochs: int = 0  # epochs finished by this call
    steps: int = 0  # steps run by this call (an epoch cut short counts its steps, not itself)
    metrics: dict[str, float] = field(default_factory=dict)  # the last finished epoch's
    seconds: float = 0.0  # wall time of this call, from process start
    reserved_s: float = 0.0  # seconds kept back for generating and packing, and a margin
    budget_s: float = 0.0  # the budget: as given, or (with train_s) the one decided here
    pack: PackPace | None = None  # what generating and packing takes here, measured before training
    notes: list[str] = field(default_factory=list)


@dataclass
class Position:
    """Where training stands; saved with every checkpoint."""

    phase: int = 0  # index into the model's phases
    epoch: int = 0  # epochs of that phase done
    epochs_done: int = 0  # epochs of all phases done (sample grids and TensorBoard count in it)
    steps: int = 0  # steps of all phases, cut-short epochs' included
    history_rows: int = 0  # rows of history.csv this checkpoint accounts for
    rng: dict | None = None  # the loop's random generator state
    complete: bool = False
    untrained: bool = False  # a stand-in saved before any step (earlier versions did, for budgets too small)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> Position:
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in names})


def resolve_model_config(config_class, run: RunFolder, resume: bool, given: dict[str, Any]):
    """The model config: ``given`` options over the defaults, or over the run's own when resuming.

    Raises:
        DogkitError: a new run into a folder that holds one; resuming with options that differ
            from the run's (listing each difference); options that do not apply to the model.
    """
    given = check_values(config_class, given)
    if run.exists() and not resume:
        raise DogkitError(f"{run.path} already holds a run; pass --resume to continue it, or choose another --run")
    if not (run.exists() and resume):
        return _build_config(config_class, given)
    saved = run.read_config().get("model_config", {})
    clashes = config_differences({k: saved.get(k) for k in given}, given)
    if clashes:
        raise DogkitError(f"{run.path}: the run was made with other options: " + "; ".join(clashes))
    names = {f.name for f in fields(config_class)}
    return _build_config(config_class, {**{k: v for k, v in saved.items() if k in names}, **given})


def _build_config(config_class, values: dict[str, Any]):
    try:
        return config_class(**values)
    except (TypeError, ValueError) as exc:
        raise DogkitError(str(exc)) from None


def check_data(run: RunFolder, resume: bool, data_info: dict[str, Any]) -> None:
    if resume and run.exists():
        saved = run.read_config().get("data", {})
        if saved.get("fingerprint") != data_info["fingerprint"]:
            raise DogkitError(
                f"{run.path}: the run was trained on other data ({saved.get('crops')} crops from "
                f"{saved.get('path')}); resume it with the same crop cache"
            )


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


def epoch_batches(rng: np.random.Generator, n: int, batch_size: int) -> list[np.ndarray]:
    """A shuffled pass over ``n`` rows in batches (the last one smaller), each sorted."""
    order = rng.permutation(n)
    return [np.sort(order[s : s + batch_size]) for s in range(0, n, batch_size)]


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


class CheckpointSaver:
    """Writes checkpoints: by time (``due``), on demand, a part of copies in a background thread."""

    def __init__(self, run: RunFolder, every_s: float):
        self.run = run
        self.every_s = every_s
        self.last = time.monotonic()
        self.blocked_s = 0.0  # time the training thread waited on saving
        self.bytes = 0
        self.saves = 0
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every_s

    def save(self, state: Callable[[], Mapping[str, Any]], position: Position, wait: bool = False) -> None:
        """Save ``state()`` (the model's parts, taken now, on this thread) at ``position``."""
        from toolkit.train.checkpoint import ChunkedArray

        tick = time.perf_counter()
        self.join()
        parts = state()
        record = asdict(position)
        # a part streamed from live tables (not frozen) must be written before training changes them
        live = any(
            isinstance(a, ChunkedArray) for part in parts.values() if part.frozen is None for a in part.arrays.values()
        )
        if live or wait:
            self._write(parts, record)
            self.join()  # a failed write is the caller's to hear of now, not at a next save that may never come
        else:
            self._thread = threading.Thread(target=self._write, args=(parts, record), name="checkpoint", daemon=True)
            self._thread.start()
        self.last = time.monotonic()
        self.blocked_s += time.perf_counter() - tick

    def _write(self, parts, record) -> None:
        try:
            self.bytes += self.run.save_checkpoint(parts, record)
            self.saves += 1
        except BaseException as exc:  # raised on the training thread by the next join()
            self._failure = exc

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            if isinstance(failure, OSError):
                raise DogkitError(f"{self.run.checkpoints_dir}: cannot write a checkpoint ({failure})") from failure
            raise failure


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


class _Timing:
    """Seconds per phase name (wall, in steps, blocked on saving) and epochs, kept in timing.json."""

    def __init__(self, run: RunFolder):
        self.run = run
        self.table = run.read_timing()

    def record_pack(self, pace: PackPace) -> None:
        """What generating and packing was measured to take before this call trained (``pack``)."""
        self.table["pack"] = pace.to_dict()
        self.run.write_timing(self.table)

    def add(self, phase: str, wall: float, steps: float, saving: float, epochs: int) -> None:
        entry = self.table.setdefault(phase, {"wall_s": 0.0, "step_s": 0.0, "save_s": 0.0, "epochs": 0})
        entry["wall_s"] += wall
        entry["step_s"] += steps
        entry["save_s"] += saving
        entry["epochs"] += epochs
        self.run.write_timing(self.table)


def train(config: TrainConfig, model_options: dict[str, Any] | None = None) -> TrainResult:
    """Train ``config.model`` on the crop cache into the run folder, within the budget (or, with
    ``config.train_s``, for that long), keeping what generating and packing takes here.

    ``model_options``: the model's options the user gave (the rest come from the defaults, or
    from the run itself when resuming). One process at a time writes a run folder.

    Raises:
        DogkitError: bad options, data or run folder, or another process training into it;
            ``Interrupted`` after SIGINT/SIGTERM (saved); ``BudgetTooSmall`` when the budget leaves
            less than ``config.min_train_s`` to train (nothing trained, a new run leaves no folder).
    """
    from toolkit import models

    deadline = Deadline(config.budget_s, config.started if config.started is not None else time.monotonic())
    entry = models.get(config.model)
    run = RunFolder(config.run)
    if run.exists() and run.read_config().get("model") != config.model:
        raise DogkitError(f"{run.path}: holds a {run.read_config().get('model')} run, not {config.model}")
    model_config = resolve_model_config(entry.config_class(), run, config.resume, model_options or {})
    with StopSignals() as signals, run.writer():  # a signal while starting stops before training, too
        return _train(config, entry, run, model_config, deadline, signals)


def _stop_if_signalled(signals: StopSignals, run: RunFolder) -> None:
    """Before training has begun: nothing to save; a new run leaves no folder (run.writer removes it)."""
    if signals.received is not None:
        then = f"continue with: dogkit train --run {run.path} --resume" if run.exists() else "no run folder kept"
        raise Interrupted(
            f"stopped by {signal.Signals(signals.received).name} while starting, before training; {then}",
            signals.received,
        )


def _train(config: TrainConfig, entry, run: RunFolder, model_config, deadline: Deadline, signals) -> TrainResult:
    from toolkit.train.distribute import describe, select_strategy

    data = load_training_data(config.data)  # here, so that no reference outlives the model's taking it
    check_data(run, config.resume, data.describe())
    if len(data.images) == 1:
        log.warning("warning: %s holds one crop: every image the model makes will be a copy of it", config.data)

    model_class = entry.model_class()
    strategy = select_strategy(config.strategy, model_class.strategy_probe(model_config, data, config.jit))
    rng = np.random.default_rng(model_config.seed)
    model = model_class(model_config, data, strategy, rng, config.jit)
    data_info = data.describe()
    standins = standin_images(data.images)  # what the trial pack writes (see toolkit.train.pace)
    del data  # the model keeps what it needs of the crops, and no more
    counts = model.parameter_counts()
    log.info(
        "%s on %d crops, %s; parameters: %s",
        config.model,
        data_info["crops"],
        describe(strategy),
        ", ".join(f"{name} {n:,}" for name, n in counts.items()),
    )
    _stop_if_signalled(signals, run)
    position = _restore(run, model, rng)
    _stop_if_signalled(signals, run)
    result = TrainResult(run.path, trained=position.steps > 0)
    if position.complete:
        result.complete = True
        result.notes.append("the run is already complete; nothing to train")
        return result

    log.info("timing a trial pack here, to keep time for generating and packing %d images", config.pack_count)
    pace = measure_pack_pace(
        lambda: model_class.sampler(model_config, StateArrays.of(model.state()), asdict(position)),
        config.pack_count,
        run.path,
        standins,
        process_startup_seconds(deadline.start) if config.pack_separately else 0.0,
    )
    deadline, train_deadline, result.reserved_s = _plan(config, deadline, pace)
    result.budget_s, result.pack = deadline.seconds, pace
    _stop_if_signalled(signals, run)
    if not run.exists():
        run.write_config(
            {
                "dogkit_version": __version__,
                "model": config.model,
                "model_config": asdict(model_config),
                "data": data_info,
                "parameters": counts,
            }
        )
    _Timing(run).record_pack(pace)
    recorder = Recorder(run, deadline)
    saver = CheckpointSaver(run, config.checkpoint_every_s)
    phases = model.phases()
    signals.training = True
    try:
        _run_phases(phases, position, model, rng, train_deadline, recorder, saver, signals, result)
    finally:
        saver.join()
        recorder.loss_curve()
        recorder.close()
    result.trained = position.steps > 0
    result.complete = position.complete
    result.seconds = deadline.elapsed()
    if signals.received is not None:
        name = signal.Signals(signals.received).name
        raise Interrupted(
            f"stopped by {name} ({_where(phases, position)}); checkpoint saved in {run.checkpoints_dir}; "
            f"continue with: dogkit train --run {run.path} --resume",
            signals.received,
        )
    return result


def _plan(config: TrainConfig, deadline: Deadline, pace: PackPace) -> tuple[Deadline, Deadline, float]:
    """(the whole budget, training's deadline, the seconds kept back after it): the budget less what
    packing takes here and a margin; or, with ``train_s``, ``train_s`` of training from now and a
    budget that covers it, packing and the margin.

    Raises:
        BudgetTooSmall: the budget leaves less than ``min_train_s`` to train.
    """
    pack_s = pace.seconds()
    if config.train_s is not None:
        margin = _margin(deadline.elapsed() + config.train_s + pack_s)
        budget = Deadline(deadline.elapsed() + config.train_s + pack_s + margin, deadline.start)
        log.info(
            "training for %s, then generating and packing %d images: about %s here (%s), and %s of margin; "
            "the whole job: about %s",
            format_seconds(config.train_s),
            config.pack_count,
            format_seconds(pack_s),
            pace.describe(),
            format_seconds(margin),
            format_seconds(budget.seconds),
        )
        return budget, Deadline(config.train_s), pack_s + margin
    margin = _margin(deadline.seconds)
    train_deadline = deadline.sooner(pack_s + margin)
    left = train_deadline.left()
    if left < config.min_train_s:
        raise too_small(
            deadline.seconds,
            config.min_train_s + MEASURED_HEADROOM * (deadline.elapsed() + pack_s + margin),
            f"starting took {format_seconds(deadline.elapsed())} and generating and packing {config.pack_count} "
            f"images takes about {format_seconds(pack_s)} on this machine ({pace.describe()}, measured), which "
            f"leaves {format_seconds(max(left, 0.0))} to train",
            config.min_train_s,
        )
    log.info(
        "budget %s: %s kept for generating and packing %d images (%s, measured here) and %s of margin; "
        "%s for training and its last checkpoint",
        format_seconds(config.budget_s),
        format_seconds(pack_s),
        config.pack_count,
        pace.describe(),
        format_seconds(margin),
        format_seconds(left),
    )
    return deadline, train_deadline, pack_s + margin


def _margin(budget_s: float) -> float:
    """Time left unplanned: the loss curve, the process's exit, noise in the measurements."""
    return max(3.0, 0.01 * budget_s)


def _restore(run: RunFolder, model, rng: np.random.Generator) -> Position:
    """Load the run's checkpoint into the model and ``rng``; trim history rows written after it
    (repairing a damaged history first, and saying so)."""
    repaired = run.repair_history()
    if repaired:
        log.warning("warning: %s", repaired)
    checkpoint = run.load_checkpoint() if run.exists() else None
    position = Position()
    if checkpoint is not None:
        try:
            if not checkpoint.position.get("untrained"):  # a stand-in is not a place to resume from
                position = Position.from_dict(checkpoint.position)
                try:
                    model.load(checkpoint.parts)
                except (KeyError, ValueError) as exc:
                    raise DogkitError(
                        f"{run.checkpoints_dir}: does not fit this model ({exc}); start a new run with another --run"
                    ) from None
                if position.rng is not None:
                    rng.bit_generator.state = position.rng
                log.info("resuming %s: %s done", run.path, _epochs(position.epochs_done))
        finally:
            checkpoint.close()
    rows = len(run.read_history())
    if rows < position.history_rows:
        log.warning(
            "warning: %s holds %d rows where the checkpoint counts %d: the missing epochs' rows are lost",
            run.history_path,
            rows,
            position.history_rows,
        )
        position.history_rows = rows
    run.truncate_history(position.history_rows)
    return position


def _where(phases, position: Position) -> str:
    if position.complete or position.phase >= len(phases):
        return "training complete"
    phase = phases[position.phase]
    within = f"round {phase.round}, " if phase.round else ""
    return f"{phase.name} phase, {within}{_epochs(position.epoch)} done"


def _run_phases(phases, position, model, rng, deadline, recorder, saver, signals, result) -> None:
    timing = _Timing(recorder.run)
    clock = StepClock()

    def time_left() -> bool:
        """Whether one more step fits before the budget's end, with the checkpoint written then."""
        return clock.fits(deadline, then=model.checkpoint_bytes() / SAVE_BYTES_PER_SECOND)

    while position.phase < len(phases) and not signals():
        phase = phases[position.phase]
        phase_deadline = deadline if phase.share is None else _sooner(deadline, deadline.share(phase.share))
        started, blocked_before, step_s, epochs = time.perf_counter(), saver.blocked_s, 0.0, 0
        phase.begin(position.epoch)
        stopped = False
        total = None
        if phase.epochs is not None and phase.steps_per_epoch:
            total = phase.steps_per_epoch * (phase.epochs - position.epoch)
        with recorder.progress(total, _label(phase)) as bar:
            shown = _Shown(bar, recorder, phase.metrics_shown)

            def keep_going(phase_deadline=phase_deadline) -> bool:  # a phase's share ends it, not the run
                return not signals() and clock.fits(phase_deadline) and time_left()

            while phase.epochs is None or position.epoch < phase.epochs:
                outcome = run_epoch(phase.batches(rng), phase.step, clock, keep_going, shown)
                position.steps += outcome.steps
                result.steps += outcome.steps
                step_s += outcome.step_seconds
                if outcome.stopped:
                    stopped = True
                    break
                position.epoch += 1
                position.epochs_done += 1
                epochs += 1
                recorder.epoch(
                    phase.name,
                    phase.round,
                    position.epoch,
                    outcome.steps,
                    phase.learning_rate(),
                    outcome.seconds,
                    outcome.step_seconds,
                    outcome.metrics,
                    position.epochs_done,
                )
                position.history_rows += 1
                result.epochs += 1
                result.metrics = outcome.metrics
                phase.after_epoch(position.epoch, outcome.metrics)
                if phase.grid is not None and phase.grid_every_epoch:
                    recorder.sample_grid(phase.grid(), position.epochs_done, phase.grid_label)
                if saver.due() and (phase.epochs is None or position.epoch < phase.epochs):  # else saved below
                    _save(saver, model, position, rng)
        out_of_time = stopped and (signals() or not time_left())
        if stopped and phase.epochs is not None:
            if signals():
                cause = "a signal"
            elif out_of_time or phase.share is None:
                cause = "the budget"
            else:  # the phase's share of the time ended it; the next phase goes on
                cause = f"its {phase.share:.0%} share of the budget"
            result.notes.append(f"{_label(phase)} stopped by {cause} after {position.epoch} of {phase.epochs} epochs")
        if not out_of_time:  # done, or its share of the time is: the next phase takes over
            phase.end()
            if phase.grid is not None and not phase.grid_every_epoch:
                recorder.sample_grid(phase.grid(), position.epochs_done, phase.grid_label)
            position.phase += 1
            position.epoch = 0
            position.complete = position.phase >= len(phases)
        _save(saver, model, position, rng)
        timing.add(phase.name, time.perf_counter() - started, step_s, saver.blocked_s - blocked_before, epochs)
        if out_of_time:
            break


class _Shown:
    """Advances a progress bar at every step; redraws its metrics at most twice a second."""

    def __init__(self, bar, recorder: Recorder, keys: tuple[str, ...]):
        self.bar, self.recorder, self.keys = bar, recorder, keys
        self.drawn = 0.0

    def __call__(self, metrics: Mapping[str, float]) -> None:
        self.bar.update(1)
        if time.perf_counter() - self.drawn > 0.5:
            keys = self.keys or tuple(metrics)
            self.recorder.postfix(self.bar, {k: metrics[k] for k in keys if k in metrics})
            self.drawn = time.perf_counter()


def _save(saver: CheckpointSaver, model, position: Position, rng) -> None:
    position.rng = rng.bit_generator.state
    saver.save(model.state, position)


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _sooner(a: Deadline, b: Deadline) -> Deadline:
    return a if a.at <= b.at else b


def _label(phase) -> str:
    return f"{phase.name} round {phase.round}" if phase.round else phase.name
