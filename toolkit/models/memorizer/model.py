"""The memorizer / generalizer GAN as a dogkit model: the memorize phase, then the coach's rounds.

Checkpoint parts:
- ``memorize``: the memory and its optimizer state, while the memorize phase runs (streamed from
  the memory's blocks: never a second copy of the table);
- ``memory``: the finished memory's images (uint8), the coach's targets; frozen, so written once;
- ``coach``: the generator and its optimizer state (all that ``dogkit pack`` reads).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from toolkit.data.crops import TrainingData
from toolkit.models.base import Part, Phase
from toolkit.models.memorizer.config import MemorizerConfig
from toolkit.models.memorizer.networks import (
    PIXELS,
    Coach,
    MemoryTable,
    build_generator,
    generalize_codes,
    generate,
    parameter_counts,
)
from toolkit.train.batching import epoch_batches
from toolkit.train.pace import SAMPLE_BATCH
from toolkit.train.variables import load_variables
from toolkit.visuals import image_grid, to_uint8

MEMORIZE_SHARE = 0.3  # the memorize phase may use at most this part of the training time left
# Once the memory's learning rate has switched, the loss steers nothing: it is computed on one step in
# this many (the epoch's loss in history.csv is then the mean over those blocks), the others a quarter
# quicker without it.
LOSS_EVERY_AFTER_SWITCH = 8
GRID_CODES = 32  # a sample grid shows 32 memorized codes and 32 mixtures of them


def choose_memorized(n_crops: int, memorize: int | None, seed: int) -> np.ndarray:
    """Sorted indices of the crops to memorize: all, or a seeded random subset of ``memorize``."""
    if memorize is None or memorize >= n_crops:
        return np.arange(n_crops)
    return np.sort(np.random.default_rng(seed).choice(n_crops, size=memorize, replace=False))


class MemorizerSampler:
    """Images by the generalize rule: image k mixes memorized code k with a random other one."""

    def __init__(self, generator, n_codes: int, config: MemorizerConfig):
        self.generator = generator
        self.n_codes = n_codes
        self.default_mix = config.mix

    def sample(
        self, count: int, seed: int, mix: float | None = None, batch: int = SAMPLE_BATCH
    ) -> Iterator[np.ndarray]:
        codes, weights = generalize_codes(count, self.n_codes, self.default_mix if mix is None else mix, seed)
        for start in range(0, count, batch):
            yield generate(self.generator, codes[start : start + batch], weights[start : start + batch], batch)


class Memorizer:
    def __init__(self, config: MemorizerConfig, data: TrainingData, strategy, rng: np.random.Generator, jit: bool):
        self.config = config
        self.selected = choose_memorized(len(data.images), config.memorize, config.seed)
        self.n = len(self.selected)
        # the crops to memorize, held once (no copy when all are memorized) until the memory is built
        self._crops = data.images if self.n == len(data.images) else data.images[self.selected]
        self.table: MemoryTable | None = None  # built when the memorize phase starts
        self.memory_ready = False  # the coach's targets hold the finished memory
        self.memorize_lr = config.memorize_lr  # switches to memorize_lr_late once the loss is low enough
        self.coach = Coach(strategy, self.n, config.bottleneck, config.coach_lr, jit, config.precision)
        grid_rows = np.random.default_rng(config.seed + 1).permutation(self.n)[:GRID_CODES]
        pure = np.stack([grid_rows, grid_rows], axis=1)
        mixed = np.stack([grid_rows, np.roll(grid_rows, -1)], axis=1)
        self.grid_rows = grid_rows
        self.grid_codes = np.concatenate([pure, mixed]).astype(np.int32)
        self.grid_weights = np.tile(np.array([config.mix, 1 - config.mix], np.float32), (len(self.grid_codes), 1))

    # ------------------------------------------------------------------ the phases

    def _table(self) -> MemoryTable:
        if self.table is None:
            if self._crops is None:
                raise RuntimeError("the memory is finished; the memorize phase cannot run again")
            self.table = MemoryTable(
                self._crops.reshape(self.n, PIXELS), seed=self.config.seed, block_rows=self.config.batch_size
            )
            self._crops = None
        return self.table

    def phases(self) -> list[Phase]:
        config = self.config
        steps = -(-self.n // config.batch_size)
        memorize = Phase(
            "memorize",
            config.memorize_epochs,
            batches=lambda rng: self._table().epoch_blocks(rng),
            step=self._memorize_step,
            steps_per_epoch=steps,
            learning_rate=lambda: self.memorize_lr,
            begin=lambda done: self._table(),
            after_epoch=self._switch_learning_rate,
            end=self._finish_memory,
            grid=lambda: image_grid(to_uint8(self.coach.memorized_images(self.grid_rows))),
            grid_label="memorize",
            share=MEMORIZE_SHARE,
            trains_generator=False,
            evaluate="never",
        )
        rounds = [
            Phase(
                "coach",
                epochs,
                batches=lambda rng: epoch_batches(rng, self.n, config.batch_size),
                step=lambda rows: {"loss": self.coach.train_step(rows)},
                round=r + 1,
                steps_per_epoch=steps,
                learning_rate=lambda lr=lr: lr,
                begin=lambda done, lr=lr: self.coach.set_learning_rate(lr),
                grid=lambda: image_grid(to_uint8(generate(self.coach.generator, self.grid_codes, self.grid_weights))),
                grid_label=f"coach_round_{r + 1:02d}",
                evaluate="end",
            )
            for r, (epochs, lr) in enumerate(config.coach_plan())
        ]
        return [memorize, *rounds]

    def _memorize_step(self, rows: np.ndarray) -> dict[str, float]:
        table = self._table()
        switched = self.memorize_lr == self.config.memorize_lr_late != self.config.memorize_lr
        with_loss = not switched or table.step % LOSS_EVERY_AFTER_SWITCH == 0
        loss = table.train_step(rows, lr=self.memorize_lr, with_loss=with_loss)
        return {} if loss is None else {"loss": loss}

    def _switch_learning_rate(self, epoch: int, metrics: dict[str, float]) -> None:
        if metrics.get("loss", float("inf")) < self.config.memorize_lr_switch_loss:
            self.memorize_lr = self.config.memorize_lr_late

    def _finish_memory(self) -> None:
        finished = self._table().finish()
        self.table = None  # the blocks are gone; their images are all that is left
        self.coach.set_targets(finished)
        self.memory_ready = True

    # ------------------------------------------------------------------ checkpoints

    def state(self) -> dict[str, Part]:
        parts = {"coach": Part(self.coach.state())}
        if self.table is not None:  # the memorize phase is under way
            extra = {"memorize_lr": np.array(self.memorize_lr), "selected": self.selected}
            parts["memorize"] = Part({**self.table.state(), **extra})
        elif self.memory_ready:
            parts["memory"] = Part({"images": self.coach.targets_state(), "selected": self.selected}, frozen="memory")
        return parts

    def load(self, parts) -> None:
        if "coach" in parts:
            self.coach.load(parts["coach"])
        for name in ("memorize", "memory"):
            if name in parts and not np.array_equal(parts[name]["selected"], self.selected):
                raise ValueError(f"the checkpoint's memory holds other crops ({name})")
        if "memorize" in parts:
            self._table().load(parts["memorize"])
            self.memorize_lr = float(parts["memorize"]["memorize_lr"])
        elif "memory" in parts:
            self.coach.set_targets(parts["memory"].iter_rows("images", 1024))
            self.memory_ready, self._crops = True, None

    def checkpoint_bytes(self) -> int:
        """What a checkpoint written now costs: the coach's part, and the memory's blocks made so far
        while it memorizes (the finished memory is written once, when its phase ends)."""
        weights = sum(int(np.prod(v.shape)) for v in self.coach.generator.weights)
        moments = 2 if self.coach.optimizer.built else 0
        return 4 * weights * (1 + moments) + (self.table.state_bytes() if self.table is not None else 0)

    # ------------------------------------------------------------------ sampling

    def parameter_counts(self) -> dict[str, int]:
        return parameter_counts(self.coach.generator, self.n)

    @classmethod
    def sampler(cls, config: MemorizerConfig, parts) -> MemorizerSampler:
        """The generator alone, from the checkpoint's coach part (no memory, no optimizer)."""
        coach = parts["coach"]
        n_codes = coach.shape("generator/000")[0]  # the code table: one row per memorized crop
        generator = build_generator(n_codes, config.bottleneck, config.precision)
        load_variables("generator", generator.weights, coach)
        return MemorizerSampler(generator, n_codes, config)

    @staticmethod
    def strategy_probe(config: MemorizerConfig, data: TrainingData, jit: bool = True):
        """A coach step under a given strategy, for timing one GPU against mirrored: the coach is what a
        strategy distributes (the memory trains on one device whatever the strategy)."""
        n = len(choose_memorized(len(data.images), config.memorize, config.seed))
        rows = np.arange(min(config.batch_size, n))

        def probe(strategy):
            coach = Coach(strategy, n, config.bottleneck, config.coach_lr, jit=jit, precision=config.precision)
            coach.set_targets([np.zeros((n, PIXELS), np.uint8)])
            return lambda: coach.train_step(rows)

        return probe
