"""Options of the seed projects' DCGANs (standard library only: ``--help`` lists them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toolkit.train.options import SEED_MAX, option


@dataclass(frozen=True)
class DcganConfig:
    MODEL_NAME = "the DCGAN"
    ARCHITECTURE: ClassVar[str] = "dcgan"  # the layer stack; each config class names its own

    epochs: int = option(50, "passes over the crops (the budget may stop training sooner)", minimum=0)
    batch_size: int = option(256, "crops per step", minimum=1)
    learning_rate: float = option(1e-4, "Adam learning rate of both networks", minimum=0)
    # 0.5, not the tutorial's 0.9: at 0.9 its FID rose after 3 minutes on 2 CPU cores (953 -> 1419 in
    # bench_quality's synthetic space, 8 minutes) while at 0.5 it kept falling (998 -> 684)
    beta_1: float = option(0.5, "Adam's beta_1", minimum=0, maximum=1)
    flip: bool = option(False, "random horizontal flips of the training crops (p 0.5)")
    dropout: float = option(0.3, "discriminator dropout (dcgan only)", minimum=0, maximum=1)
    seed: int = option(0, "seeds the initial networks, the batches and the noise", minimum=0, maximum=SEED_MAX)

    def __post_init__(self):
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError("epochs must be >= 0 and batch_size >= 1")


@dataclass(frozen=True)
class RadfordConfig(DcganConfig):
    MODEL_NAME = "the Radford DCGAN"
    ARCHITECTURE: ClassVar[str] = "radford"

    epochs: int = 50
    batch_size: int = 128
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    flip: bool = True
