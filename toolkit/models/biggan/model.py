"""The BigGAN as a dogkit model: one adversarial phase that trains until the budget's deadline.

Each step: ``d_steps`` discriminator steps, each on its own batch of crops and as many fakes with the
crops' labels, then one generator step with the first batch's labels; hinge loss, DiffAugment on
every image D sees, Adam (beta_1 0, beta_2 0.999) at constant rates; then the EMA generator moves
towards the trained one (a copy during the first ``ema_start`` steps).

The EMA generator makes the grids and ``dogkit pack``'s images. Its batch-norm statistics are
standing statistics, computed again before each use: the means of the batch statistics of
``STANDING_BATCHES`` batches of seeded noise and breed-balanced labels, run through it in training
mode. Why not the running statistics: the trained generator's running means follow weights that
the EMA weights lag behind, and averaging them as weights mixes statistics of networks no longer
there; standing statistics are exactly those of the EMA weights, and they follow the sampling
truncation. They cost about a tenth of generating 10,000 images.

Checkpoint part ``gan``: the generator, the discriminator and the EMA generator (every weight:
spectral-norm ``u`` vectors and batch-norm statistics included), both optimizers (and their loss
scales under mixed precision), the generator step count and the class table (names and counts).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from toolkit.backend import keras, tf
from toolkit.data.crops import TrainingData
from toolkit.models.base import Part, Phase
from toolkit.models.biggan.augment import PARAMETERS, diff_augment, draw_parameters
from toolkit.models.biggan.config import BigganConfig
from toolkit.models.biggan.layers import U_NAME
from toolkit.models.biggan.networks import EMA_NAME, build_discriminator, build_generator, trainable_count
from toolkit.train.distribute import DistributedStep, batched_forward, use_xla
from toolkit.train.pace import SAMPLE_BATCH
from toolkit.train.variables import groups_state, load_groups, load_variables
from toolkit.visuals import image_grid, to_pixels, to_uint8

GRID_ROWS = 8  # a grid shows 8 classes (rows) x 8 latents
STANDING_BATCHES = 16  # batches averaged into the EMA generator's standing statistics
STANDING_BATCH = 64
ADAM_EPSILON = 1e-6  # BigGAN-PyTorch's
_CONFIGURED = object()  # sample(): the run's own truncation


# ---------------------------------------------------------------------------- labels and latents


def class_table(breeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The classes of the crops: their distinct breeds, sorted ("unknown" is one of them when present).

    Args:
        breeds: (N,) str.

    Returns:
        (names (K,) str, labels (N,) int32 indices into names, counts (K,) int64).
    """
    names, labels, counts = np.unique(np.asarray(breeds).astype(str), return_inverse=True, return_counts=True)
    return names, labels.astype(np.int32).reshape(-1), counts.astype(np.int64)


def balanced_labels(counts: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` labels in the proportions of ``counts``, shuffled.

    Each class gets its quota count * share rounded down, and the labels left go to the largest
    remainders (ties: the lower class index), so every class is within one label of its share.

    Args:
        counts: (K,) crops per class, not all zero.
        count: Labels to make.
        rng: Shuffles them (the same state, the same labels).

    Returns:
        (count,) int32.

    Raises:
        ValueError: ``counts`` not a 1-D array of non-negative numbers with a positive sum.
    """
    counts = np.asarray(counts, np.float64)
    if counts.ndim != 1 or not len(counts) or counts.min() < 0 or counts.sum() <= 0:
        raise ValueError(
            f"counts must be a non-empty 1-D array of non-negative numbers with a positive sum, got {counts}"
        )
    quotas = counts / counts.sum() * count
    each = np.floor(quotas).astype(np.int64)
    left = count - int(each.sum())
    each[np.argsort(-(quotas - each), kind="stable")[:left]] += 1
    return rng.permutation(np.repeat(np.arange(len(counts), dtype=np.int32), each))


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], bound: float | None) -> np.ndarray:
    """Standard normal latents; with ``bound``, every value outside [-bound, bound] drawn again until none is.

    Returns:
        float32 of ``shape``.

    Raises:
        ValueError: a bound that is not positive.
    """
    z = rng.standard_normal(shape)
    if bound is not None:
        if not bound > 0:
            raise ValueError(f"the truncation bound must be positive, got {bound}")
        outside = np.abs(z) > bound
        while outside.any():
            z[outside] = rng.standard_normal(int(outside.sum()))
            outside = np.abs(z) > bound
    return z.astype(np.float32)


def resolve_precision(precision: str) -> str:
    """``auto``: mixed_float16 on GPUs (their tensor cores), float32 elsewhere (CPUs gain nothing from it)."""
    if precision == "auto":
        return "mixed_float16" if tf.config.list_logical_devices("GPU") else "float32"
    return precision


# ---------------------------------------------------------------------------- generating


def generate(generator: keras.Model, z: np.ndarray, labels: np.ndarray, batch: int = 256) -> np.ndarray:
    """G([z, labels]) in inference mode as (n, 64, 64, 3) float32 in [-1, 1], in batches."""
    return batched_forward(generator, [z, labels], batch)


def standing_statistics(generator: keras.Model, counts: np.ndarray, z_dim: int, truncation, seed: int) -> None:
    """Set an EMA generator's batch-norm statistics to the means of its batch statistics over
    ``STANDING_BATCHES`` batches of latents (truncated like the samples) and breed-balanced labels.

    ``generator`` must be built with ``ema=True``: its batch norms then keep the last batch's
    statistics and its spectral norms stay as they are.

    Raises:
        ValueError: a generator built without ``ema=True``.
    """
    if generator.name != EMA_NAME:
        raise ValueError(f"standing statistics need the EMA generator ({EMA_NAME!r}), got {generator.name!r}")
    stats = [w for w in generator.weights if w.name in ("moving_mean", "moving_variance")]
    forward = getattr(generator, "_biggan_standing", None)
    if forward is None:
        forward = tf.function(lambda z, labels: generator([z, labels], training=True))
        generator._biggan_standing = forward
    rng = np.random.default_rng(seed)
    labels = balanced_labels(counts, STANDING_BATCHES * STANDING_BATCH, rng)
    z = truncated_normal(rng, (len(labels), z_dim), truncation)
    totals = [np.zeros(w.shape, np.float64) for w in stats]
    for start in range(0, len(labels), STANDING_BATCH):
        forward(tf.constant(z[start : start + STANDING_BATCH]), tf.constant(labels[start : start + STANDING_BATCH]))
        for total, w in zip(totals, stats):
            total += np.asarray(w.numpy(), np.float64)
    for total, w in zip(totals, stats):
        w.assign((total / STANDING_BATCHES).astype(np.float32))


class BigganSampler:
    """Images from the EMA generator: breed-balanced labels and (optionally truncated) latents, seeded."""

    def __init__(self, generator: keras.Model, counts: np.ndarray, config: BigganConfig):
        self.generator = generator
        self.counts = np.asarray(counts)
        self.config = config

    def sample(self, count: int, seed: int, truncation=_CONFIGURED, batch: int = SAMPLE_BATCH) -> Iterator[np.ndarray]:
        """(n, 64, 64, 3) float pixels in 0..255, ``count`` in all; the same seed, the same images.

        ``truncation``: the latent bound (None: off); by default the run's.
        """
        truncation = self.config.truncation if truncation is _CONFIGURED else truncation
        standing_statistics(self.generator, self.counts, self.config.z_dim, truncation, self.config.seed + 2)
        rng = np.random.default_rng(seed)
        labels = balanced_labels(self.counts, count, rng)
        z = truncated_normal(rng, (count, self.config.z_dim), truncation)
        for start in range(0, count, batch):
            yield to_pixels(generate(self.generator, z[start : start + batch], labels[start : start + batch], batch))


# ---------------------------------------------------------------------------- the model


def step_batches(rng: np.random.Generator, n: int, batch_size: int, d_steps: int) -> list[np.ndarray]:
    """One epoch's steps: a shuffled pass over ``n`` rows as (B, d_steps) arrays, column j the rows of
    discriminator step j (B = batch_size except in the last step). Rows beyond a multiple of
    ``d_steps`` wait for the next epoch; fewer rows than ``d_steps`` are repeated."""
    order = rng.permutation(n)
    if n < d_steps:
        order = np.resize(order, d_steps)
    order = order[: len(order) - len(order) % d_steps]
    per_step = batch_size * d_steps
    return [np.sort(order[s : s + per_step]).reshape(-1, d_steps) for s in range(0, len(order), per_step)]


class Biggan:
    def __init__(self, config: BigganConfig, data: TrainingData, strategy, rng: np.random.Generator, jit: bool):
        self.config = config
        self.strategy = strategy
        self.rng = rng
        self.n = len(data.images)
        self.class_names, labels, self.class_counts = class_table(data.breeds)
        self.dtype = resolve_precision(config.precision)
        self.mixed = self.dtype == "mixed_float16"
        classes = len(self.class_names)
        with strategy.scope():
            self.generator = build_generator(config, classes, self.dtype)
            self.discriminator = build_discriminator(config, classes, self.dtype)
            self.ema = build_generator(config, classes, self.dtype, ema=True)
            self.g_optimizer = self._optimizer(config.g_lr, self.generator)
            self.d_optimizer = self._optimizer(config.d_lr, self.discriminator)
            self.images = tf.Variable(data.images, trainable=False, name="training_images")  # uint8, on each device
            self.labels = tf.Variable(labels, trainable=False, name="training_labels")
        for mine, theirs in zip(self.ema.weights, self.generator.weights):
            mine.assign(theirs)  # the EMA starts as a copy
        pairs = list(zip(self.ema.weights, self.generator.weights))
        self._averaged = [(e, w) for e, w in pairs if w.trainable]
        self._copied = [(e, w) for e, w in pairs if w.name == U_NAME]  # power iteration runs in the trained G
        self.g_steps = 0  # generator steps taken (the EMA's warm-up counts them)
        grid_rng = np.random.default_rng(config.seed + 1)
        rows = np.linspace(0, classes - 1, GRID_ROWS).round().astype(np.int32)
        self.grid_labels = np.repeat(rows, 8)
        self.grid_z = truncated_normal(grid_rng, (len(self.grid_labels), config.z_dim), config.truncation)
        self._step = DistributedStep(strategy, self._replica_step, jit)
        self._ema_step = tf.function(self._update_ema, jit_compile=use_xla(jit, strategy))

    def _optimizer(self, learning_rate: float, network: keras.Model):
        c = self.config
        optimizer = keras.optimizers.Adam(learning_rate, beta_1=c.beta_1, beta_2=c.beta_2, epsilon=ADAM_EPSILON)
        if self.mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(network.trainable_variables)
        return optimizer

    # ------------------------------------------------------------------ training

    def _real(self, rows):
        return tf.cast(tf.gather(self.images, rows), tf.float32) / 127.5 - 1.0

    def _scaled(self, optimizer, loss):
        """The loss to differentiate (inside the tape): multiplied by the loss scale under mixed precision."""
        return optimizer.scale_loss(loss) if self.mixed else loss

    def _replica_step(self, rows, z, augment, batch_size):
        """rows (b, d_steps) int32, z (b, d_steps + 1, z_dim), augment (b, 2 d_steps + 1, PARAMETERS)."""
        operations = self.config.operations
        d_steps = self.config.d_steps
        d_variables = self.discriminator.trainable_variables
        g_variables = self.generator.trainable_variables
        d_loss = d_real = d_fake = 0.0
        for j in range(d_steps):
            labels = tf.gather(self.labels, rows[:, j])
            fake = self.generator([z[:, j], labels], training=True)
            real = diff_augment(self._real(rows[:, j]), augment[:, 2 * j], operations)
            fake = diff_augment(fake, augment[:, 2 * j + 1], operations)
            with tf.GradientTape() as tape:
                logits = self.discriminator([tf.concat([real, fake], 0), tf.concat([labels, labels], 0)], training=True)
                real_logits, fake_logits = tf.split(logits, 2)
                loss = tf.reduce_sum(tf.nn.relu(1.0 - real_logits)) + tf.reduce_sum(tf.nn.relu(1.0 + fake_logits))
                loss = loss / batch_size
                scaled = self._scaled(self.d_optimizer, loss)
            self.d_optimizer.apply(tape.gradient(scaled, d_variables), d_variables)  # a loss scale unscales them
            d_loss += loss / d_steps
            d_real += tf.reduce_sum(real_logits) / batch_size / d_steps
            d_fake += tf.reduce_sum(fake_logits) / batch_size / d_steps
        labels = tf.gather(self.labels, rows[:, 0])
        with tf.GradientTape() as tape:
            fake = diff_augment(self.generator([z[:, d_steps], labels], training=True), augment[:, -1], operations)
            g_loss = -tf.reduce_sum(self.discriminator([fake, labels], training=True)) / batch_size
            scaled = self._scaled(self.g_optimizer, g_loss)
        self.g_optimizer.apply(tape.gradient(scaled, g_variables), g_variables)
        return {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake}

    def _update_ema(self, decay):
        for ema, weight in self._averaged:
            ema.assign(decay * ema + (1.0 - decay) * weight)
        for ema, weight in self._copied:
            ema.assign(weight)

    def ema_decay(self, step: int) -> float:
        """The decay after generator step ``step`` (1, 2, ...): 0 (a copy) up to ``ema_start``."""
        return self.config.ema_decay if step > self.config.ema_start else 0.0

    def update_ema(self, decay: float) -> None:
        """ema = decay * ema + (1 - decay) * w for every trainable weight; the SN vectors copied."""
        self._ema_step(tf.constant(decay, tf.float32))

    def train_step(self, rows: np.ndarray) -> dict[str, float]:
        """One generator step and its ``d_steps`` discriminator steps on ``rows`` (B, d_steps)."""
        rows = np.asarray(rows, np.int32).reshape(-1, self.config.d_steps)
        b, d = rows.shape
        z = self.rng.standard_normal((b, d + 1, self.config.z_dim)).astype(np.float32)
        if self.config.operations:
            augment = draw_parameters(self.rng, b * (2 * d + 1)).reshape(b, 2 * d + 1, PARAMETERS)
        else:
            augment = np.zeros((b, 2 * d + 1, PARAMETERS), np.float32)
        metrics = {k: float(v) for k, v in self._step(rows, z, augment).items()}
        self.g_steps += 1
        decay = self.ema_decay(self.g_steps)
        self.update_ema(decay)
        return {**metrics, "ema_decay": decay}

    def grid(self) -> np.ndarray:
        """A (512, 512, 3) uint8 grid from the EMA generator: fixed latents, one class per row."""
        standing_statistics(
            self.ema, self.class_counts, self.config.z_dim, self.config.truncation, self.config.seed + 2
        )
        return image_grid(to_uint8(to_pixels(generate(self.ema, self.grid_z, self.grid_labels))))

    def phases(self) -> list[Phase]:
        config = self.config
        per_step = config.batch_size * config.d_steps
        return [
            Phase(
                "gan",
                config.epochs,
                batches=lambda rng: step_batches(rng, self.n, config.batch_size, config.d_steps),
                step=self.train_step,
                steps_per_epoch=-(-max(self.n - self.n % config.d_steps, config.d_steps) // per_step),
                learning_rate=lambda: config.g_lr,
                grid=self.grid,
                grid_label="epoch",
                grid_every_epoch=True,
                metrics_shown=("d_loss", "g_loss", "d_real", "d_fake"),
            )
        ]

    # ------------------------------------------------------------------ checkpoints

    def _variables(self) -> dict[str, list]:
        """The checkpoint's groups of variables; the loss scales are empty in float32 (and absent from
        runs made in it)."""
        groups = {"generator": self.generator.weights, "discriminator": self.discriminator.weights}
        groups["ema"] = self.ema.weights
        for name, optimizer in (("g", self.g_optimizer), ("d", self.d_optimizer)):
            inner = optimizer.inner_optimizer if self.mixed else optimizer
            groups[f"{name}_optimizer"] = inner.variables
            groups[f"{name}_loss_scale"] = [optimizer.step_counter, optimizer.dynamic_scale] if self.mixed else []
        return groups

    def state(self) -> dict[str, Part]:
        arrays = groups_state(self._variables())
        arrays["g_steps"] = np.array(self.g_steps, np.int64)
        arrays["class_names"] = self.class_names
        arrays["class_counts"] = self.class_counts
        return {"gan": Part(arrays)}

    def load(self, parts) -> None:
        arrays = parts["gan"]
        if not np.array_equal(np.asarray(arrays["class_names"]), self.class_names):
            raise ValueError(f"the checkpoint has other classes than the crops' {len(self.class_names)} breeds")
        load_groups(self._variables(), arrays, optional={"g_loss_scale", "d_loss_scale"})
        self.g_steps = int(arrays["g_steps"])

    # ------------------------------------------------------------------ sampling

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters of each network (the EMA generator has the generator's)."""
        return {"generator": trainable_count(self.generator), "discriminator": trainable_count(self.discriminator)}

    @classmethod
    def sampler(cls, config: BigganConfig, parts) -> BigganSampler:
        """The EMA generator alone, from the checkpoint (no discriminator, no optimizer)."""
        arrays = parts["gan"]
        counts = np.asarray(arrays["class_counts"])
        generator = build_generator(config, len(counts), resolve_precision(config.precision), ema=True)
        load_variables("ema", generator.weights, arrays)
        return BigganSampler(generator, counts, config)
