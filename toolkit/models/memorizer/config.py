"""Options of the memorizer / generalizer GAN (standard library only: ``--help`` lists them)."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.train.options import SEED_MAX, option

PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class MemorizerConfig:
    MODEL_NAME = "the memorizer"

    memorize: int | None = option(
        10_000, "crops memorized (a seeded random subset), or all of them", none_word="all", minimum=1
    )
    bottleneck: int = option(2048, "width of the generator's first layer (a multiple of 64)", minimum=64)
    batch_size: int = option(256, "rows per step in both phases", minimum=1)
    memorize_epochs: int = option(50, "epochs of the memorize phase", minimum=0)
    memorize_lr: float = option(0.5, "Adam learning rate of the memory", minimum=0)
    memorize_lr_late: float = option(0.1, "the memory's learning rate once an epoch's loss is below the switch")
    memorize_lr_switch_loss: float = option(0.533, "memorize loss below which the late learning rate applies")
    coach_rounds: int = option(9, "coach rounds: round r trains min(2**r, coach_max_round_epochs) epochs", minimum=0)
    coach_max_round_epochs: int = option(256, "the longest coach round, in epochs", minimum=1)
    coach_lr: float = option(0.005, "Adam learning rate of the generator", minimum=0)
    coach_lr_late: float = option(0.001, "the generator's learning rate in rounds of coach_late_round_epochs or more")
    coach_late_round_epochs: int = option(32, "rounds this long or longer use coach_lr_late", minimum=1)
    mix: float = option(
        0.7, "weight of the cycling code in each generated mixture", minimum=0, maximum=1, sampling=True
    )
    precision: str = option(
        "auto",
        "generator convolutions: bfloat16 (auto: on CPUs with AMX, about 2x faster) or float32",
        choices=PRECISIONS,
    )
    seed: int = option(
        0, "seeds the memorized subset, the batches and the initial networks", minimum=0, maximum=SEED_MAX
    )

    def __post_init__(self):
        if self.bottleneck <= 0 or self.bottleneck % 64:
            raise ValueError(f"bottleneck must be a positive multiple of 64, got {self.bottleneck}")
        if self.memorize is not None and self.memorize < 1:
            raise ValueError(f"memorize must be at least 1 (or all), got {self.memorize}")
        if not 0.0 <= self.mix <= 1.0:
            raise ValueError(f"mix must be between 0 and 1, got {self.mix}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def coach_plan(self) -> list[tuple[int, float]]:
        """(epochs, learning rate) for each coach round."""
        plan = []
        for r in range(self.coach_rounds):
            epochs = min(2**r, self.coach_max_round_epochs)
            plan.append((epochs, self.coach_lr_late if epochs >= self.coach_late_round_epochs else self.coach_lr))
        return plan
