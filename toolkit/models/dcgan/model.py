"""The DCGANs (``dcgan``, ``dcgan-radford``) as dogkit models: one adversarial phase, binary
cross-entropy, Adam; a sample grid from fixed noise after every epoch.

Checkpoint part ``gan``: both networks and both optimizers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from toolkit.backend import keras, tf
from toolkit.data.crops import TrainingData
from toolkit.models.base import Part, Phase
from toolkit.models.dcgan.config import DcganConfig
from toolkit.models.dcgan.networks import NOISE_DIM, build_networks
from toolkit.train.batching import epoch_batches
from toolkit.train.distribute import DistributedStep, batched_forward
from toolkit.train.pace import SAMPLE_BATCH
from toolkit.train.variables import groups_state, load_groups, load_variables, random_states
from toolkit.visuals import image_grid, to_pixels, to_uint8

GRID_SIZE = 64  # images in a sample grid (8 x 8)


def flip_images(images, flips):
    """Mirror the images (B, H, W, C) whose entry in ``flips`` (B,) is true, left to right."""
    return tf.where(flips[:, None, None, None], tf.reverse(images, axis=[2]), images)


def generate(generator: keras.Model, noise: np.ndarray, batch: int = 256) -> np.ndarray:
    """G(noise) in [-1, 1] as (n, 64, 64, 3) float32, in batches."""
    return batched_forward(generator, noise, batch)


class NoiseSampler:
    """Images from a DCGAN generator fed seeded Gaussian noise."""

    def __init__(self, generator: keras.Model):
        self.generator = generator

    def sample(self, count: int, seed: int, batch: int = SAMPLE_BATCH) -> Iterator[np.ndarray]:
        noise = np.random.default_rng(seed).standard_normal((count, NOISE_DIM)).astype(np.float32)
        for start in range(0, count, batch):
            yield to_pixels(generate(self.generator, noise[start : start + batch], batch))


class Dcgan:
    def __init__(self, config: DcganConfig, data: TrainingData, strategy, rng: np.random.Generator, jit: bool):
        self.config = config
        self.strategy = strategy
        self.rng = rng
        self.n = len(data.images)
        with strategy.scope():
            self.generator, self.discriminator = build_networks(config)
            self.g_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.d_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.images = tf.Variable(data.images, trainable=False, name="training_images")  # uint8, on each device
        self.grid_noise = (
            np.random.default_rng(config.seed + 1).standard_normal((GRID_SIZE, NOISE_DIM)).astype(np.float32)
        )
        self._step = DistributedStep(strategy, self._replica_step, jit)

    # ------------------------------------------------------------------ training

    def _replica_step(self, rows, noise, flips, batch_size):
        real = tf.cast(tf.gather(self.images, rows), tf.float32) / 127.5 - 1.0
        real = flip_images(real, flips)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(noise, training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            bce = tf.nn.sigmoid_cross_entropy_with_logits
            d_loss = (
                tf.reduce_sum(bce(labels=tf.ones_like(real_logits), logits=real_logits))
                + tf.reduce_sum(bce(labels=tf.zeros_like(fake_logits), logits=fake_logits))
            ) / batch_size
            g_loss = tf.reduce_sum(bce(labels=tf.ones_like(fake_logits), logits=fake_logits)) / batch_size
        d_variables = self.discriminator.trainable_variables
        g_variables = self.generator.trainable_variables
        self.d_optimizer.apply(d_tape.gradient(d_loss, d_variables), d_variables)
        self.g_optimizer.apply(g_tape.gradient(g_loss, g_variables), g_variables)
        return {"d_loss": d_loss, "g_loss": g_loss}

    def train_step(self, rows: np.ndarray) -> dict[str, float]:
        """One adversarial step on the global batch ``rows``: the discriminator's and the generator's loss."""
        noise = self.rng.standard_normal((len(rows), NOISE_DIM)).astype(np.float32)
        flips = self.rng.random(len(rows)) < 0.5 if self.config.flip else np.zeros(len(rows), bool)
        return {k: float(v) for k, v in self._step(rows.astype(np.int32), noise, flips).items()}

    def phases(self) -> list[Phase]:
        config = self.config
        return [
            Phase(
                "gan",
                config.epochs,
                batches=lambda rng: epoch_batches(rng, self.n, config.batch_size),
                step=self.train_step,
                steps_per_epoch=-(-self.n // config.batch_size),
                learning_rate=lambda: config.learning_rate,
                grid=lambda: image_grid(to_uint8(to_pixels(generate(self.generator, self.grid_noise)))),
                grid_label="epoch",
                grid_every_epoch=True,
            )
        ]

    # ------------------------------------------------------------------ checkpoints

    def _variables(self) -> dict[str, list]:
        """The checkpoint's groups of variables (the dropout masks' generator states are absent from
        checkpoints written before they were saved)."""
        return {
            "generator": self.generator.weights,
            "discriminator": self.discriminator.weights,
            "g_optimizer": self.g_optimizer.variables,
            "d_optimizer": self.d_optimizer.variables,
            "dropout_seeds": random_states(self.discriminator),
        }

    def state(self) -> dict[str, Part]:
        return {"gan": Part(groups_state(self._variables()))}

    def load(self, parts) -> None:
        load_groups(self._variables(), parts["gan"], optional={"dropout_seeds"})

    # ------------------------------------------------------------------ sampling

    def parameter_counts(self) -> dict[str, int]:
        return {
            "generator": int(self.generator.count_params()),
            "discriminator": int(self.discriminator.count_params()),
        }

    @classmethod
    def sampler(cls, config: DcganConfig, parts) -> NoiseSampler:
        generator, _ = build_networks(config)
        load_variables("generator", generator.weights, parts["gan"])
        return NoiseSampler(generator)
