"""Options of the BigGAN (standard library only: ``--help`` lists them)."""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.train.options import SEED_MAX, option

PRECISIONS = ("auto", "float32", "mixed_float16")
AUGMENTATIONS = ("color", "translation", "cutout")  # DiffAugment's operations (applied in the policy's order)
G_BLOCKS = 4  # up-blocks 4->8->16->32->64; the latent splits into one chunk per block and one for the linear layer


def parse_policy(policy: str) -> tuple[str, ...]:
    """The operation names of a DiffAugment policy such as "color,translation,cutout" (blanks dropped)."""
    return tuple(name.strip() for name in policy.split(",") if name.strip())


@dataclass(frozen=True)
class BigganConfig:
    MODEL_NAME = "the BigGAN"

    # None: one phase that trains until the budget's training deadline (resume continues it)
    epochs: int | None = option(
        None, "passes over the crops, or until the budget's training deadline", none_word="budget", minimum=0
    )
    # 64 at width 32: ~0.56 TFLOP per step, enough to keep a T4's tensor cores busy, and ~320 steps per epoch
    # of ~20k crops (a grid every half minute); BigGAN's 256 would give a quarter of the generator updates
    batch_size: int = option(64, "crops per discriminator step (and fakes per generator step)", minimum=1)
    # ch. 32: a 3,189,572-parameter generator and a 4,950,626 discriminator (120 classes), ~8.7 GFLOP per image
    # per step (G forward, D on real and fake, both backward); estimated ~10 steps/s on a T4 in mixed precision
    # at batch 64 (not measured: no GPU here), ~250k steps in 8 hours. 64 quadruples the cost (~60k steps, few
    # for a GAN) for ~20k training crops, where D overfitting, not capacity, is what limits the images
    width: int = option(32, "channel width ch: G has (16,8,4,2,1)*ch channels, D (1,2,4,8,16)*ch", minimum=1)
    z_dim: int = option(120, "latent size, split into 5 equal chunks (a multiple of 5)", minimum=5)
    shared_dim: int = option(128, "size of the generator's shared class embedding", minimum=1)
    # Constant rates: a phase without an epoch count has no known end to decay towards, and resuming must not
    # change the schedule; TTUR (D 4x faster, Heusel et al. 2017) is what SAGAN trains BigGAN-style nets with
    g_lr: float = option(1e-4, "Adam learning rate of the generator (constant)", minimum=0)
    d_lr: float = option(4e-4, "Adam learning rate of the discriminator (constant)", minimum=0)
    beta_1: float = option(0.0, "Adam's beta_1 of both networks", minimum=0, maximum=1)
    beta_2: float = option(0.999, "Adam's beta_2 of both networks", minimum=0, maximum=1)
    # 1, not BigGAN's 2: TTUR already lets D learn 4x faster (SAGAN trains 1:1 with it), and in a fixed budget
    # an extra D step costs about half an iteration (a G forward, D on real and fake), so 1:1 gives G ~1.5x more
    # updates; with DiffAugment D overfits less and needs no extra steps to keep up
    d_steps: int = option(1, "discriminator steps per generator step (each on its own batch of crops)", minimum=1)
    augment: bool = option(True, "DiffAugment on real and fake images in both networks' steps")
    policy: str = option("color,translation,cutout", "DiffAugment's operations, comma-separated (or empty)")
    ema_decay: float = option(0.999, "decay of the EMA generator's weights", minimum=0, maximum=1)
    # the first steps' weights are noise; averaging them in would take ~1/(1-decay) steps to wash out
    ema_start: int = option(1000, "generator steps during which the EMA generator copies the weights", minimum=0)
    truncation: float | None = option(
        None,
        "latents resampled until |z| <= this bound (off: plain normal)",
        none_word="off",
        minimum=0.1,
        sampling=True,
    )
    precision: str = option("auto", "mixed_float16 (auto: on GPUs) or float32 (auto: elsewhere)", choices=PRECISIONS)
    seed: int = option(
        0, "seeds the initial networks, the batches, the noise and the augmentations", minimum=0, maximum=SEED_MAX
    )

    def __post_init__(self):
        if self.epochs is not None and self.epochs < 0:
            raise ValueError(f"epochs must be >= 0 or budget, got {self.epochs}")
        if self.batch_size < 1 or self.width < 1 or self.shared_dim < 1 or self.d_steps < 1:
            raise ValueError("batch_size, width, shared_dim and d_steps must each be at least 1")
        if self.z_dim < G_BLOCKS + 1 or self.z_dim % (G_BLOCKS + 1):
            raise ValueError(f"z_dim must be a positive multiple of {G_BLOCKS + 1}, got {self.z_dim}")
        if self.truncation is not None and not self.truncation >= 0.1:
            raise ValueError(f"truncation must be at least 0.1 or off, got {self.truncation}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if any(name not in AUGMENTATIONS for name in parse_policy(self.policy)):
            raise ValueError(
                f"policy must name DiffAugment operations among {', '.join(AUGMENTATIONS)}, got {self.policy!r}"
            )

    @property
    def operations(self) -> tuple[str, ...]:
        """The DiffAugment operations in use: none when ``augment`` is off."""
        return parse_policy(self.policy) if self.augment else ()
