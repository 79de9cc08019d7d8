"""Benchmark: upsample-then-convolve on the coarse grid against the plain formulation, in one run.

Run directly: ``python tests/benchmarks/bench_coarse.py``. Float32, on the CPU; each figure is
measured for the plain formulation (coarse_grid=False: UpSampling then Conv2D, conv then pool) and
the coarse one (the default) alternately, with the same weights' shapes:

- memorizer: generation images/s (batches of 256) and the coach phase's seconds per epoch;
- BigGAN at width 32: training images/s (one D and one G step per batch of 64, as the loop runs
  them) and generation images/s (the EMA generator, batches of 256).

Also prints the convolution multiply-adds per image of each formulation, the limit the ratios move
towards, and (``--layers``) each resampling convolution of the BigGAN at width 32 alone, forward and
forward plus backward: where a whole-network ratio falls short of its multiply-adds, which layer.
Goals on 2 cores: memorizer generation 1.8x, coach 1.6x; BigGAN training 1.3x, generation 1.8x.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_models import measure  # noqa: E402
from tests.conftest import varied_images  # noqa: E402
from toolkit.backend import tf  # noqa: E402
from toolkit.models import coarse  # noqa: E402
from toolkit.models.biggan import model as biggan_model  # noqa: E402
from toolkit.models.biggan import networks as biggan_networks  # noqa: E402
from toolkit.models.memorizer.config import MemorizerConfig  # noqa: E402
from toolkit.models.memorizer.model import MemorizerSampler  # noqa: E402
from toolkit.models.memorizer.networks import Coach, build_generator  # noqa: E402

FORMULATIONS = {"plain": False, "coarse": True}


def memorizer_macs(bottleneck: int, coarse_grid: bool) -> int:
    """Convolution multiply-adds per image of the memorizer's generator."""
    total = coarse.conv_macs(8, 8, 3, bottleneck // 64, 128)
    for side, cin, cout in ((8, 128, 64), (16, 64, 32), (32, 32, 3)):
        total += (
            coarse.upsample_conv_macs(side, side, 3, cin, cout)
            if coarse_grid
            else coarse.conv_macs(2 * side, 2 * side, 3, cin, cout)
        )
    return total


def biggan_macs(ch: int, coarse_grid: bool) -> tuple[int, int]:
    """(G, D) convolution and dense multiply-adds per image at width ``ch`` (attention's 1x1
    convolutions and matrix products included; the shortcuts are coarse in both formulations)."""

    def attention(side, c):
        key, value, n = max(1, c // 8), max(1, c // 2), side * side
        return n * c * (2 * key + value) + n * value * c + n * (n // 4) * (key + value)

    g = 20 * 4 * 4 * 16 * ch  # z chunk -> 4x4x16ch (z_dim 120: six chunks of 20)
    widths = [m * ch for m in biggan_networks.G_MULTIPLIERS]
    side = 4
    for cin, cout in zip(widths, widths[1:]):
        up = coarse.upsample_conv_macs(side, side, 3, cin, cout)
        g += up if coarse_grid else coarse.conv_macs(2 * side, 2 * side, 3, cin, cout)
        g += coarse.conv_macs(2 * side, 2 * side, 3, cout, cout) + coarse.conv_macs(side, side, 1, cin, cout)
        side *= 2
        g += attention(side, cout) if side == biggan_networks.ATTENTION_RESOLUTION else 0
    g += coarse.conv_macs(64, 64, 3, ch, 3)
    d, side, cin = 0, 64, 3
    for k, m in enumerate(biggan_networks.D_MULTIPLIERS):
        cout, down = m * ch, k < len(biggan_networks.D_MULTIPLIERS) - 1
        d += coarse.conv_macs(side, side, 3, cin, cout)
        pooled = coarse_grid and down
        d += coarse.conv_pool_macs(side, side, 3, cout, cout) if pooled else coarse.conv_macs(side, side, 3, cout, cout)
        shortcut_side = side // 2 if down and (k == 0 or coarse_grid) else side
        d += coarse.conv_macs(shortcut_side, shortcut_side, 1, cin, cout)
        side //= 2 if down else 1
        d += attention(side, cout) if side == biggan_networks.ATTENTION_RESOLUTION else 0
        cin = cout
    return g, d


@contextlib.contextmanager
def biggan_formulation(coarse_grid: bool):
    """BigGAN's model module builds its networks in the given formulation."""
    saved = biggan_model.build_generator, biggan_model.build_discriminator
    biggan_model.build_generator = functools.partial(biggan_networks.build_generator, coarse_grid=coarse_grid)
    biggan_model.build_discriminator = functools.partial(biggan_networks.build_discriminator, coarse_grid=coarse_grid)
    try:
        yield
    finally:
        biggan_model.build_generator, biggan_model.build_discriminator = saved


def memorizer_generation(coarse_grid: bool, batches: int, n_codes: int = 10_000) -> float:
    """Images/s from the memorizer's sampler, batch by batch as ``pack`` draws them."""
    generator = build_generator(n_codes, 2048, "float32", coarse_grid)
    sampler = MemorizerSampler(generator, n_codes, MemorizerConfig())
    next(sampler.sample(256, seed=1))  # compiles
    start = time.perf_counter()
    count = sum(len(images) for images in sampler.sample(256 * batches, seed=0))
    return count / (time.perf_counter() - start)


def coach_epoch(coarse_grid: bool, images: np.ndarray, steps: int) -> float:
    """Seconds per coach epoch over ``images``, from ``steps`` timed batches of 256."""
    coach = Coach(tf.distribute.get_strategy(), len(images), 2048, lr=0.005, jit=True, coarse_grid=coarse_grid)
    coach.set_targets([images.reshape(len(images), -1)])
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(images), 256, replace=False) for _ in range(steps + 2)]
    for rows in batches[:2]:  # compile
        coach.train_step(rows)
    start = time.perf_counter()
    for rows in batches[2:]:
        coach.train_step(rows)
    per_row = (time.perf_counter() - start) / (256 * steps)
    return per_row * len(images)


def layer_seconds(function, x, kernel, repeats: int = 3, calls: int = 3) -> tuple[float, float]:
    """The best of ``repeats`` mean times of ``function(x, kernel)`` forward, and forward with the
    gradients of a loss on its output to both inputs."""
    forward = tf.function(function)

    @tf.function
    def backward(x, kernel):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = function(x, kernel)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, kernel])

    times = []
    for fn in (forward, backward):
        tf.nest.map_structure(lambda t: t.numpy(), fn(x, kernel))  # traces
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                out = fn(x, kernel)
            tf.nest.map_structure(lambda t: t.numpy(), out)
            best = min(best, (time.perf_counter() - start) / calls)
        times.append(best)
    return times[0], times[1]


def layer_table(width: int = 32, batch: int = 64) -> None:
    """Each up-block's first convolution and each down-block's pooled convolution at ``width``, both
    formulations: milliseconds forward and forward+backward, and the ratios."""
    rng = np.random.default_rng(0)
    g = [m * width for m in biggan_networks.G_MULTIPLIERS]
    d = [m * width for m in biggan_networks.D_MULTIPLIERS]
    layers = [("G up", 4 * 2**k, cin, cout, batch) for k, (cin, cout) in enumerate(zip(g, g[1:]))]
    layers += [("D pool", 64 // 2**k, c, c, 2 * batch) for k, c in enumerate(d[:4])]  # reals and fakes
    plain = {
        "G up": lambda x, k: tf.nn.conv2d(coarse.upsample_nearest(x), k, 1, "SAME"),
        "D pool": lambda x, k: coarse.downsample_mean(tf.nn.conv2d(x, k, 1, "SAME")),
    }
    fast = {"G up": coarse.upsample_conv, "D pool": coarse.conv_pool}
    print(f"BigGAN w{width} resampling convolutions alone, ms (plain -> coarse): forward; forward+backward")
    for kind, side, cin, cout, n in layers:
        x = tf.constant(rng.standard_normal((n, side, side, cin)), tf.float32)
        kernel = tf.constant(rng.standard_normal((3, 3, cin, cout)) * 0.05, tf.float32)
        (pf, pb), (cf, cb) = layer_seconds(plain[kind], x, kernel), layer_seconds(fast[kind], x, kernel)
        print(
            f"  {kind:6s} {side:2d}px {cin:3d}->{cout:3d} x{n:3d}: "
            f"{1e3 * pf:6.1f} -> {1e3 * cf:6.1f} ({pf / cf:4.2f}x); "
            f"{1e3 * pb:6.1f} -> {1e3 * cb:6.1f} ({pb / cb:4.2f}x)"
        )


def line(label: str, values: dict[str, float], unit: str, higher_is_better: bool = True) -> None:
    plain, fast = values["plain"], values["coarse"]
    ratio = fast / plain if higher_is_better else plain / fast
    print(f"{label:34s} plain {plain:9.2f}  coarse {fast:9.2f} {unit:10s} {ratio:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=2000, help="crops the coach and BigGAN train on")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per figure")
    parser.add_argument("--batches", type=int, default=8, help="timed generation batches of 256")
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements; the best counts")
    parser.add_argument("--layers", action="store_true", help="also time each resampling convolution alone")
    args = parser.parse_args()
    images = np.stack(varied_images(args.crops, seed=5))
    print(f"{args.crops} crops, {os.cpu_count()} cores, TensorFlow {tf.__version__}, CPU, float32")
    for name, flag in FORMULATIONS.items():
        g, d = biggan_macs(32, flag)
        memorizer = memorizer_macs(2048, flag) / 1e6
        print(f"MACs/image {name}: memorizer G {memorizer:6.1f} M; BigGAN w32 G {g / 1e6:6.1f} M, D {d / 1e6:6.1f} M")
    figures = {key: {} for key in ("mem_gen", "coach", "bg_train", "bg_gen")}
    for _ in range(args.repeats):
        for name, flag in FORMULATIONS.items():
            measured = {  # the memorizer first: after the BigGAN's gigabytes, its figures wander more
                "mem_gen": memorizer_generation(flag, args.batches),
                "coach": coach_epoch(flag, images, args.steps),
            }
            with biggan_formulation(flag):
                rates, measured["bg_gen"] = measure("biggan", images, args.steps, {"width": 32, "precision": "float32"})
            measured["bg_train"] = rates["gan"][0]
            for key, value in measured.items():
                best = min if key == "coach" else max  # seconds; the rest are rates
                figures[key][name] = best(value, figures[key].get(name, value))
    line("memorizer generation", figures["mem_gen"], "images/s")
    line(f"memorizer coach ({args.crops} crops)", figures["coach"], "s/epoch", higher_is_better=False)
    line("BigGAN w32 training", figures["bg_train"], "images/s")
    line("BigGAN w32 generation", figures["bg_gen"], "images/s")
    if args.layers:
        layer_table()


if __name__ == "__main__":
    main()
