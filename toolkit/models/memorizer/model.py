"""Training the memorizer / generalizer GAN: the memorize phase, then the coach phase.

Checkpoints (``checkpoints/*.npz`` in the run folder), each written after every epoch:
- ``memorize``: the memory and its optimizer state while the memorize phase runs;
- ``memory``: the final memory (written once, when the phase ends; the coach's targets);
- ``coach``: the generator and its optimizer state.
"""

from __future__ import annotations

import functools
import logging
import time

import numpy as np

from toolkit.models.memorizer.networks import (
    PIXELS,
    Coach,
    MemorizerConfig,
    MemoryTable,
    choose_memorized,
    generalize_codes,
    generate,
    parameter_counts,
)
from toolkit.train.budget import Deadline
from toolkit.train.loop import Recorder, StepClock, TrainResult, epoch_batches, run_epoch
from toolkit.train.runs import RunFolder
from toolkit.visuals import image_grid, to_uint8

log = logging.getLogger("dogkit")

MEMORIZE_SHARE = 0.3  # the memorize phase may use at most this part of the training time left
GRID_CODES = 32  # a sample grid shows 32 memorized codes and 32 mixtures of them

__all__ = ["MemorizerConfig", "MemorizerTrainer"]


def _rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def _restore_rng(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


class MemorizerTrainer:
    def __init__(self, config: MemorizerConfig, images: np.ndarray, run: RunFolder, strategy, jit: bool = True):
        self.config = config
        self.run = run
        self.selected = choose_memorized(len(images), config.memorize, config.seed)
        self.n = len(self.selected)
        self.rng = np.random.default_rng(config.seed)
        self.table = MemoryTable(
            images[self.selected].reshape(self.n, PIXELS), seed=config.seed, block_rows=config.batch_size
        )
        self.coach = Coach(
            strategy,
            self.n,
            config.bottleneck,
            np.zeros((self.n, 64, 64, 3), np.float32),
            config.coach_lr,
            jit=jit,
            precision=config.precision,
        )
        grid_rows = np.random.default_rng(config.seed + 1).permutation(self.n)[:GRID_CODES]
        pure = np.stack([grid_rows, grid_rows], axis=1)
        mixed = np.stack([grid_rows, np.roll(grid_rows, -1)], axis=1)
        self.grid_codes = np.concatenate([pure, mixed]).astype(np.int32)
        self.grid_weights = np.tile(np.array([config.mix, 1 - config.mix], np.float32), (len(self.grid_codes), 1))

    @staticmethod
    def strategy_probe(config: MemorizerConfig, images: np.ndarray, jit: bool = True):
        """A coach step under a given strategy, for timing one GPU against mirrored: the coach is what a
        strategy distributes (the memory trains on one device whatever the strategy)."""
        n = len(choose_memorized(len(images), config.memorize, config.seed))

        rows = np.arange(min(config.batch_size, n))

        def probe(strategy):
            targets = np.zeros((len(rows), 64, 64, 3), np.float32)
            coach = Coach(strategy, n, config.bottleneck, targets, config.coach_lr, jit=jit, precision=config.precision)
            return lambda: coach.train_step(rows)

        return probe

    def parameter_counts(self) -> dict[str, int]:
        return parameter_counts(self.n, self.config.bottleneck)

    def seconds_per_generated_image(self) -> float:
        codes, weights = generalize_codes(128, self.n, self.config.mix, 0)
        generate(self.coach.generator, codes, weights, batch=128)  # compiles
        start = time.perf_counter()
        generate(self.coach.generator, codes, weights, batch=128)
        return (time.perf_counter() - start) / 128

    # ------------------------------------------------------------------ checkpoints

    def _save(self, name: str, arrays: dict, state: dict, recorder: Recorder) -> None:
        state = {**state, "rng": _rng_state(self.rng), "history_rows": recorder.rows}
        self.run.save_checkpoint(name, arrays, state)

    def _position(self) -> dict:
        """Where training stands, from the newest checkpoint (a fresh run: memorize, epoch 0)."""
        for name in ("coach", "memory", "memorize"):
            if self.run.has_checkpoint(name):
                state = self.run.load_checkpoint(name).state
                if not state.get("untrained"):  # the stand-in saved when the budget allowed no training
                    return {"name": name, **state}
        return {"name": None, "phase": "memorize", "epoch": 0, "lr": self.config.memorize_lr, "step": 0}

    # ------------------------------------------------------------------ the phases

    def train(self, deadline: Deadline, recorder: Recorder) -> TrainResult:
        position = self._position()
        result = TrainResult(self.run.path)
        # history rows past the checkpoint were written by a process killed before its next one
        recorder.rows = position["history_rows"] if position["name"] is not None else 0
        self.run.truncate_history(recorder.rows)
        if position["name"] is not None:
            _restore_rng(self.rng, position["rng"])
            log.info("resuming %s: %s", self.run.path, _describe(position))
        if position.get("complete"):
            result.complete = True
            result.notes.append("the run is already complete; nothing to train")
            return result
        if deadline.left() <= 0:
            if not self.run.has_checkpoint("coach"):  # so that `dogkit pack` has a model to sample
                self._save("coach", self.coach.state(), {"phase": "coach", "untrained": True}, recorder)
            return result.too_small_to_train(deadline, trained_before=position["name"] is not None)

        if position["phase"] == "memorize":
            self._memorize(position, deadline.share(MEMORIZE_SHARE), recorder, result)
            position = {"phase": "coach", "round": 0, "epoch": 0}
        else:
            self.table.load_logits(self.run.load_checkpoint("memory").arrays["memory"])
        self.coach.targets.assign(self.table.images())
        if self.run.has_checkpoint("coach"):
            self.coach.load(self.run.load_checkpoint("coach").arrays)
        self._coach(position, deadline, recorder, result)
        return result

    def _memorize(self, position: dict, deadline: Deadline, recorder: Recorder, result: TrainResult) -> None:
        config = self.config
        epoch, lr = position["epoch"], position["lr"]
        if position["name"] == "memorize":
            self.table.load(self.run.load_checkpoint("memorize").arrays)
        steps_per_epoch = -(-self.n // config.batch_size)
        clock = StepClock()
        stopped = False
        with recorder.progress(steps_per_epoch * (config.memorize_epochs - epoch), "memorize") as bar:
            while epoch < config.memorize_epochs and not stopped:
                outcome = run_epoch(
                    self.table.epoch_blocks(self.rng),
                    functools.partial(self.table.train_step, lr=lr),
                    clock,
                    deadline,
                    lambda losses: (bar.update(1), recorder.postfix(bar, losses)),
                )
                stopped = outcome.stopped
                if outcome.losses is None:
                    break
                epoch += 1
                (epoch_loss,) = outcome.losses
                recorder.epoch("memorize", 0, epoch, epoch_loss, lr, outcome.seconds, epoch)
                if epoch_loss < config.memorize_lr_switch_loss:
                    lr = config.memorize_lr_late
                result.epochs += 1
                result.loss = epoch_loss
                self._save("memorize", self.table.state(), {"phase": "memorize", "epoch": epoch, "lr": lr}, recorder)
        if stopped:
            result.notes.append(
                f"memorize phase stopped by the budget after {epoch} of {config.memorize_epochs} epochs"
            )
        self.table.flush()
        self._save(
            "memory",
            {"memory": self.table.logits(), "selected": self.selected},
            {"phase": "coach", "round": 0, "epoch": 0, "memorize_epochs": epoch},
            recorder,
        )
        self.run.checkpoint_path("memorize").unlink(missing_ok=True)  # 3x the memory; no longer needed
        memorized = to_uint8(self.table.images(self.grid_codes[:GRID_CODES, 0]))
        recorder.sample_grid(image_grid(memorized), epoch, "memorize")

    def _coach(self, position: dict, deadline: Deadline, recorder: Recorder, result: TrainResult) -> None:
        config = self.config
        plan = config.coach_plan()
        round_, epoch = position.get("round", 0), position.get("epoch", 0)
        done_before = sum(e for e, _ in plan[:round_]) + epoch
        steps_per_epoch = -(-self.n // config.batch_size)
        clock = StepClock()
        stopped = False
        total_epochs = sum(e for e, _ in plan)
        if not self.run.has_checkpoint("coach"):
            self._save("coach", self.coach.state(), {"phase": "coach", "round": 0, "epoch": 0}, recorder)
        with recorder.progress(steps_per_epoch * (total_epochs - done_before), "coach") as bar:
            while round_ < len(plan) and not stopped:
                round_epochs, lr = plan[round_]
                self.coach.set_learning_rate(lr)
                while epoch < round_epochs and not stopped:
                    outcome = run_epoch(
                        epoch_batches(self.rng, self.n, config.batch_size),
                        self.coach.train_step,
                        clock,
                        deadline,
                        lambda losses: (bar.update(1), recorder.postfix(bar, losses)),
                    )
                    stopped = outcome.stopped
                    if outcome.losses is None:
                        break
                    epoch += 1
                    done_before += 1
                    (epoch_loss,) = outcome.losses
                    global_epoch = config.memorize_epochs + done_before
                    recorder.epoch("coach", round_ + 1, epoch, epoch_loss, lr, outcome.seconds, global_epoch)
                    result.epochs += 1
                    result.loss = epoch_loss
                    finished_round = epoch >= round_epochs
                    state = {
                        "phase": "coach",
                        "round": round_ + 1 if finished_round else round_,
                        "epoch": 0 if finished_round else epoch,
                        "complete": finished_round and round_ + 1 == len(plan),
                    }
                    self._save("coach", self.coach.state(), state, recorder)
                if epoch >= round_epochs:
                    grid = image_grid(self._grid_images())
                    recorder.sample_grid(grid, config.memorize_epochs + done_before, f"coach_round_{round_ + 1:02d}")
                    round_, epoch = round_ + 1, 0
        result.complete = round_ >= len(plan)
        if stopped:
            result.notes.append(
                f"coach phase stopped by the budget in round {round_ + 1} of {len(plan)} "
                f"({done_before} of {total_epochs} epochs done)"
            )

    # ------------------------------------------------------------------ pictures

    def _grid_images(self) -> np.ndarray:
        return to_uint8(generate(self.coach.generator, self.grid_codes, self.grid_weights))


def _describe(position: dict) -> str:
    if position["phase"] == "memorize":
        return f"memorize phase, {position['epoch']} epochs done"
    return f"coach phase, round {position.get('round', 0) + 1}, {position.get('epoch', 0)} epochs into it"
