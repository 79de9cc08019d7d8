"""What a run shows of itself: history rows, TensorBoard scalars and images, sample grids, the loss
curve and progress bars. One ``Recorder`` per ``dogkit train``, for every model."""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from toolkit.train.budget import Deadline, format_seconds
from toolkit.train.runs import RunFolder

log = logging.getLogger("dogkit")


class Recorder:
    def __init__(self, run: RunFolder, deadline: Deadline):
        self.run = run
        self.deadline = deadline
        self._tensorboard = importlib.util.find_spec("tensorboard") is not None
        self._writer = None
        if not self._tensorboard:
            log.warning("no TensorBoard logs: the tensorboard package is not installed (pip install tensorboard)")

    def _summary(self, write) -> None:
        """Write TensorBoard summaries (when the tensorboard package is there)."""
        if not self._tensorboard:
            return
        from toolkit.backend import tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.run.tensorboard_dir))
        with self._writer.as_default():
            write(tf.summary)
        self._writer.flush()

    def epoch(
        self,
        phase: str,
        round_: int,
        epoch: int,
        steps: int,
        learning_rate: float,
        seconds: float,
        step_seconds: float,
        metrics: Mapping[str, float],
        global_epoch: int,
    ) -> None:
        """One finished epoch: a history.csv row and its scalars in TensorBoard."""
        row = {
            "phase": phase,
            "round": round_,
            "epoch": epoch,
            "steps": steps,
            "learning_rate": f"{learning_rate:g}",
            "seconds": f"{seconds:.3f}",
            "step_seconds": f"{step_seconds:.3f}",
            "elapsed": f"{self.deadline.elapsed():.1f}",
            **{name: f"{value:.6g}" for name, value in metrics.items()},
        }
        self.run.append_history(row)

        def scalars(summary):
            for name, value in metrics.items():
                summary.scalar(f"{phase}/{name}", value, step=global_epoch)
            if math.isfinite(learning_rate):
                summary.scalar(f"{phase}/learning_rate", learning_rate, step=global_epoch)

        self._summary(scalars)

    def evaluation(self, evaluation) -> None:
        """One evaluation (``toolkit.train.evaluation.Evaluation``): a history.csv row whose phase is
        "eval", and eval/fid, eval/distance, eval/mifid in TensorBoard, by generator step."""
        self.run.append_history(evaluation.history_row())

        def scalars(summary):
            for name in ("fid", "distance", "mifid"):
                summary.scalar(f"eval/{name}", getattr(evaluation, name), step=evaluation.generator_steps)

        self._summary(scalars)

    def sample_grid(self, grid: np.ndarray, step: int, label: str) -> Path:
        """Save a grid of samples as ``samples/{step:05d}_{label}.png`` (names sort in training order)
        and log it to TensorBoard under ``samples``."""
        from PIL import Image

        from submission import atomic_path

        path = self.run.samples_dir / f"{step:05d}_{label}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, durable=False) as tmp:
            Image.fromarray(grid).save(tmp, "PNG")
        self._summary(lambda summary: summary.image("samples", grid[None], step=step))
        return path

    def loss_curve(self) -> Path | None:
        """Draw history.csv as ``loss_curve.png`` in the run folder (one panel per phase and metric)."""
        from PIL import Image

        from submission import atomic_path
        from toolkit.train.evaluation import EVAL_PHASE
        from toolkit.visuals import loss_curves

        history = [row for row in self.run.read_history() if row.get("phase") != EVAL_PHASE]
        if not history:
            return None
        path = self.run.path / "loss_curve.png"
        with atomic_path(path, durable=False) as tmp:
            Image.fromarray(loss_curves(history)).save(tmp, "PNG")
        return path

    def quality_curve(self) -> Path | None:
        """Draw the run's evaluations as ``quality_curve.png`` (MiFID, FID and d against training
        time, the best marked); None when it has none."""
        from PIL import Image

        from submission import atomic_path
        from toolkit.train.evaluation import evaluation_rows
        from toolkit.visuals import quality_curves

        rows = evaluation_rows(self.run.read_history())
        if not rows:
            return None
        best = self.run.best_evaluation()
        path = self.run.path / "quality_curve.png"
        with atomic_path(path, durable=False) as tmp:
            Image.fromarray(quality_curves(rows, best_steps=best and best.get("generator_steps"))).save(tmp, "PNG")
        return path

    def progress(self, total: int | None, desc: str):
        from toolkit.progress import progress_bar

        return progress_bar(total, desc, unit="step")

    def postfix(self, bar, metrics: Mapping[str, float]) -> None:
        shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
        bar.set_postfix_str(f"{shown}, {format_seconds(self.deadline.left())} left")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
