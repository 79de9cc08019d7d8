"""The memorizer / generalizer GAN, dogkit's default model.

1. Memorize: a discriminator memory D[i] in R^12288 per memorized crop; sigmoid(D[i]) is fitted
   to crop_i / 255 with binary cross-entropy (Adam, lr 0.5 then 0.1 once the loss < 0.533).
2. Coach: a generator G(code) with a bottleneck (a 2048-wide first layer, then convolutions up to
   64x64x3) learns 255 * sigmoid(D[i]) from the one-hot code e_i, D frozen (MSE, Adam).
3. Generalize: image k is G(0.7 e_i + 0.3 e_j), i cycling over the memorized crops, j random.

The reference formulation feeds one-hot vectors through Dense layers, so each step multiplies
by a (crops x 12288) matrix. Here the memory and the generator's first layer are tables
addressed by row: a code is a few (row, weight) pairs and a step costs what it touches.

The memory's optimizer is lazy but exact. With one-hot inputs, Adam still moves every row at
every step (momentum keeps going after the gradient is gone), so a lazy "update only the rows
in the batch" Adam would train differently. ``MemoryTable`` replays, when a row is next used,
the momentum-only steps it missed: k steps of m <- b1 m, v <- b2 v, x -= a_t m / (sqrt(v) + eps)
sum to x -= m * sum_j c_j / (d_j sqrt(v) + eps) with c_j = a_(t0+j) b1^j, d_j = b2^(j/2). Because
d_j stays within a few percent of 1 where c_j has weight, that sum equals C / (dbar sqrt(v) + eps)
with C = sum c_j and dbar = sum c_j d_j / C up to a relative error of var(d) < 1e-4. The test suite
checks the result against Keras' own Adam on one-hot Dense layers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from toolkit.backend import keras, tf
from toolkit.models.coarse import UpsampleConv2D
from toolkit.models.memorizer.config import PRECISIONS
from toolkit.train.checkpoint import ChunkedArray
from toolkit.train.distribute import DistributedStep, batched_forward, on_accelerator
from toolkit.train.variables import load_variables, variables_state

PIXELS = 64 * 64 * 3  # values in one memory row / one image
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7  # Keras' Adam defaults, as in the reference
_TAIL_HORIZON = 400  # momentum terms beyond b1^400 (< 1e-18) are dropped from the replay


# ---------------------------------------------------------------------------- memorize phase


def momentum_tail(
    last_step: np.ndarray, step: int, alphas: np.ndarray, beta_1: float = ADAM_BETA_1, beta_2: float = ADAM_BETA_2
) -> tuple[np.ndarray, ...]:
    """Coefficients that replay the momentum-only Adam steps ``last_step+1 .. step-1`` of each row.

    Args:
        last_step: (B,) step at which each row last had a gradient (0: never).
        step: the step about to run (1-based, as Keras counts).
        alphas: alphas[t] = lr_t * sqrt(1 - b2^t) / (1 - b1^t) for every step t < ``step``.

    Returns:
        (C, dbar, m_decay, v_decay), each (B,) float32: x -= C m / (dbar sqrt(v) + eps),
        then m *= m_decay, v *= v_decay.
    """
    pending = step - last_step - 1  # momentum-only steps each row missed
    horizon = int(min(pending.max(initial=0), _TAIL_HORIZON))
    j = np.arange(1, horizon + 1)
    taus = np.minimum(last_step[:, None] + j[None, :], step - 1)
    c = np.where(j[None, :] <= pending[:, None], alphas[taus], 0.0) * beta_1**j
    total = c.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    dbar = np.where(total > 0, (c * beta_2 ** (j / 2)).sum(axis=1) / safe, 1.0)
    as32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return as32(total), as32(dbar), as32(beta_1**pending), as32(beta_2**pending)


def replay_pending(x, m, v, last_step, step, alphas):
    """Apply in place, to rows (x, m, v) of (rows, pixels), the momentum-only steps ``last_step+1 .. step``."""
    c, dbar, m_decay, v_decay = momentum_tail(last_step, step + 1, alphas)
    x -= c[:, None] * m / (dbar[:, None] * np.sqrt(v) + ADAM_EPSILON)
    m *= m_decay[:, None]
    v *= v_decay[:, None]


@tf.function(jit_compile=True)
def adam_block_step(src, dst, targets, tail_c, tail_dbar, m_decay, v_decay, alpha, grad_scale, with_loss=True):
    """One lazy-exact Adam step on a whole block ``src`` (rows, [x, m, v], pixels), written to ``dst``.

    Returns the block's mean binary cross-entropy before the step (0 when not ``with_loss``).
    """
    state = src.read_value()
    x, m, v = state[:, 0], state[:, 1], state[:, 2]
    x = x - tail_c * m / (tail_dbar * tf.sqrt(v) + ADAM_EPSILON)  # the momentum-only steps it missed
    t = tf.cast(targets, tf.float32) * (1.0 / 255.0)
    # sigmoid(x) = (1 + h) / 2 and softplus(x) = relu(x) - log((1 + |h|) / 2) with h = tanh(x / 2):
    # one tanh (cheaper than exp as XLA compiles it for the CPU) serves the loss and the gradient
    h = tf.tanh(0.5 * x)
    loss = 0.0
    if with_loss:  # binary cross-entropy of sigmoid(x) against t: softplus(x) - x t
        loss = tf.reduce_mean(tf.nn.relu(x) - x * t - tf.math.log(0.5 + 0.5 * tf.abs(h)))
    g = (0.5 + 0.5 * h - t) * grad_scale  # d(mean BCE)/dx
    m = m * (m_decay * ADAM_BETA_1) + g * (1 - ADAM_BETA_1)
    v = v * (v_decay * ADAM_BETA_2) + tf.square(g) * (1 - ADAM_BETA_2)
    dst.assign(tf.stack([x - alpha * m / (tf.sqrt(v) + ADAM_EPSILON), m, v], axis=1))
    return loss


@tf.function(jit_compile=True)
def fresh_block(rows: int, pixels: int, seed, limit):
    """A new block: logits uniform in [-limit, limit) from a generator seeded by ``seed``, zero moments.
    One XLA computation writes it whole (not a zero fill, then a second pass for the logits)."""
    x = tf.random.stateless_uniform((rows, pixels), seed=seed, minval=-limit, maxval=limit)
    return tf.stack([x, tf.zeros_like(x), tf.zeros_like(x)], axis=1)


@tf.function(jit_compile=True)
def finished_images(block, tail_c, tail_dbar):
    """A block's images round(255 * sigmoid(x)) as uint8, x its logits once the momentum-only steps its
    rows missed are applied (the phase's end)."""
    x, m, v = block[:, 0], block[:, 1], block[:, 2]
    x = x - tail_c * m / (tail_dbar * tf.sqrt(v) + ADAM_EPSILON)
    return tf.cast(tf.round(255.0 * tf.sigmoid(x)), tf.uint8)


class MemoryTable:
    """D (rows, 12288) logits trained with binary cross-entropy and lazy-exact Adam.

    ``targets`` (rows, pixels) uint8: the crops to memorize, kept on the device beside D.

    The rows live in blocks of ``block_rows`` consecutive rows (the batch size), each a
    (rows, [x, m, v], pixels) variable, and a step trains one whole block: one streaming pass
    over contiguous memory that XLA compiles into a single loop, written into a spare block that
    then takes the block's place. A gather and a scatter of the batch's rows would cost several
    passes more. Rows are independent (a row's gradient depends on that row alone), so fixed
    blocks change nothing but which rows share a step; ``epoch_blocks`` visits them in a new
    random order every epoch, so when each row is trained stays random, as with shuffled batches.

    A block is made when first used, its initial logits drawn from a generator seeded by (seed,
    block), so the same seed gives the same memory whatever the order: gigabytes of table are
    then written once, by the steps that train them, not once to make them and again to train.
    """

    def __init__(self, targets: np.ndarray, seed: int = 0, block_rows: int = 256):
        rows, pixels = targets.shape
        self.rows, self.pixels = rows, pixels
        self.seed = seed
        self.limit = math.sqrt(6.0 / (rows + pixels))  # Glorot-uniform, as for the reference Dense kernel
        self.block_rows = block_rows
        self.starts = list(range(0, rows, block_rows))
        self._crops = targets  # until every block has taken its rows
        self.blocks: list[tf.Variable | None] = [None] * len(self.starts)
        self.targets: list[tf.Tensor | None] = [None] * len(self.starts)
        self._spares: dict[int, tf.Variable] = {}  # one per block size: where a step writes
        self.block_last_step = np.zeros(len(self.blocks), np.int64)  # step at which each block last trained
        self.alphas = np.zeros(1, np.float64)  # alphas[t] for t = 0..step; alphas[0] unused
        self.step = 0

    def _size(self, k: int) -> int:
        return min(self.block_rows, self.rows - self.starts[k])

    def _block(self, k: int, value: np.ndarray | None = None) -> tf.Variable:
        """Block ``k``, made now if it is new (from ``value``, else initial logits and zero moments)."""
        if self.blocks[k] is None:
            if value is None:
                value = fresh_block(self._size(k), self.pixels, tf.constant([self.seed, k]), tf.constant(self.limit))
            block = tf.Variable(value)
            self.blocks[k] = block
            start = self.starts[k]
            self.targets[k] = tf.constant(self._crops[start : start + self._size(k)], dtype=tf.uint8)
            if all(t is not None for t in self.targets):
                self._crops = None
        elif value is not None:
            self.blocks[k].assign(value)
        return self.blocks[k]

    def epoch_blocks(self, rng: np.random.Generator) -> list[np.ndarray]:
        """The rows of every block, blocks in a random order: the batches of one epoch."""
        return [self._block_rows(k) for k in rng.permutation(len(self.blocks))]

    def _block_rows(self, k: int) -> np.ndarray:
        return np.arange(self.starts[k], self.starts[k] + self._size(k))

    def _record_alpha(self, lr: float) -> float:
        t = self.step + 1
        alpha = lr * math.sqrt(1 - ADAM_BETA_2**t) / (1 - ADAM_BETA_1**t)
        if len(self.alphas) <= t:
            self.alphas = np.concatenate([self.alphas, np.zeros(max(t + 1, 2 * len(self.alphas)) - len(self.alphas))])
        self.alphas[t] = alpha
        return alpha

    def train_step(self, rows: np.ndarray, lr: float, with_loss: bool = True) -> float | None:
        """One Adam step of the mean binary cross-entropy on ``rows``, one whole block; returns that loss
        (None when not ``with_loss``: the step is a quarter quicker without it)."""
        k = int(rows[0]) // self.block_rows if len(rows) else -1
        if not 0 <= k < len(self.blocks) or not np.array_equal(rows, self._block_rows(k)):
            raise ValueError(f"a memory step trains one whole block of {self.block_rows} rows (see epoch_blocks)")
        alpha = self._record_alpha(lr)
        t = self.step + 1
        tail = momentum_tail(self.block_last_step[k : k + 1], t, self.alphas)
        block = self._block(k)
        spare = self._spares.get(len(rows))
        if spare is None:
            spare = self._spares[len(rows)] = tf.Variable(tf.zeros_like(block))
        loss = adam_block_step(
            block,
            spare,
            self.targets[k],
            *(tf.constant(a[0]) for a in tail),
            tf.constant(alpha, tf.float32),
            tf.constant(1.0 / (len(rows) * self.pixels), tf.float32),
            with_loss=with_loss,
        )
        self.blocks[k], self._spares[len(rows)] = spare, block
        self.block_last_step[k] = t
        self.step = t
        return float(loss) if with_loss else None

    def flush(self) -> None:
        """Replay every row's pending momentum steps up to the current step (phase end)."""
        for k in range(len(self.blocks)):
            state = self._block(k).numpy()
            last = np.full(len(state), self.block_last_step[k])
            replay_pending(state[:, 0], state[:, 1], state[:, 2], last, self.step, self.alphas)
            self.blocks[k].assign(state)
        self.block_last_step[:] = self.step

    def logits(self, rows: np.ndarray | None = None) -> np.ndarray:
        """D[rows] (all rows when None) as (n, pixels) float32."""
        if rows is None:
            return np.concatenate([self._block(k)[:, 0].numpy() for k in range(len(self.blocks))])
        b = self.block_rows
        return np.stack([self._block(r // b)[r % b, 0].numpy() for r in np.asarray(rows)]).reshape(-1, self.pixels)

    def images(self, rows: np.ndarray | None = None) -> np.ndarray:
        """255 * sigmoid(D[rows]) as (n, 64, 64, 3) float32: what the memory holds."""
        logits = self.logits(rows)
        return (255.0 / (1.0 + np.exp(-logits))).reshape(-1, 64, 64, 3).astype(np.float32)

    @property
    def made(self) -> list[int]:
        """The blocks made so far (the others still hold their seeded start, made again on demand)."""
        return [k for k, block in enumerate(self.blocks) if block is not None]

    def state_bytes(self) -> int:
        return sum(3 * 4 * self._size(k) * self.pixels for k in self.made)

    def state(self) -> dict[str, np.ndarray | ChunkedArray]:
        """The memory and its optimizer state, of the blocks made so far; the three big tables stream
        from the blocks one at a time."""
        made = self.made
        rows = sum(self._size(k) for k in made)

        def column(j: int) -> ChunkedArray:
            def chunks() -> Iterator[np.ndarray]:
                for k in made:
                    yield self.blocks[k][:, j].numpy()

            return ChunkedArray((rows, self.pixels), np.float32, chunks)

        return {
            "memory": column(0),
            "memory_m": column(1),
            "memory_v": column(2),
            "memory_rows": np.concatenate([self._block_rows(k) for k in made] or [np.zeros(0, np.int64)]),
            "memory_seed": np.array(self.seed, np.int64),  # makes the blocks not made yet
            "memory_last_step": np.repeat(self.block_last_step[made], [self._size(k) for k in made]),
            "memory_alphas": self.alphas[: self.step + 1].copy(),
        }

    def load(self, arrays) -> None:
        """Take back what ``state()`` saved; ``arrays`` reads rows (``ArrayFile``) or is a dict of arrays."""
        self.alphas = np.asarray(arrays["memory_alphas"], np.float64)
        self.step = len(self.alphas) - 1
        last_step = np.asarray(arrays["memory_last_step"], np.int64)
        # the saved rows (sorted): those of the blocks made when it was saved, in blocks of any size
        saved = np.asarray(arrays["memory_rows"], np.int64) if "memory_rows" in arrays else np.arange(self.rows)
        if "memory_seed" in arrays:
            self.seed = int(arrays["memory_seed"])
        for k in range(len(self.blocks)):
            rows = self._block_rows(k)
            at = np.searchsorted(saved, rows)
            present = (at < len(saved)) & (saved[np.minimum(at, len(saved) - 1)] == rows) if len(saved) else at < 0
            if not present.any():
                continue  # never made: it is made from the seed when first used
            lo, hi = int(at[present][0]), int(at[present][-1]) + 1  # consecutive rows, consecutive in the file
            state = fresh_block(len(rows), self.pixels, tf.constant([self.seed, k]), tf.constant(self.limit)).numpy()
            steps = np.zeros(len(rows), np.int64)
            for j, key in enumerate(("memory", "memory_m", "memory_v")):
                state[present, j] = _rows(arrays, key, lo, hi).astype(np.float32)
            steps[present] = last_step[lo:hi]
            # rows saved at different steps (batches of any rows) are first brought to the block's latest
            latest = int(steps.max())
            replay_pending(state[:, 0], state[:, 1], state[:, 2], steps, latest, self.alphas)
            self._block(k, state)
            self.block_last_step[k] = latest

    def finish(self) -> list[tf.Tensor]:
        """The finished memory's images (every row's pending momentum steps replayed first), uint8,
        block by block, each block let go as its images are taken: a twelfth of the table is left."""
        finished = []
        for k in range(len(self.blocks)):
            c, dbar, _, _ = momentum_tail(self.block_last_step[k : k + 1], self.step + 1, self.alphas)
            finished.append(finished_images(self._block(k), tf.constant(c[0]), tf.constant(dbar[0])))
            self.blocks[k] = self.targets[k] = None
        self.block_last_step[:] = self.step
        self._spares = {}
        return finished


def _rows(arrays, key: str, start: int, stop: int) -> np.ndarray:
    if hasattr(arrays, "rows"):
        return arrays.rows(key, start, stop)
    return np.asarray(arrays[key][start:stop])


# ---------------------------------------------------------------------------- the generator


@keras.saving.register_keras_serializable(package="dogkit")
class CodeTable(keras.layers.Layer):
    """A Dense layer on one-hot codes, stored as a table: h = sum_k w_k W[code_k] + b.

    Inputs: ``codes`` (B, K) int32 rows and ``weights`` (B, K) float32; K = 1 while training
    (one-hot codes), 2 for the mixtures of the generalize step.
    """

    def __init__(self, n_codes: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.n_codes, self.width = n_codes, width

    def build(self, input_shape):
        # initialised like the reference's Dense(width) kernel on n_codes inputs (Glorot uniform)
        self.table = self.add_weight(shape=(self.n_codes, self.width), initializer="glorot_uniform", name="table")
        self.bias = self.add_weight(shape=(self.width,), initializer="zeros", name="bias")

    def call(self, inputs):
        codes, weights = inputs
        rows = keras.ops.take(self.table, codes, axis=0)  # (B, K, width)
        return keras.ops.sum(rows * keras.ops.expand_dims(weights, -1), axis=1) + self.bias

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.width)

    def get_config(self):
        return {**super().get_config(), "n_codes": self.n_codes, "width": self.width}


def resolve_precision(precision: str) -> str:
    """``auto``: bfloat16 on a CPU with AMX tiles for bfloat16 (oneDNN runs the convolutions there
    about twice as fast), float32 everywhere else."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if on_accelerator():
        return "float32"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return "float32"
    return "bfloat16" if " amx_bf16" in flags else "float32"


def build_generator(
    n_codes: int, bottleneck: int = 2048, precision: str = "float32", coarse_grid: bool = True
) -> keras.Model:
    """G(code): CodeTable(bottleneck) ELU -> 8x8 -> Conv 128 -> x2 -> Conv 64 -> x2 -> Conv 32 -> x2 -> Conv 3.

    Output (B, 64, 64, 3) float32 in pixel units (0..255 once trained); linear last layer.
    ``precision`` bfloat16 computes the three hidden convolutions in bfloat16 (weights stay float32);
    the code table and the last convolution, whose output is in pixel units, stay in float32.
    ``coarse_grid`` computes each x2 -> Conv on the coarse grid (toolkit.models.coarse): the same
    function and weights; False builds the UpSampling2D + Conv2D formulation (the benchmark's baseline).
    """
    hidden = "mixed_bfloat16" if resolve_precision(precision) == "bfloat16" else "float32"
    codes = keras.Input((None,), dtype="int32", name="codes")
    weights = keras.Input((None,), dtype="float32", name="weights")
    h = CodeTable(n_codes, bottleneck, name="code_table")([codes, weights])
    h = keras.layers.Activation("elu")(h)
    h = keras.layers.Reshape((8, 8, bottleneck // 64))(h)
    h = keras.layers.Conv2D(128, 3, padding="same", activation="elu", dtype=hidden)(h)
    for filters, name, dtype in ((64, None, hidden), (32, None, hidden), (3, "rgb", "float32")):
        activation = None if name == "rgb" else "elu"
        if coarse_grid:
            h = UpsampleConv2D(filters, 3, activation=activation, name=name, dtype=dtype)(h)
        else:
            h = keras.layers.UpSampling2D(2, dtype=hidden)(h)
            h = keras.layers.Conv2D(filters, 3, padding="same", activation=activation, name=name, dtype=dtype)(h)
    images = h
    return keras.Model([codes, weights], images, name="generator")


# ---------------------------------------------------------------------------- coach phase


class Coach:
    """Trains the generator towards the frozen memory's images under a ``tf.distribute`` strategy.

    ``targets`` (rows, pixels) uint8 holds the finished memory's images 255 * sigmoid(D), rounded,
    on each device: a quarter of the logits, and rounded as every image dogkit writes is (the
    rounding moves a target by at most half a level, next to coach losses in the thousands). The
    targets and the optimizer's moments (as large as the code table) are made only when the coach
    needs them: while the memory trains, they would only take room.
    """

    def __init__(
        self,
        strategy,
        n_codes: int,
        bottleneck: int,
        lr: float,
        jit: bool,
        precision: str = "float32",
        coarse_grid: bool = True,
    ):
        self.strategy = strategy
        self.n_codes = n_codes
        with strategy.scope():
            self.generator = build_generator(n_codes, bottleneck, precision, coarse_grid)
            self.optimizer = keras.optimizers.Adam(learning_rate=lr)
        self.targets: tf.Variable | None = None  # set_targets() makes it
        self._step = DistributedStep(strategy, self._replica_step, jit)

    def _optimizer(self):
        if not self.optimizer.built:
            with self.strategy.scope():
                self.optimizer.build(self.generator.trainable_variables)
        return self.optimizer

    def set_targets(self, rows) -> None:
        """Make ``targets`` from consecutive row blocks (uint8 tensors or arrays, (n, pixels)) of the
        finished memory's images."""
        with self.strategy.scope():
            self.targets = tf.Variable(tf.concat(list(rows), axis=0), trainable=False, name="memory_images")
        if self.targets.dtype != tf.uint8 or self.targets.shape != (self.n_codes, PIXELS):
            raise ValueError(
                f"the memory holds {self.targets.shape[0]} {self.targets.dtype.name} rows; the generator needs "
                f"{self.n_codes} uint8 rows"
            )

    def _replica_step(self, rows, batch_size):
        targets = tf.reshape(tf.cast(tf.gather(self.targets, rows), tf.float32), (-1, 64, 64, 3))
        with tf.GradientTape() as tape:
            images = self.generator([rows[:, None], tf.ones_like(rows[:, None], tf.float32)], training=True)
            per_image = tf.reduce_mean(tf.square(tf.cast(images, tf.float32) - targets), axis=[1, 2, 3])
            loss = tf.reduce_sum(per_image) / batch_size  # mean over the global batch
        variables = self.generator.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    def set_learning_rate(self, lr: float) -> None:
        self.optimizer.learning_rate.assign(lr)

    def train_step(self, rows: np.ndarray) -> float:
        """One step on the global batch ``rows``; returns its mean squared error."""
        self._optimizer()
        return float(self._step(rows.astype(np.int32)))

    def targets_state(self, chunk_rows: int = 1024) -> ChunkedArray:
        """``targets`` as row chunks read from the device one at a time."""

        def chunks() -> Iterator[np.ndarray]:
            for start in range(0, self.n_codes, chunk_rows):
                yield self.targets[start : start + chunk_rows].numpy()

        return ChunkedArray((self.n_codes, PIXELS), np.uint8, chunks)

    def memorized_images(self, rows: np.ndarray) -> np.ndarray:
        """The targets of ``rows`` as (n, 64, 64, 3) float32."""
        return tf.gather(self.targets, np.asarray(rows, np.int32)).numpy().reshape(-1, 64, 64, 3).astype(np.float32)

    def mean_error(self, rows: np.ndarray, batch: int = 256) -> float:
        """Mean absolute pixel error of G(e_i) against the targets over ``rows``."""
        total = 0.0
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            images = generate(self.generator, chunk[:, None], np.ones((len(chunk), 1), np.float32), batch)
            total += float(np.abs(images - self.memorized_images(chunk)).sum())
        return total / (len(rows) * PIXELS)

    def state(self) -> dict[str, np.ndarray]:
        optimizer = variables_state("optimizer", self.optimizer.variables) if self.optimizer.built else {}
        return {**variables_state("generator", self.generator.weights), **optimizer}

    def load(self, arrays) -> None:
        load_variables("generator", self.generator.weights, arrays)
        if "optimizer/000" in arrays:  # a coach that never trained saved no optimizer state
            load_variables("optimizer", self._optimizer().variables, arrays)


# ---------------------------------------------------------------------------- generalize


def generalize_codes(count: int, n_codes: int, mix: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the generalize step: image k is mix * e_i + (1 - mix) * e_j, i = k mod n, j != i random."""
    cycling = np.arange(count) % n_codes
    rng = np.random.default_rng(seed)
    if n_codes > 1:
        partner = rng.integers(n_codes - 1, size=count)
        partner += partner >= cycling  # any row but the cycling one
    else:
        partner = cycling.copy()
    codes = np.stack([cycling, partner], axis=1).astype(np.int32)
    weights = np.tile(np.array([mix, 1.0 - mix], np.float32), (count, 1))
    return codes, weights


def generate(generator: keras.Model, codes: np.ndarray, weights: np.ndarray, batch: int = 256) -> np.ndarray:
    """G(codes) as (n, 64, 64, 3) float32, in batches of ``batch``."""
    return batched_forward(generator, [np.asarray(codes, np.int32), np.asarray(weights, np.float32)], batch)


def parameter_counts(generator: keras.Model, n_codes: int) -> dict[str, int]:
    """Parameters of each network: the generator and the discriminator's memory."""
    return {"generator": int(generator.count_params()), "discriminator": n_codes * PIXELS}
