"""``dogkit train``: the run folder, the time budget and the pieces every model's loop shares.

A model module (``toolkit.train_memorizer``, ...) provides a ``Trainer`` class; this module
loads the data, checks or writes ``config.json``, picks the distribution strategy, works out
how much of the budget training may use, and hands over. Shared helpers: ``StepClock``
(seconds per step, to stop before a deadline), ``Recorder`` (history.csv, TensorBoard,
progress bar) and ``epoch_batches``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from toolkit import __version__
from toolkit.data.prepare import load_crops
from toolkit.errors import DogkitError
from toolkit.train.budget import Deadline, format_seconds
from toolkit.train.runs import RunFolder, config_differences

log = logging.getLogger("dogkit")

# model name -> (module, trainer class, config class)
MODELS = {
    "memorizer": ("toolkit.models.memorizer.model", "MemorizerTrainer", "MemorizerConfig"),
    "dcgan": ("toolkit.models.dcgan.model", "DcganTrainer", "DcganConfig"),
    "dcgan-radford": ("toolkit.models.dcgan.model", "DcganTrainer", "RadfordConfig"),
}

# Writing one image into images.zip, generously (the writer does 10,000 in ~1.5 s on 2 cores).
WRITE_SECONDS_PER_IMAGE = 3e-4


@dataclass(frozen=True)
class TrainConfig:
    data: Path = Path("data/dogs64.npz")  # crop cache from `dogkit prepare`
    run: Path = Path("runs/memorizer")  # run folder
    budget_s: float = 8.5 * 3600  # seconds for training plus generating and packing pack_count images
    resume: bool = False  # continue the run in `run` (or start it when there is none)
    strategy: str = "auto"  # auto | none | mirrored | tpu
    model: str = "memorizer"
    pack_count: int = 10_000  # images the budget keeps time to generate and pack afterwards
    jit: bool = True  # XLA-compile the training steps
    started: float | None = None  # monotonic time the budget counts from (None: when train() is called)


@dataclass
class TrainResult:
    run: Path
    trained: bool = True  # False: the budget left no time to train; the initial model was saved
    complete: bool = False  # every epoch of the recipe has run
    epochs: int = 0  # epochs run by this call
    loss: float | None = None  # the last epoch's loss
    seconds: float = 0.0  # wall time of this call, from process start
    reserved_s: float = 0.0  # seconds kept back for generating and packing
    notes: list[str] = field(default_factory=list)

    def too_small_to_train(self, deadline: Deadline, trained_before: bool) -> TrainResult:
        """Record that the budget left no time for a step (a model to pack was saved all the same)."""
        self.trained = trained_before
        self.notes.append(
            f"budget too small to train ({format_seconds(max(deadline.left(), 0))} left after keeping time "
            "to pack); saved the " + ("model as it is" if trained_before else "initial, untrained model")
        )
        return self


def model_classes(model: str):
    """(trainer class, config class) of a model name."""
    if model not in MODELS:
        raise DogkitError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    module_name, trainer, config = MODELS[model]
    module = importlib.import_module(module_name)
    return getattr(module, trainer), getattr(module, config)


def data_fingerprint(images: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).data)
    return digest.hexdigest()


def resolve_model_config(config_class, run: RunFolder, resume: bool, given: dict[str, Any]):
    """The model config: ``given`` options over the defaults, or over the run's own when resuming.

    Raises:
        DogkitError: a new run into a folder that holds one; or resuming with options that differ
            from the run's (listing each difference).
    """
    names = {f.name for f in fields(config_class)}
    unknown = set(given) - names
    if unknown:
        raise DogkitError(f"options {sorted(unknown)} do not apply to this model")
    if run.exists() and not resume:
        raise DogkitError(f"{run.path} already holds a run; pass --resume to continue it, or choose another --run")
    if not (run.exists() and resume):
        return config_class(**given)
    saved = run.read_config().get("model_config", {})
    clashes = config_differences({k: saved.get(k) for k in given}, given)
    if clashes:
        raise DogkitError(f"{run.path}: the run was made with other options: " + "; ".join(clashes))
    return config_class(**{**{k: v for k, v in saved.items() if k in names}, **given})


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

    def fits(self, deadline: Deadline, margin: float = 1.5) -> bool:
        """Whether one more step ends before ``deadline`` (with ``margin`` times the usual step)."""
        return deadline.left() > margin * self.estimate()


def epoch_batches(rng: np.random.Generator, n: int, batch_size: int) -> list[np.ndarray]:
    """A shuffled pass over ``n`` rows in batches (the last one smaller), each sorted."""
    order = rng.permutation(n)
    return [np.sort(order[s : s + batch_size]) for s in range(0, n, batch_size)]


@dataclass(frozen=True)
class EpochOutcome:
    losses: tuple[float, ...] | None  # mean of each loss over the rows seen; None: no step ran
    rows: int  # rows trained on
    stopped: bool  # the deadline came before the epoch's end
    seconds: float


def run_epoch(
    batches: list[np.ndarray],
    step: Callable[[np.ndarray], float | tuple[float, ...]],
    clock: StepClock,
    deadline: Deadline,
    on_step: Callable[[tuple[float, ...]], object] = lambda losses: None,
) -> EpochOutcome:
    """Run ``step`` on each batch until the epoch ends or one more step would pass ``deadline``."""
    started = time.perf_counter()
    totals: list[float] = []
    seen = 0
    for rows in batches:
        if not clock.fits(deadline):
            return EpochOutcome(_means(totals, seen), seen, True, time.perf_counter() - started)
        tick = time.perf_counter()
        losses = step(rows)
        clock.record(time.perf_counter() - tick)
        losses = losses if isinstance(losses, tuple) else (losses,)
        totals = [t + loss * len(rows) for t, loss in zip(totals or [0.0] * len(losses), losses)]
        seen += len(rows)
        on_step(losses)
    return EpochOutcome(_means(totals, seen), seen, False, time.perf_counter() - started)


def _means(totals: list[float], seen: int) -> tuple[float, ...] | None:
    return tuple(t / seen for t in totals) if seen else None


class Recorder:
    """Writes each epoch to history.csv and TensorBoard, and shows progress."""

    def __init__(self, run: RunFolder, deadline: Deadline):
        from toolkit.backend import tf

        self.run = run
        self.deadline = deadline
        self.rows = len(run.read_history())
        self.writer = tf.summary.create_file_writer(str(run.tensorboard_dir))
        self._tf = tf
        self._tensorboard = importlib.util.find_spec("tensorboard") is not None
        if not self._tensorboard:
            log.warning("no TensorBoard logs: the tensorboard package is not installed (pip install tensorboard)")

    def _summary(self, write) -> None:
        """Write TensorBoard summaries (when the tensorboard package is there)."""
        if not self._tensorboard:
            return
        with self.writer.as_default():
            write(self._tf.summary)
        self.writer.flush()

    def epoch(self, phase: str, round_: int, epoch: int, loss: float, lr: float, seconds: float, step: int) -> None:
        self.run.append_history(
            {
                "phase": phase,
                "round": round_,
                "epoch": epoch,
                "loss": f"{loss:.6f}",
                "learning_rate": f"{lr:g}",
                "seconds": f"{seconds:.3f}",
                "elapsed": f"{self.deadline.elapsed():.1f}",
            }
        )
        self.rows += 1

        def scalars(summary):
            summary.scalar(f"{phase}/loss", loss, step=step)
            summary.scalar(f"{phase}/learning_rate", lr, step=step)

        self._summary(scalars)

    def loss_curve(self) -> Path | None:
        """Draw history.csv as ``loss_curve.png`` in the run folder (one panel per phase)."""
        from PIL import Image

        from submission import atomic_path
        from toolkit.visuals import loss_curves

        history = self.run.read_history()
        if not history:
            return None
        path = self.run.path / "loss_curve.png"
        with atomic_path(path) as tmp:
            Image.fromarray(loss_curves(history)).save(tmp, "PNG")
        return path

    def sample_grid(self, grid: np.ndarray, step: int, label: str) -> Path:
        """Save a grid of samples as ``samples/{step:05d}_{label}.png`` (names sort in training order)
        and log it to TensorBoard under ``samples``."""
        from PIL import Image

        from submission import atomic_path

        path = self.run.samples_dir / f"{step:05d}_{label}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(grid).save(tmp, "PNG")
        self._summary(lambda summary: summary.image("samples", grid[None], step=step))
        return path

    def progress(self, total: int, desc: str):
        from toolkit.progress import progress_bar

        return progress_bar(total, desc, unit="step")

    def postfix(self, bar, losses: tuple[float, ...], names: tuple[str, ...] = ("loss",)) -> None:
        shown = ", ".join(f"{name} {loss:.4f}" for name, loss in zip(names, losses))
        bar.set_postfix_str(f"{shown}, {format_seconds(self.deadline.left())} left")


def train(config: TrainConfig, model_options: dict[str, Any] | None = None) -> TrainResult:
    """Train ``config.model`` on the crop cache into the run folder, within the budget.

    ``model_options``: the model's options the user gave (the rest come from the defaults, or
    from the run itself when resuming).
    """
    deadline = Deadline(config.budget_s, config.started if config.started is not None else time.monotonic())
    trainer_class, config_class = model_classes(config.model)
    run = RunFolder(config.run)
    try:
        model_config = resolve_model_config(config_class, run, config.resume, model_options or {})
    except (TypeError, ValueError) as exc:
        raise DogkitError(str(exc)) from None
    if run.exists() and run.read_config().get("model") != config.model:
        raise DogkitError(f"{run.path}: holds a {run.read_config().get('model')} run, not {config.model}")

    crops = load_crops(config.data)
    images = crops["images"]
    data_info = {"path": str(config.data), "crops": int(len(images)), "fingerprint": data_fingerprint(images)}
    check_data(run, config.resume, data_info)

    from toolkit.train.distribute import describe, select_strategy

    probe = trainer_class.strategy_probe(model_config, images, jit=config.jit)
    strategy = select_strategy(config.strategy, probe)
    trainer = trainer_class(model_config, images, run, strategy, jit=config.jit)
    if not run.exists():
        run.write_config(
            {
                "dogkit_version": __version__,
                "model": config.model,
                "model_config": asdict(model_config),
                "data": data_info,
                "parameters": trainer.parameter_counts(),
            }
        )
    counts = trainer.parameter_counts()
    log.info(
        "%s on %d crops, %s; parameters: %s",
        config.model,
        len(images),
        describe(strategy),
        ", ".join(f"{name} {n:,}" for name, n in counts.items()),
    )

    startup_s = deadline.elapsed()  # what a later `dogkit pack` pays again to start and load
    generate_s = trainer.seconds_per_generated_image() * config.pack_count * 1.2
    margin = max(3.0, 0.01 * config.budget_s)  # the last epoch's checkpoint and grid, process exit, noise
    reserved = startup_s + generate_s + WRITE_SECONDS_PER_IMAGE * config.pack_count + margin
    train_deadline = deadline.sooner(reserved)
    log.info(
        "budget %s: %s kept for generating and packing %d images; %s for training",
        format_seconds(config.budget_s),
        format_seconds(reserved),
        config.pack_count,
        format_seconds(max(train_deadline.left(), 0.0)),
    )
    recorder = Recorder(run, deadline)
    result = trainer.train(train_deadline, recorder)
    recorder.loss_curve()
    result.seconds = deadline.elapsed()
    result.reserved_s = reserved
    return result
