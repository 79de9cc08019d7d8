"""Training the DCGANs (``dcgan``, ``dcgan-radford``): adversarial, binary cross-entropy, Adam.

One checkpoint, ``checkpoints/gan.npz`` (both networks and both optimizers), written after every
epoch; a sample grid from fixed noise after every epoch.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from toolkit.backend import keras, tf
from toolkit.models.dcgan.networks import NOISE_DIM, DcganConfig, RadfordConfig, build_networks, parameter_counts
from toolkit.train.budget import Deadline
from toolkit.train.loop import Recorder, StepClock, TrainResult, epoch_batches, run_epoch
from toolkit.train.runs import RunFolder, load_variables, variables_state
from toolkit.visuals import image_grid, to_uint8

log = logging.getLogger("dogkit")

__all__ = ["DcganConfig", "DcganTrainer", "RadfordConfig", "to_pixels"]

CHECKPOINT = "gan"
GRID_SIZE = 64  # images in a sample grid (8 x 8)


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1] to float pixels in 0..255."""
    return (np.asarray(images, np.float32) + 1.0) * 127.5


def flip_images(images, flips):
    """Mirror the images (B, H, W, C) whose entry in ``flips`` (B,) is true, left to right."""
    return tf.where(flips[:, None, None, None], tf.reverse(images, axis=[2]), images)


class DcganTrainer:
    def __init__(self, config: DcganConfig, images: np.ndarray, run: RunFolder, strategy, jit: bool = True):
        self.config = config
        self.run = run
        self.strategy = strategy
        self.n = len(images)
        self.rng = np.random.default_rng(config.seed)
        with strategy.scope():
            keras.utils.set_random_seed(config.seed)  # the same seed, the same initial networks
            self.generator, self.discriminator = build_networks(config)
            self.g_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.d_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.images = tf.Variable(images, trainable=False, name="training_images")  # uint8 on each device
        self.grid_noise = (
            np.random.default_rng(config.seed + 1).standard_normal((GRID_SIZE, NOISE_DIM)).astype(np.float32)
        )
        on_accelerator = bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
        replica_step = tf.function(
            self._replica_step, jit_compile=jit and on_accelerator and strategy.num_replicas_in_sync == 1
        )

        @tf.function
        def distributed_step(rows, noise, flips, batch_size):
            losses = strategy.run(replica_step, args=(rows, noise, flips, batch_size))
            return tuple(strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None) for loss in losses)

        self._step = distributed_step

    @classmethod
    def strategy_probe(cls, config: DcganConfig, images: np.ndarray, jit: bool = True):
        """An adversarial step under a given strategy, for timing one GPU against mirrored."""
        rows = np.arange(min(config.batch_size, len(images)))

        def probe(strategy):
            trainer = cls(config, images[rows], RunFolder("unused"), strategy, jit=jit)
            return lambda: trainer.train_step(rows)

        return probe

    def parameter_counts(self) -> dict[str, int]:
        return parameter_counts(self.config)

    def seconds_per_generated_image(self) -> float:
        noise = np.random.default_rng(0).standard_normal((128, NOISE_DIM)).astype(np.float32)
        generate(self.generator, noise, 128)  # compiles
        start = time.perf_counter()
        generate(self.generator, noise, 128)
        return (time.perf_counter() - start) / 128

    # ------------------------------------------------------------------ one step

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
        return d_loss, g_loss

    def train_step(self, rows: np.ndarray) -> tuple[float, float]:
        """One adversarial step on the global batch ``rows``: (discriminator loss, generator loss)."""
        noise = self.rng.standard_normal((len(rows), NOISE_DIM)).astype(np.float32)
        flips = self.rng.random(len(rows)) < 0.5 if self.config.flip else np.zeros(len(rows), bool)
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1:
            args = (tf.constant(rows, tf.int32), tf.constant(noise), tf.constant(flips))
        else:
            parts = [np.array_split(a, replicas) for a in (rows.astype(np.int32), noise, flips)]
            args = tuple(
                self.strategy.experimental_distribute_values_from_function(
                    lambda context, p=p: tf.constant(p[context.replica_id_in_sync_group])
                )
                for p in parts
            )
        d_loss, g_loss = self._step(*args, tf.constant(float(len(rows))))
        return float(d_loss), float(g_loss)

    # ------------------------------------------------------------------ checkpoints

    def state(self) -> dict[str, np.ndarray]:
        return {
            **variables_state("generator", self.generator.weights),
            **variables_state("discriminator", self.discriminator.weights),
            **variables_state("g_optimizer", self.g_optimizer.variables),
            **variables_state("d_optimizer", self.d_optimizer.variables),
        }

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        load_variables("generator", self.generator.weights, arrays)
        load_variables("discriminator", self.discriminator.weights, arrays)
        load_variables("g_optimizer", self.g_optimizer.variables, arrays)
        load_variables("d_optimizer", self.d_optimizer.variables, arrays)

    def _save(self, state: dict, recorder: Recorder) -> None:
        state = {**state, "rng": self.rng.bit_generator.state, "history_rows": recorder.rows}
        self.run.save_checkpoint(CHECKPOINT, self.state(), state)

    # ------------------------------------------------------------------ training

    def train(self, deadline: Deadline, recorder: Recorder) -> TrainResult:
        config = self.config
        result = TrainResult(self.run.path)
        epoch, recorder.rows = 0, 0
        if self.run.has_checkpoint(CHECKPOINT):
            checkpoint = self.run.load_checkpoint(CHECKPOINT)
            if not checkpoint.state.get("untrained"):
                self.load(checkpoint.arrays)
                self.rng.bit_generator.state = checkpoint.state["rng"]
                recorder.rows = checkpoint.state["history_rows"]
                epoch = checkpoint.state["epoch"]
                log.info("resuming %s: %d of %d epochs done", self.run.path, epoch, config.epochs)
        # history rows past the checkpoint were written by a process killed before its next one
        self.run.truncate_history(recorder.rows)
        if epoch >= config.epochs and epoch:
            result.complete = True
            result.notes.append("the run is already complete; nothing to train")
            return result
        if deadline.left() <= 0:
            if not self.run.has_checkpoint(CHECKPOINT):
                self._save({"epoch": 0, "untrained": True}, recorder)
            return result.too_small_to_train(deadline, trained_before=epoch > 0)

        clock = StepClock()
        steps_per_epoch = -(-self.n // config.batch_size)
        names = ("d_loss", "g_loss")
        with recorder.progress(steps_per_epoch * (config.epochs - epoch), config.architecture) as bar:
            while epoch < config.epochs:
                outcome = run_epoch(
                    epoch_batches(self.rng, self.n, config.batch_size),
                    self.train_step,
                    clock,
                    deadline,
                    lambda losses: (bar.update(1), recorder.postfix(bar, losses, names)),
                )
                if outcome.losses is None:
                    break
                epoch += 1
                d_loss, g_loss = outcome.losses
                lr = config.learning_rate
                recorder.epoch("discriminator", 0, epoch, d_loss, lr, outcome.seconds, epoch)
                recorder.epoch("generator", 0, epoch, g_loss, lr, outcome.seconds, epoch)
                result.epochs += 1
                result.loss = g_loss
                self._save({"epoch": epoch, "complete": epoch >= config.epochs}, recorder)
                grid = image_grid(to_uint8(to_pixels(generate(self.generator, self.grid_noise))))
                recorder.sample_grid(grid, epoch, "epoch")
                if outcome.stopped:
                    result.notes.append(f"stopped by the budget after {epoch} of {config.epochs} epochs")
                    break
        result.complete = epoch >= config.epochs
        return result


def generate(generator: keras.Model, noise: np.ndarray, batch: int = 256) -> np.ndarray:
    """G(noise) in [-1, 1] as (n, 64, 64, 3) float32, in batches."""
    forward = getattr(generator, "_dogkit_forward", None)
    if forward is None:
        forward = tf.function(lambda z: generator(z, training=False), reduce_retracing=True)
        generator._dogkit_forward = forward
    out = [forward(tf.constant(noise[s : s + batch])).numpy() for s in range(0, len(noise), batch)]
    return np.concatenate(out) if out else np.zeros((0, 64, 64, 3), np.float32)
