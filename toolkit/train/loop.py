"""``dogkit train``: the one training loop every model runs in.

The caller resolves the model (``toolkit.models``' registry) and hands the loop its entry: a name,
a config class and a model class (the protocol is written in ``toolkit.models.base``). A model
describes its training as phases; this loop owns everything around them, the same for every
model: the run folder and its config, the resume position and the random generator's state,
history trimming after a kill, the budget and the time it keeps back for ``dogkit pack`` (measured
here by a trial pack, ``toolkit.train.pace``; a budget that leaves less than a minute to train is
refused), progress bars, sample grids, TensorBoard, and checkpoints.

Checkpoints are written by time, never every epoch (on a GPU an epoch is quicker than writing
the model): at most one per ``checkpoint_every_s``, plus at the end of each phase, when the
budget stops training and on SIGINT/SIGTERM (the step under way finishes, the checkpoint is
written, the process exits with 128 + the signal's number). A checkpoint of variables read at
one instant, or of frozen parts, is written by a background thread while training goes on; a
part streamed from tables that training changes (the memorizer's memory while it memorizes) is
written in place, between steps (``toolkit.train.saving``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import __version__
from toolkit.data.crops import load_training_data
from toolkit.errors import DogkitError, Interrupted
from toolkit.train.budget import Deadline, format_seconds, too_small
from toolkit.train.checkpoint import StateArrays
from toolkit.train.epochs import StepClock, run_epoch
from toolkit.train.evaluation import EvalSettings, Evaluation, Evaluator, find_evaluation_extractor, reference_choice
from toolkit.train.options import check_values
from toolkit.train.pace import PackPace, measure_pack_pace, process_startup_seconds, standin_images
from toolkit.train.recording import Recorder
from toolkit.train.runs import Position, RunFolder, config_differences
from toolkit.train.saving import CheckpointSaver
from toolkit.train.signals import StopSignals

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
    pack_count: int = 10_000  # images the budget keeps time to generate and pack afterwards
    pack_separately: bool = True  # a later `dogkit pack` process pays Python's and TensorFlow's start-up again
    min_train_s: float = MIN_TRAIN_S  # a budget that leaves less to train is refused (BudgetTooSmall)
    jit: bool = True  # XLA-compile the training steps (on accelerators)
    checkpoint_every_s: float = CHECKPOINT_EVERY_S  # at most one checkpoint per this many seconds
    started: float | None = None  # monotonic time the budget counts from (None: when train() is called)
    evaluation: EvalSettings = field(default_factory=EvalSettings)  # evaluation while training
    extractor: Any = None  # a feature extractor already loaded (the pipeline's); None: evaluation's settings find one


@dataclass
class TrainResult:
    run: Path
    trained: bool = False  # the generator has had training steps (by this call or before it)
    complete: bool = False  # every epoch of every phase has run
    epochs: int = 0  # epochs finished by this call
    steps: int = 0  # steps run by this call (an epoch cut short counts its steps, not itself)
    metrics: dict[str, float] = field(default_factory=dict)  # the last finished epoch's
    seconds: float = 0.0  # wall time of this call, from process start
    reserved_s: float = 0.0  # seconds kept back for generating and packing, and a margin
    budget_s: float = 0.0  # the budget: as given, or (with train_s) the one decided here
    pack: PackPace | None = None  # what generating and packing takes here, measured before training
    notes: list[str] = field(default_factory=list)


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
    return _build_config(config_class, {**run.saved_model_config(config_class), **given})


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


def train(config: TrainConfig, model, model_options: dict[str, Any] | None = None) -> TrainResult:
    """Train ``model`` on the crop cache into the run folder, within the budget (or, with
    ``config.train_s``, for that long), keeping what generating and packing takes here.

    Args:
        config: what to train on, where, and for how long.
        model: the model's registry entry (``toolkit.models.ModelEntry``) or anything with its
            ``name``, ``config_class()`` and ``model_class()``.
        model_options: the model's options the user gave (the rest come from the defaults, or from
            the run itself when resuming).

    One process at a time writes a run folder.

    Raises:
        DogkitError: bad options, data or run folder, or another process training into it;
            ``Interrupted`` after SIGINT/SIGTERM (saved); ``BudgetTooSmall`` when the budget leaves
            less than ``config.min_train_s`` to train (nothing trained, a new run leaves no folder).
    """
    deadline = Deadline(config.budget_s, config.started if config.started is not None else time.monotonic())
    run = RunFolder(config.run)
    if run.exists() and run.read_config().get("model") != model.name:
        raise DogkitError(f"{run.path}: holds a {run.read_config().get('model')} run, not {model.name}")
    model_config = resolve_model_config(model.config_class(), run, config.resume, model_options or {})
    extractor, no_evaluation = config.extractor, None
    if config.evaluation.enabled and extractor is None:  # a bad --features file is refused before training
        extractor, no_evaluation = find_evaluation_extractor(config.evaluation)
    with StopSignals() as signals, run.writer():  # a signal while starting stops before training, too
        training = Training(config, model.name, model.model_class(), model_config, run, deadline, signals)
        training.extractor, training.no_evaluation = extractor, no_evaluation
        return training.run()


class Training:
    """One call's training, step by step: build, restore, keep time for packing, train the phases."""

    def __init__(self, config: TrainConfig, name: str, model_class, model_config, run: RunFolder, deadline, signals):
        self.config, self.name, self.model_class, self.model_config = config, name, model_class, model_config
        self.run_folder, self.deadline, self.signals = run, deadline, signals
        self.result = TrainResult(run.path)
        self.extractor, self.no_evaluation = config.extractor, None
        self.evaluator: Evaluator | None = None

    def run(self) -> TrainResult:
        self.build()
        self.stop_if_signalled()
        self.restore()
        self.stop_if_signalled()
        if self.position.complete:
            self.result.trained, self.result.complete = self.position.generator_trained(), True
            self.result.notes.append("the run is already complete; nothing to train")
            return self.result
        self.keep_time_for_packing()
        self.stop_if_signalled()
        self.write_config()
        self.prepare_evaluation()
        self.stop_if_signalled()
        self.train_phases()
        return self.finish()

    # ------------------------------------------------------------------ before training

    def build(self) -> None:
        """The crops, the strategy and the model (seeded, so that the same seed gives the same run)."""
        from toolkit.backend import keras
        from toolkit.train.distribute import describe, first_phase_probe, select_strategy

        config, model_config = self.config, self.model_config
        data = load_training_data(config.data)  # here, so that no reference outlives the model's taking it
        check_data(self.run_folder, config.resume, data.describe())
        if len(data.images) == 1:
            log.warning("warning: %s holds one crop: every image the model makes will be a copy of it", config.data)
        probe = getattr(self.model_class, "strategy_probe", None)
        probe = (
            probe(model_config, data, config.jit)
            if probe
            else first_phase_probe(self.model_class, model_config, data, config.jit)
        )
        strategy = select_strategy(config.strategy, probe)
        self.rng = np.random.default_rng(model_config.seed)
        keras.utils.set_random_seed(model_config.seed)
        self.model = self.model_class(model_config, data, strategy, self.rng, config.jit)
        self.data_info = data.describe()
        self.standins = standin_images(data.images)  # what the trial pack writes (see toolkit.train.pace)
        if config.evaluation.enabled:
            self.eval_crops = reference_choice(data.images, config.evaluation.reference_crops)
        del data  # the model keeps what it needs of the crops, and no more
        self.counts = self.model.parameter_counts()
        log.info(
            "%s on %d crops, %s; parameters: %s",
            self.name,
            self.data_info["crops"],
            describe(strategy),
            ", ".join(f"{name} {n:,}" for name, n in self.counts.items()),
        )

    def restore(self) -> None:
        """Load the run's checkpoint into the model and the generator; trim history rows written
        after it (repairing a damaged history first, and saying so)."""
        run = self.run_folder
        repaired = run.repair_history()
        if repaired:
            log.warning("warning: %s", repaired)
        checkpoint = run.load_checkpoint() if run.exists() else None
        self.position = Position(generator_steps=0)
        if checkpoint is not None:
            try:
                if not checkpoint.position.get("untrained"):  # a stand-in is not a place to resume from
                    self.position = Position.from_dict(checkpoint.position)
                    try:
                        self.model.load(checkpoint.parts)
                    except (KeyError, ValueError) as exc:
                        raise DogkitError(
                            f"{run.checkpoints_dir}: does not fit this model ({exc}); "
                            "start a new run with another --run"
                        ) from None
                    if self.position.rng is not None:
                        self.rng.bit_generator.state = self.position.rng
                    log.info("resuming %s: %s done", run.path, _epochs(self.position.epochs_done))
            finally:
                checkpoint.close()
        rows = len(run.read_history())
        if rows < self.position.history_rows:
            log.warning(
                "warning: %s holds %d rows where the checkpoint counts %d: the missing epochs' rows are lost",
                run.history_path,
                rows,
                self.position.history_rows,
            )
            self.position.history_rows = rows
        run.truncate_history(self.position.history_rows)

    def keep_time_for_packing(self) -> None:
        """Time a trial pack here, then plan the budget around it (or refuse it)."""
        config = self.config
        log.info("timing a trial pack here, to keep time for generating and packing %d images", config.pack_count)
        pace = measure_pack_pace(
            lambda: self.model_class.sampler(self.model_config, StateArrays.of(self.model.state())),
            config.pack_count,
            self.run_folder.path,
            self.standins,
            self.model_config.seed,
            process_startup_seconds(self.deadline.start) if config.pack_separately else 0.0,
        )
        self.deadline, self.train_deadline, self.result.reserved_s = plan(config, self.deadline, pace)
        self.result.budget_s, self.result.pack = self.deadline.seconds, pace

    def write_config(self) -> None:
        run = self.run_folder
        if not run.exists():
            run.write_config(
                {
                    "dogkit_version": __version__,
                    "model": self.name,
                    "model_config": asdict(self.model_config),
                    "data": self.data_info,
                    "parameters": self.counts,
                }
            )
        _Timing(run).record_pack(self.result.pack)

    def prepare_evaluation(self) -> None:
        """The evaluator, when there is a feature network and evaluating fits: its cost measured, its
        schedule planned (by default within ``share`` of the training time), the reference's features
        computed (or read from the run's cache). Otherwise one line says why there is none."""
        settings = self.config.evaluation
        crops = self.__dict__.pop("eval_crops", None)  # held only until the reference's features are known
        if not settings.enabled:
            return
        if self.extractor is None:
            log.info("%s", self.no_evaluation)
            return
        tick = time.perf_counter()
        if not hasattr(self.model, "checkpoint_bytes"):
            self.state_bytes = _state_bytes(self.model.state())
        evaluator = Evaluator(
            self.extractor,
            settings,
            self.run_folder.path / "eval",
            self.model_config.seed,
            self.data_info["fingerprint"],
        )
        evaluator.measure(crops)
        self.evaluator = evaluator  # the estimates below read it
        train_s = self.train_deadline.left()
        reference_s = evaluator.reference_estimate(len(crops))
        one = self.evaluation_estimate()
        self.eval_budget = settings.share * train_s if settings.every_s is None else math.inf
        if reference_s + one > min(self.eval_budget, 0.5 * train_s):
            self.evaluator = None
            log.info(
                "not evaluating while training: %sone evaluation of %d images take about %s here, more than %s "
                "(%s of the %s of training)%s",
                f"the reference features of {len(crops)} crops and " if reference_s else "",
                settings.images,
                format_seconds(reference_s + one),
                format_seconds(min(self.eval_budget, 0.5 * train_s)),
                f"{settings.share:.0%}" if settings.every_s is None else "half",
                format_seconds(train_s),
                "; pass --eval-every to evaluate anyway, or fewer --eval-images" if settings.every_s is None else "",
            )
            return
        if settings.every_s is None:
            count = max(1, int((self.eval_budget - reference_s) // one))
            self.eval_interval = (train_s - reference_s) / count
        else:
            self.eval_interval = settings.every_s
        evaluator.load_reference(crops)
        evaluator.spent_s = time.perf_counter() - tick  # measuring counts too
        self.next_evaluation = time.monotonic() + self.eval_interval
        self.last_evaluated_steps: int | None = None
        self.best_value = self.saved_best_value()
        log.info(
            "evaluating while training in %s: %d images against %d training crops every %s, about %s each "
            "(FID from %d images reads higher than from 10,000; compare evaluations with each other)",
            evaluator.space,
            settings.images,
            len(evaluator.reference[0]),
            format_seconds(self.eval_interval),
            format_seconds(one),
            settings.images,
        )

    def saved_best_value(self) -> float | None:
        """The figure to beat: the run's best snapshot's, when it was scored in this feature space."""
        best = self.run_folder.best_evaluation()
        if best is None:
            return None
        if best.get("extractor") != self.evaluator.extractor.identity:
            log.info("the run's best snapshot was scored in another feature space; the next evaluation replaces it")
            return None
        return float(best[self.evaluator.criterion])

    def evaluation_estimate(self) -> float:
        """Seconds an evaluation takes here, with writing the checkpoint a new best is saved as."""
        pace = self.result.pack
        generating = pace.build_s + pace.warmup_s + self.config.evaluation.images / pace.images_per_second()
        rate = self.config.evaluation.images / max(generating, 1e-9)
        return self.evaluator.estimate(rate) + self.checkpoint_bytes() / SAVE_BYTES_PER_SECOND

    def stop_if_signalled(self) -> None:
        """Before training has begun: nothing to save; a new run leaves no folder (run.writer removes it)."""
        if self.signals.received is not None:
            run = self.run_folder
            then = f"continue with: dogkit train --run {run.path} --resume" if run.exists() else "no run folder kept"
            raise Interrupted(
                f"stopped by {self.signals.name} while starting, before training; {then}", self.signals.received
            )

    # ------------------------------------------------------------------ training

    def train_phases(self) -> None:
        self.phases = self.model.phases()
        self.recorder = Recorder(self.run_folder, self.deadline)
        self.saver = CheckpointSaver(self.run_folder, self.config.checkpoint_every_s)
        self.timing = _Timing(self.run_folder)
        self.clock = StepClock()
        self.phase_evaluates = False
        self.signals.training = True
        try:
            while self.position.phase < len(self.phases) and not self.signals():
                if not self.train_phase(self.phases[self.position.phase]):
                    break
        finally:
            self.saver.join()
            self.recorder.loss_curve()
            if self.evaluator is not None:
                self.recorder.quality_curve()
                self.timing.record_evaluation(self.evaluator)
            self.recorder.close()

    def time_left(self) -> bool:
        """Whether one more step fits before training's deadline, with the checkpoint written then (and
        the last evaluation, when the phase is scored)."""
        then = self.checkpoint_bytes() / SAVE_BYTES_PER_SECOND
        if self.evaluator is not None and self.phase_evaluates:
            then += self.evaluation_estimate()
        return self.clock.fits(self.train_deadline, then=then)

    def checkpoint_bytes(self) -> int:
        """What a checkpoint written now would cost: the model's own figure, or its state's size when
        the phase began."""
        own = getattr(self.model, "checkpoint_bytes", None)
        return own() if own is not None else self.state_bytes

    def train_phase(self, phase) -> bool:
        """Run ``phase`` from the position's epoch until it ends, its share of the time does, the budget
        does or a signal comes; save. Returns whether training goes on to the next phase."""
        position, saver, signals = self.position, self.saver, self.signals
        deadline = (
            self.train_deadline
            if phase.share is None
            else _sooner(self.train_deadline, self.train_deadline.share(phase.share))
        )
        started, blocked_before, step_s, epochs = time.perf_counter(), saver.blocked_s, 0.0, 0
        phase.begin(position.epoch)
        self.state_bytes = _state_bytes(self.model.state()) if not hasattr(self.model, "checkpoint_bytes") else 0
        self.phase_evaluates = phase.evaluate != "never"
        stopped = False
        total = None
        if phase.epochs is not None and phase.steps_per_epoch:
            total = phase.steps_per_epoch * (phase.epochs - position.epoch)

        def fits() -> bool:
            return not signals() and self.clock.fits(deadline) and self.time_left()

        def keep_going() -> bool:  # a phase's share ends it, not the run
            if fits() and phase.evaluate == "time" and self.evaluation_due():
                self.evaluate_within_epoch(phase, shown.steps)
            return fits()

        with self.recorder.progress(total, _label(phase)) as bar:
            shown = _Shown(bar, self.recorder, phase.metrics_shown)
            while phase.epochs is None or position.epoch < phase.epochs:
                shown.steps = 0
                outcome = run_epoch(phase.batches(self.rng), phase.step, self.clock, keep_going, shown)
                position.steps += outcome.steps
                position.generator_steps += outcome.steps if phase.trains_generator else 0
                self.result.steps += outcome.steps
                step_s += outcome.step_seconds
                if outcome.stopped:
                    stopped = True
                    break
                epochs += 1
                self.end_epoch(phase, outcome)
        out_of_time = stopped and (signals() or not self.time_left())
        if stopped and phase.epochs is not None:
            self.result.notes.append(self.why_stopped(phase, out_of_time))
        if not out_of_time:  # done, or its share of the time is: the next phase takes over
            phase.end()
            if phase.grid is not None and not phase.grid_every_epoch:
                self.recorder.sample_grid(phase.grid(), position.epochs_done, phase.grid_label)
            position.phase += 1
            position.epoch = 0
            position.complete = position.phase >= len(self.phases)
        training_ends = out_of_time or position.complete
        best = None
        if phase.evaluate == "end" or (phase.evaluate == "time" and training_ends):
            best = self.evaluate_now(phase, last=training_ends)
        self.save(best)
        self.timing.add(phase.name, time.perf_counter() - started, step_s, saver.blocked_s - blocked_before, epochs)
        return not out_of_time

    def end_epoch(self, phase, outcome) -> None:
        """Record a finished epoch (history, TensorBoard, a grid), let the phase react, save when due."""
        position, result = self.position, self.result
        position.epoch += 1
        position.epochs_done += 1
        self.recorder.epoch(
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
            self.recorder.sample_grid(phase.grid(), position.epochs_done, phase.grid_label)
        if self.saver.due() and (phase.epochs is None or position.epoch < phase.epochs):  # else saved at its end
            self.save()

    def why_stopped(self, phase, out_of_time: bool) -> str:
        if self.signals():
            cause = "a signal"
        elif out_of_time or phase.share is None:
            cause = "the budget"
        else:  # the phase's share of the time ended it; the next phase goes on
            cause = f"its {phase.share:.0%} share of the budget"
        return f"{_label(phase)} stopped by {cause} after {self.position.epoch} of {phase.epochs} epochs"

    def save(self, best: Evaluation | None = None, position: Position | None = None) -> None:
        """A checkpoint at ``position`` (default: the position now); with ``best``, the best snapshot too."""
        self.position.rng = self.rng.bit_generator.state
        position = position or self.position
        record = (
            None
            if best is None
            else {
                **best.to_dict(),
                "extractor": self.evaluator.extractor.identity,
                "space": self.evaluator.space,
                "criterion": self.evaluator.criterion,
            }
        )
        self.saver.save(self.model.state, replace(position, rng=self.position.rng), best=record)

    # ------------------------------------------------------------------ evaluation while training

    def evaluation_due(self) -> bool:
        return self.evaluator is not None and time.monotonic() >= self.next_evaluation

    def evaluate_within_epoch(self, phase, steps: int) -> None:
        """An evaluation between two steps of an epoch; a new best is saved there and then (its
        position is the epoch's start, as when the budget stops an epoch: a resumed run does it again)."""
        best = self.evaluate_now(phase, steps_in_epoch=steps)
        if best is not None:
            done = steps if phase.trains_generator else 0
            self.save(
                best,
                replace(
                    self.position,
                    steps=self.position.steps + steps,
                    generator_steps=(self.position.generator_steps or 0) + done,
                ),
            )

    def evaluate_now(self, phase, steps_in_epoch: int = 0, last: bool = False) -> Evaluation | None:
        """Evaluate the generator as it is, when it changed since the last evaluation and the
        evaluation fits (else one line says it is skipped); record it. Returns it when it is the
        best so far (the caller saves it as the best snapshot)."""
        evaluator = self.evaluator
        if evaluator is None or self.signals() or not self.position_has_generator(phase, steps_in_epoch):
            return None
        steps = (self.position.generator_steps or 0) + (steps_in_epoch if phase.trains_generator else 0)
        if steps == self.last_evaluated_steps:
            return None
        self.next_evaluation = time.monotonic() + self.eval_interval
        one = self.evaluation_estimate()
        # an evaluation before the last keeps the last one's time (within the deadline and the share)
        later = 0.0 if last else one
        if self.train_deadline.left() < one + later + self.checkpoint_bytes() / SAVE_BYTES_PER_SECOND:
            log.info(
                "evaluation at %d steps skipped: it takes about %s and the training time left is %s",
                steps,
                format_seconds(one),
                format_seconds(max(self.train_deadline.left(), 0.0)),
            )
            if not last:
                self.next_evaluation = math.inf
            return None
        if evaluator.spent_s + one + later > self.eval_budget:
            log.info(
                "evaluation at %d steps skipped: evaluations have taken %s of their %s (%.0f%% of training)",
                steps,
                format_seconds(evaluator.spent_s),
                format_seconds(self.eval_budget),
                100 * self.config.evaluation.share,
            )
            if not last:
                self.next_evaluation = math.inf
            return None
        sampler = self.model_class.sampler(self.model_config, StateArrays.of(self.model.state()))
        where = {"generator_steps": steps, "epochs_done": self.position.epochs_done, "round": phase.round}
        try:
            evaluation = evaluator.evaluate(sampler, where, self.deadline.elapsed())
        except DogkitError as exc:
            log.warning("warning: evaluation at %d steps failed: %s", steps, exc)
            return None
        self.last_evaluated_steps = steps
        self.recorder.evaluation(evaluation)
        self.position.history_rows += 1
        value = getattr(evaluation, evaluator.criterion)
        best = self.best_value is None or value < self.best_value
        if best:
            self.best_value = value
        log.info(
            "evaluation at %d steps: FID %.3f, d %.4f, MiFID %.3f (%s, %d images, %s)%s",
            steps,
            evaluation.fid,
            evaluation.distance,
            evaluation.mifid,
            evaluator.space,
            evaluation.images,
            format_seconds(evaluation.seconds),
            f": the best {evaluator.criterion_name} so far" if best else "",
        )
        return evaluation if best else None

    def position_has_generator(self, phase, steps_in_epoch: int) -> bool:
        return bool(self.position.generator_steps) or (phase.trains_generator and steps_in_epoch > 0)

    def finish(self) -> TrainResult:
        result, position = self.result, self.position
        result.trained = position.generator_trained()
        result.complete = position.complete
        result.seconds = self.deadline.elapsed()
        if self.signals.received is not None:
            raise Interrupted(
                f"stopped by {self.signals.name} ({_where(self.phases, position)}); checkpoint saved in "
                f"{self.run_folder.checkpoints_dir}; continue with: dogkit train --run {self.run_folder.path} --resume",
                self.signals.received,
            )
        return result


def plan(config: TrainConfig, deadline: Deadline, pace: PackPace) -> tuple[Deadline, Deadline, float]:
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


def _state_bytes(parts: Mapping[str, Any]) -> int:
    """Bytes of a model's state: its arrays, tensors and chunked arrays alike."""
    total = 0
    for part in parts.values():
        for array in part.arrays.values():
            dtype = getattr(array.dtype, "as_numpy_dtype", array.dtype)  # a TensorFlow dtype, or NumPy's
            total += int(np.prod(array.shape)) * np.dtype(dtype).itemsize
    return total


class _Timing:
    """Seconds per phase name (wall, in steps, blocked on saving) and epochs, kept in timing.json."""

    def __init__(self, run: RunFolder):
        self.run = run
        self.table = run.read_timing()

    def record_pack(self, pace: PackPace) -> None:
        """What generating and packing was measured to take before this call trained (``pack``)."""
        self.table["pack"] = pace.to_dict()
        self.run.write_timing(self.table)

    def record_evaluation(self, evaluator: Evaluator) -> None:
        """Evaluation's time in this call (the reference's features included) and its count."""
        entry = self.table.setdefault("evaluate", {"wall_s": 0.0, "evaluations": 0})
        entry["wall_s"] += evaluator.spent_s
        entry["evaluations"] += evaluator.count
        training = sum(v.get("wall_s", 0.0) for k, v in self.table.items() if k not in ("pack", "evaluate"))
        entry["share_of_training"] = entry["wall_s"] / training if training else 0.0
        self.run.write_timing(self.table)

    def add(self, phase: str, wall: float, steps: float, saving: float, epochs: int) -> None:
        entry = self.table.setdefault(phase, {"wall_s": 0.0, "step_s": 0.0, "save_s": 0.0, "epochs": 0})
        entry["wall_s"] += wall
        entry["step_s"] += steps
        entry["save_s"] += saving
        entry["epochs"] += epochs
        self.run.write_timing(self.table)


class _Shown:
    """Advances a progress bar at every step (and counts the epoch's steps); redraws its metrics at
    most twice a second."""

    def __init__(self, bar, recorder: Recorder, keys: tuple[str, ...]):
        self.bar, self.recorder, self.keys = bar, recorder, keys
        self.drawn = 0.0
        self.steps = 0

    def __call__(self, metrics: Mapping[str, float]) -> None:
        self.steps += 1
        self.bar.update(1)
        if time.perf_counter() - self.drawn > 0.5:
            keys = self.keys or tuple(metrics)
            self.recorder.postfix(self.bar, {k: metrics[k] for k in keys if k in metrics})
            self.drawn = time.perf_counter()


def _where(phases, position: Position) -> str:
    if position.complete or position.phase >= len(phases):
        return "training complete"
    phase = phases[position.phase]
    within = f"round {phase.round}, " if phase.round else ""
    return f"{phase.name} phase, {within}{_epochs(position.epoch)} done"


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _sooner(a: Deadline, b: Deadline) -> Deadline:
    return a if a.at <= b.at else b


def _label(phase) -> str:
    return f"{phase.name} round {phase.round}" if phase.round else phase.name
