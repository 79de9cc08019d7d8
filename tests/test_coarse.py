"""Upsample-then-convolve and convolve-then-pool on the coarse grid equal the plain formulations:
the functions (forward and gradients), the networks built either way with the same weights, and
the generators of run folders written by dogkit 0.1.0 (the plain formulation)."""

import json
from pathlib import Path

import numpy as np
import pytest

from toolkit.backend import tf
from toolkit.models import coarse
from toolkit.models.biggan.config import BigganConfig
from toolkit.models.biggan.networks import build_discriminator
from toolkit.models.biggan.networks import build_generator as build_biggan_generator
from toolkit.models.memorizer.networks import build_generator as build_memorizer_generator
from toolkit.train.checkpoint import ArrayFile
from toolkit.train.variables import load_variables

OLD = Path(__file__).parent / "data" / "runs-0.1.0"


def plain_upsample_conv(x, kernel):
    return tf.nn.conv2d(coarse.upsample_nearest(x), kernel, strides=1, padding="SAME")


def plain_conv_pool(x, kernel):
    return coarse.downsample_mean(tf.nn.conv2d(x, kernel, strides=1, padding="SAME"))


def values_and_gradients(function, x, kernel, seed):
    """function(x, kernel) and the gradients of <function(x, kernel), r> for a fixed random r."""
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        out = function(x, kernel)
        r = tf.random.stateless_normal(tf.shape(out), (seed, 0))
        loss = tf.reduce_sum(out * r)
    return [out.numpy(), *(g.numpy() for g in tape.gradient(loss, [x, kernel]))]


def assert_close(new, old, rtol=1e-5, floor=1e-6):
    """Equal to float32 rounding, relative to the array's scale (at least ``floor``)."""
    scale = np.abs(old).max()
    assert np.abs(new - old).max() <= rtol * max(scale, floor)


def assert_all_close(new, old, rtol=1e-5):
    """Pairwise equal to rounding; an array that should be zero (a bias before a batch norm gets no
    gradient) holds rounding noise, measured against the largest of the arrays."""
    floor = 1e-2 * max(np.abs(b).max() for b in old)
    for a, b in zip(new, old):
        assert_close(a, b, rtol, floor)


def gradients(tape, loss, model):
    return [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_weights)]


# (coarse side, channels in, kernel): the memorizer's 8, 16, 32 -> 64 px, BigGAN's 4..32 -> 64 px
# (generator, 1x1 shortcut and 3x3) and its discriminator's 64..8 px, plus odd and non-square maps
SHAPES = [(4, 5, 3), (8, 6, 3), (16, 4, 3), (32, 3, 3), (4, 5, 1), (16, 3, 1), (5, 2, 3), (3, 2, 3)]


def assert_same_function(new_fn, old_fn, x_shape, channels_out, size, seed) -> tuple[int, ...]:
    """``new_fn`` and ``old_fn`` agree, values and gradients, on random input and kernel; the output shape."""
    rng = np.random.default_rng(seed * 10 + size)
    x = tf.constant(rng.normal(size=x_shape).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(size, size, x_shape[-1], channels_out)).astype(np.float32))
    new = values_and_gradients(new_fn, x, kernel, seed=seed)
    old = values_and_gradients(old_fn, x, kernel, seed=seed)
    for a, b in zip(new, old):
        assert_close(a, b)
    return new[0].shape


@pytest.mark.parametrize("side, channels, size", SHAPES)
def test_upsample_conv_equals_upsampling_then_convolving(side, channels, size):
    shape = assert_same_function(
        coarse.upsample_conv, plain_upsample_conv, (3, side, side + 1, channels), 7, size, seed=side
    )
    assert shape == (3, 2 * side, 2 * side + 2, 7)


@pytest.mark.parametrize("side, channels, size", [(64, 3, 3), (32, 4, 3), (16, 5, 3), (8, 3, 3), (8, 3, 1), (6, 2, 3)])
def test_conv_pool_equals_convolving_then_pooling(side, channels, size):
    shape = assert_same_function(coarse.conv_pool, plain_conv_pool, (2, side, side + 2, channels), 5, size, seed=side)
    assert shape == (2, side // 2, side // 2 + 1, 5)


def test_derived_kernels_are_sums_of_the_taps():
    kernel = tf.reshape(tf.range(9, dtype=tf.float32), (3, 3, 1, 1))  # k[t, u] = 3t + u
    up = coarse.upsample_kernel(kernel)[:, :, 0, 0].numpy()
    taps = [[2], [1, 2], [0, 1], [0]]  # (k2, k1+k2, k0+k1, k0) per axis
    expected = [[sum(3 * t + u for t in rows for u in cols) for cols in taps] for rows in taps]
    np.testing.assert_array_equal(up, expected)
    with pytest.raises(ValueError, match="1x1 and 3x3"):
        coarse.upsample_conv(tf.zeros((1, 2, 2, 1)), tf.zeros((5, 5, 1, 1)))


def test_the_coarse_grid_computes_fewer_multiply_adds():
    assert coarse.conv_macs(64, 64, 3, 32, 3) == 64 * 64 * 9 * 32 * 3
    assert coarse.upsample_conv_macs(32, 32, 3, 32, 3) * 9 == coarse.conv_macs(64, 64, 3, 32, 3) * 4
    assert coarse.upsample_conv_macs(32, 32, 1, 32, 3) * 4 == coarse.conv_macs(64, 64, 1, 32, 3)
    assert coarse.conv_pool_macs(64, 64, 3, 32, 3) * 9 == coarse.conv_macs(64, 64, 3, 32, 3) * 4


def copy_weights(source, target):
    assert [w.shape for w in source.weights] == [w.shape for w in target.weights]
    for s, t in zip(source.weights, target.weights):
        t.assign(s)


def test_memorizer_generators_agree_forward_and_backward():
    kwargs = {"n_codes": 6, "bottleneck": 128, "precision": "float32"}
    new, old = build_memorizer_generator(**kwargs), build_memorizer_generator(**kwargs, coarse_grid=False)
    copy_weights(old, new)
    codes = tf.constant([[0, 3], [5, 1], [2, 2]], tf.int32)
    weights = tf.constant([[0.7, 0.3], [0.5, 0.5], [1.0, 0.0]], tf.float32)
    results = []
    for model in (new, old):
        with tf.GradientTape() as tape:
            images = model([codes, weights])
            loss = tf.reduce_sum(images * tf.random.stateless_normal(images.shape, (1, 2)))
        results.append([images.numpy(), *gradients(tape, loss, model)])
    assert_all_close(*results)


def test_biggan_networks_agree_forward_and_backward():
    config = BigganConfig(width=4, z_dim=20, shared_dim=8)
    z = tf.random.stateless_normal((4, 20), (3, 4))
    labels = tf.constant([0, 1, 2, 1])
    images = tf.random.stateless_uniform((4, 64, 64, 3), (5, 6))
    for build, inputs in (
        (lambda **k: build_biggan_generator(config, 3, **k), [z, labels]),
        (lambda **k: build_discriminator(config, 3, **k), [images, labels]),
    ):
        new, old = build(coarse_grid=True), build(coarse_grid=False)
        copy_weights(old, new)
        results = []
        for model in (new, old):
            with tf.GradientTape() as tape:
                out = model(inputs, training=True)  # training: batch statistics, power iterations
                loss = tf.reduce_sum(out * tf.random.stateless_normal(out.shape, (1, 2)))
            # the u vectors and batch statistics moved alike too
            state = [w.numpy() for w in model.non_trainable_weights]
            results.append([out.numpy(), *gradients(tape, loss, model), *state])
        # training-mode batch norm divides by batch statistics of 4 images, which amplifies the
        # rounding of differently ordered sums (the full suite's CPU kernels gave 3e-3 in CI)
        assert_all_close(*results, rtol=1e-2)


def test_an_old_memorizer_checkpoint_gives_the_same_images():
    config = json.loads((OLD / "memorizer" / "config.json").read_text())["model_config"]
    arrays = ArrayFile(OLD / "memorizer" / "checkpoints" / "coach-000007.npz")
    n_codes = arrays.shape("generator/000")[0]
    images = []
    for coarse_grid in (True, False):
        generator = build_memorizer_generator(n_codes, config["bottleneck"], "float32", coarse_grid=coarse_grid)
        load_variables("generator", generator.weights, arrays)
        codes = tf.constant([[i, (i + 1) % n_codes] for i in range(n_codes)], tf.int32)
        images.append(generator([codes, tf.fill(codes.shape, 0.5)]).numpy())
    assert images[0].std() > 1.0  # trained images, not a constant
    assert_close(*images)


def test_an_old_biggan_checkpoint_gives_the_same_images():
    saved = json.loads((OLD / "biggan" / "config.json").read_text())["model_config"]
    config = BigganConfig(width=saved["width"], z_dim=saved["z_dim"], shared_dim=saved["shared_dim"])
    arrays = ArrayFile(OLD / "biggan" / "checkpoints" / "gan-000001.npz")
    classes = len(np.asarray(arrays["class_counts"]))
    z = tf.random.stateless_normal((6, config.z_dim), (7, 8))
    labels = tf.constant([i % classes for i in range(6)])
    images = []
    for coarse_grid in (True, False):
        generator = build_biggan_generator(config, classes, ema=True, coarse_grid=coarse_grid)
        load_variables("ema", generator.weights, arrays)
        images.append(generator([z, labels]).numpy())
    assert images[0].std() > 0.01
    assert_close(*images)
