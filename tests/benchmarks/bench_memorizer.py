"""Benchmark: the memorizer's memorize and coach phases, dogkit against the reference formulation.

Run directly: ``python tests/benchmarks/bench_memorizer.py``. On 10,000 synthetic crops, batches
of 256, on the CPU, in the same run:

- reference: one-hot codes through Dense layers, as the original notebook builds the model:
  memorize = Dense(12288, sigmoid) on a 10,000-wide one-hot code, binary cross-entropy, Adam 0.5;
  coach = generator Dense(2048, ELU) on the one-hot code, then the convolutions, against
  255 * sigmoid(frozen memory Dense(one-hot)), MSE, Adam 0.005;
- dogkit: the memory table with lazy-exact Adam, and the generator with a code table.

Both start from the same weights and see the same batches, so their errors after the same
epochs can be compared. Prints seconds per epoch, ratios, and mean absolute pixel errors.
Goals on 2 cores: memorize >= 100x faster, coach >= 2x (3x worth chasing).

It then splits a memorize step (one block of (256, [x, m, v], 12288)) into what it costs: the
bare memory traffic (read the block and its targets, write the block), dogkit's step without
the batch loss, and with it.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import varied_images  # noqa: E402
from toolkit.backend import keras, tf  # noqa: E402
from toolkit.models.memorizer.networks import (  # noqa: E402
    PIXELS,
    Coach,
    MemoryTable,
    adam_block_step,
    generate,
    resolve_precision,
)

BATCH = 256


def batches_for(epochs: int, n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        [np.sort(p[s : s + BATCH]) for s in range(0, n, BATCH)] for p in (rng.permutation(n) for _ in range(epochs))
    ]


def reference_memory(init: np.ndarray) -> keras.Model:
    n, pixels = init.shape
    codes = keras.Input((n,))
    memory = keras.layers.Dense(pixels, activation="sigmoid", use_bias=False, name="memory")
    model = keras.Model(codes, memory(codes))
    memory.kernel.assign(init)
    model.compile(optimizer=keras.optimizers.Adam(0.5), loss="binary_crossentropy")
    return model


def reference_coach(dogkit_generator: keras.Model, memory_logits: np.ndarray) -> keras.Model:
    """Generator on one-hot codes + frozen memory, with the same starting weights as dogkit's."""
    n = memory_logits.shape[0]
    code = keras.Input((n,))
    table = dogkit_generator.get_layer("code_table")
    dense = keras.layers.Dense(table.width, activation="elu")
    h = keras.layers.Reshape((8, 8, table.width // 64))(dense(code))
    convs = []
    for filters in (128, 64, 32):
        conv = keras.layers.Conv2D(filters, 3, padding="same", activation="elu")
        convs.append(conv)
        h = keras.layers.UpSampling2D(2)(conv(h))
    rgb = keras.layers.Conv2D(3, 3, padding="same")
    convs.append(rgb)
    generated = rgb(h)
    memory = keras.layers.Dense(PIXELS, activation="sigmoid", use_bias=False, trainable=False)
    target = keras.layers.Rescaling(255.0)(keras.layers.Reshape((64, 64, 3))(memory(code)))
    model = keras.Model(code, keras.layers.Subtract()([generated, target]))  # fitted to zeros: MSE(G, target)
    memory.kernel.assign(memory_logits)
    dense.kernel.assign(table.table.numpy())
    dense.bias.assign(table.bias.numpy())
    theirs = [layer for layer in dogkit_generator.layers if isinstance(layer, keras.layers.Conv2D)]
    for mine, source in zip(convs, theirs):
        mine.kernel.assign(source.kernel.numpy())
        mine.bias.assign(source.bias.numpy())
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="mse")
    return model


def memorize_ceilings(n: int, repeats: int = 80) -> dict[str, float]:
    """Seconds per step: bare memory traffic, and dogkit's block step without and with its loss."""
    rng = np.random.default_rng(5)
    logits = rng.uniform(-3, 3, (BATCH, PIXELS))
    init = np.stack([logits, np.full_like(logits, 1e-3), np.full_like(logits, 1e-4)], axis=1).astype(np.float32)
    blocks = [tf.Variable(init) for _ in range(n // BATCH)]
    spare = tf.Variable(tf.zeros_like(blocks[0]))
    targets = [tf.constant(rng.integers(0, 256, (BATCH, PIXELS), dtype=np.uint8)) for _ in blocks]
    scalars = [tf.constant(v, tf.float32) for v in (0.3, 0.99, 0.9, 0.999, 0.1, 1e-6)]

    @tf.function(jit_compile=True)
    def traffic(src, dst, t8, *args):  # read the block and its targets, write the block
        state = src.read_value()
        t = tf.cast(t8, tf.float32)
        dst.assign(tf.stack([state[:, 0] + state[:, 1] * t, state[:, 1] + state[:, 2], state[:, 2] * 0.5], axis=1))
        return tf.constant(0.0)

    results = {}
    for name, step in (
        ("memory traffic only", traffic),
        ("Adam step without the loss", functools.partial(adam_block_step, with_loss=False)),
        ("Adam step with the loss (dogkit's)", adam_block_step),
    ):
        order = rng.integers(len(blocks), size=repeats + 5)
        for i, k in enumerate(order):
            if i == 5:
                start = time.perf_counter()
            float(step(blocks[k], spare, targets[k], *scalars))
            blocks[k], spare = spare, blocks[k]
        results[name] = (time.perf_counter() - start) / repeats
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=10_000)
    parser.add_argument("--memorize-epochs", type=int, default=3, help="epochs of each memorize run (first: warm-up)")
    parser.add_argument("--coach-epochs", type=int, default=1)
    parser.add_argument("--no-ceilings", action="store_true", help="skip the memorize-step ceilings")
    args = parser.parse_args()
    n = args.crops
    crops = np.stack(varied_images(n, seed=11)).reshape(n, PIXELS)
    steps = -(-n // BATCH)
    print(
        f"{n} crops, batches of {BATCH} ({steps} steps per epoch), {os.cpu_count()} cores, TensorFlow {tf.__version__}"
    )

    # ---------------------------------------------------------------- memorize
    table = MemoryTable(crops, seed=0, block_rows=BATCH)
    init = table.logits().copy()
    block_order = np.random.default_rng(1)
    plan = [table.epoch_blocks(block_order) for _ in range(args.memorize_epochs)]
    ours = []
    for epoch in plan:
        start = time.perf_counter()
        for rows in epoch:
            table.train_step(rows, 0.5)
        ours.append(time.perf_counter() - start)
    table.flush()
    ours_error = np.abs(table.images().reshape(n, -1) - crops).mean()

    reference = reference_memory(init)
    eye = np.eye(n, dtype=np.float32)
    targets01 = crops / np.float32(255)
    theirs = []
    for epoch in plan:
        start = time.perf_counter()
        for rows in epoch:
            reference.train_on_batch(eye[rows], targets01[rows])
        theirs.append(time.perf_counter() - start)
    kernel = reference.get_layer("memory").kernel.numpy()
    theirs_error = np.abs(255 / (1 + np.exp(-kernel)) - crops).mean()
    ours_epoch = float(np.mean(ours[1:] or ours))  # the first epoch compiles the step
    theirs_epoch = float(np.mean(theirs[1:] or theirs))
    print("memorize")
    print(f"  dogkit    {ours_epoch:8.2f} s/epoch ({1e3 * ours_epoch / steps:7.1f} ms/step)")
    print(f"  reference {theirs_epoch:8.2f} s/epoch ({1e3 * theirs_epoch / steps:7.1f} ms/step)")
    print(f"  ratio     {theirs_epoch / ours_epoch:8.1f}x faster")
    print(
        f"  after {len(plan)} epochs, mean absolute pixel error of 255*sigmoid(D) against the crops: "
        f"dogkit {ours_error:.3f}, reference {theirs_error:.3f}"
    )
    del reference, eye, kernel
    if not args.no_ceilings:
        print("memorize step, split (ratios against the reference step of this run)")
        for name, seconds in memorize_ceilings(n).items():
            print(f"  {name:36s} {1e3 * seconds:6.2f} ms/step  ratio {theirs_epoch / steps / seconds:6.1f}x")

    # ---------------------------------------------------------------- coach
    logits = table.logits()
    targets = table.images()
    plan = batches_for(args.coach_epochs + 1, n, seed=2)
    warm_up, epochs = plan[0][:2], plan[1:]
    results = {}
    for precision in dict.fromkeys(("float32", resolve_precision("auto"))):
        keras.utils.set_random_seed(3)
        coach = Coach(tf.distribute.get_strategy(), n, 2048, 0.005, jit=True, precision=precision)
        coach.set_targets([np.rint(targets.reshape(n, -1)).astype(np.uint8)])
        if precision == "float32":
            reference = reference_coach(coach.generator, logits)
        state = coach.state()
        for rows in warm_up:
            coach.train_step(rows)
        coach.load(state)  # the warm-up only compiles; start from the same weights as the reference
        timings = []
        for epoch in epochs:
            start = time.perf_counter()
            for rows in epoch:
                coach.train_step(rows)
            timings.append(time.perf_counter() - start)
        rows = np.arange(0, n, 7)
        images = generate(coach.generator, rows[:, None], np.ones((len(rows), 1), np.float32))
        results[precision] = (float(np.mean(timings)), np.abs(images - targets[rows]).mean())

    eye = np.eye(n, dtype=np.float32)
    zeros = np.zeros((BATCH, 64, 64, 3), np.float32)
    timings = []
    for epoch in epochs:
        start = time.perf_counter()
        for rows in epoch:
            reference.train_on_batch(eye[rows], zeros[: len(rows)])
        timings.append(time.perf_counter() - start)
    check = np.arange(0, n, 7)
    difference = reference.predict(eye[check], batch_size=BATCH, verbose=0)  # G - target
    theirs_epoch, theirs_error = float(np.mean(timings)), np.abs(difference).mean()
    print("coach")
    for precision, (seconds, error) in results.items():
        print(
            f"  dogkit ({precision:8s}) {seconds:7.2f} s/epoch ({1e3 * seconds / steps:6.1f} ms/step)  "
            f"ratio {theirs_epoch / seconds:4.1f}x  error {error:.3f}"
        )
    print(
        f"  reference          {theirs_epoch:7.2f} s/epoch ({1e3 * theirs_epoch / steps:6.1f} ms/step)  "
        f"           error {theirs_error:.3f}"
    )
    print(f"  (error: mean absolute pixel error of G(e_i) against 255*sigmoid(D_i) after {len(epochs)} epoch(s))")


if __name__ == "__main__":
    main()
