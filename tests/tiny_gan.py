"""A tutorial GAN written against dogkit's model protocol (``toolkit.models.base``): all that a model
gives the training loop, ``dogkit pack`` and the kernel. Tiny on purpose: the tests train it in
seconds, handing it to the loop as a registry entry would (``TINY_GAN``) without a registry line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.backend import keras, tf
from toolkit.models import ModelEntry
from toolkit.models.base import Part, Phase
from toolkit.train.batching import epoch_batches
from toolkit.train.options import option
from toolkit.train.variables import groups_state, load_groups, load_variables
from toolkit.visuals import image_grid, to_pixels, to_uint8

NOISE = 16  # the latent's size


@dataclass(frozen=True)
class TinyGanConfig:
    MODEL_NAME = "the tiny GAN"
    epochs: int = option(3, "passes over the crops", minimum=1)
    batch_size: int = option(16, "crops per step", minimum=1)
    learning_rate: float = option(2e-4, "Adam's learning rate for both networks", minimum=0)
    seed: int = option(0, "seeds the networks and the training")


def build_networks() -> tuple[keras.Model, keras.Model]:
    """A generator from noise to (64, 64, 3) in [-1, 1], and a discriminator to one logit."""
    generator = keras.Sequential(
        [
            keras.Input((NOISE,)),
            keras.layers.Dense(8 * 8 * 8, activation="relu"),
            keras.layers.Reshape((8, 8, 8)),
            keras.layers.UpSampling2D(8),
            keras.layers.Conv2D(3, 3, padding="same", activation="tanh"),
        ]
    )
    discriminator = keras.Sequential(
        [keras.Input((64, 64, 3)), keras.layers.AveragePooling2D(8), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    return generator, discriminator


class TinySampler:
    def __init__(self, generator: keras.Model):
        self.generator = generator

    def sample(self, count: int, seed: int, batch: int = 256):
        noise = np.random.default_rng(seed).standard_normal((count, NOISE)).astype(np.float32)
        for start in range(0, count, batch):
            yield to_pixels(self.generator(noise[start : start + batch], training=False).numpy())


class TinyGan:
    # ---- the protocol: 30 lines
    def __init__(self, config: TinyGanConfig, data, strategy, rng: np.random.Generator, jit: bool):
        self.config, self.rng, self.n = config, rng, len(data.images)
        with strategy.scope():
            self.generator, self.discriminator = build_networks()
            self.optimizers = [keras.optimizers.Adam(config.learning_rate, beta_1=0.5) for _ in range(2)]
            for optimizer, network in zip(self.optimizers, (self.generator, self.discriminator)):
                optimizer.build(network.trainable_variables)
        self.images = tf.constant(data.images)

    def phases(self) -> list[Phase]:
        batches = lambda rng: epoch_batches(rng, self.n, self.config.batch_size)  # noqa: E731
        grid = lambda: image_grid(to_uint8(next(TinySampler(self.generator).sample(16, 0))), columns=4)  # noqa: E731
        return [Phase("gan", self.config.epochs, batches, self.step, grid=grid, grid_label="epoch")]

    def state(self) -> dict[str, Part]:
        return {"gan": Part(groups_state(self._variables()))}

    def load(self, parts) -> None:
        load_groups(self._variables(), parts["gan"])

    def parameter_counts(self) -> dict[str, int]:
        return {"generator": self.generator.count_params(), "discriminator": self.discriminator.count_params()}

    @classmethod
    def sampler(cls, config: TinyGanConfig, parts) -> TinySampler:
        generator, _ = build_networks()
        load_variables("generator", generator.weights, parts["gan"])
        return TinySampler(generator)

    # ---- the model itself
    def _variables(self) -> dict[str, list]:
        g, d = self.optimizers
        return {"generator": self.generator.weights, "discriminator": self.discriminator.weights,
                "g_optimizer": g.variables, "d_optimizer": d.variables}  # fmt: skip

    def step(self, rows: np.ndarray) -> dict[str, float]:
        noise = self.rng.standard_normal((len(rows), NOISE)).astype(np.float32)
        return {name: float(value) for name, value in self._step(tf.constant(rows), tf.constant(noise)).items()}

    @tf.function
    def _step(self, rows, noise):
        real = tf.cast(tf.gather(self.images, rows), tf.float32) / 127.5 - 1.0
        bce = tf.nn.sigmoid_cross_entropy_with_logits
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(self.generator(noise, training=True), training=True)
            d_loss = tf.reduce_mean(bce(tf.ones_like(real_logits), real_logits)) + tf.reduce_mean(
                bce(tf.zeros_like(fake_logits), fake_logits)
            )
            g_loss = tf.reduce_mean(bce(tf.ones_like(fake_logits), fake_logits))
        for optimizer, network, loss, tape in zip(
            self.optimizers, (self.generator, self.discriminator), (g_loss, d_loss), (g_tape, d_tape)
        ):
            optimizer.apply(tape.gradient(loss, network.trainable_variables), network.trainable_variables)
        return {"d_loss": d_loss, "g_loss": g_loss}


TINY_GAN = ModelEntry("tiny-gan", "a tutorial GAN", f"{__name__}:TinyGanConfig", f"{__name__}:TinyGan")
