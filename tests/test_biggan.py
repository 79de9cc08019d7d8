"""The BigGAN: spectral norm, DiffAugment, EMA, truncation, the projection discriminator, breed-balanced
labels, parameter counts, and training to the budget, resuming and packing through the command line."""

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from submission import validate_zip
from tests.conftest import history, invoke, latest, run_on_logical_cpus, write_crop_cache
from toolkit.backend import keras, tf
from toolkit.cli import cli
from toolkit.data.crops import TrainingData
from toolkit.models.biggan.augment import (
    CUTOUT_X,
    CUTOUT_Y,
    PARAMETERS,
    SHIFT_X,
    SHIFT_Y,
    brightness,
    contrast,
    cutout,
    diff_augment,
    draw_parameters,
    saturation,
    translate,
)
from toolkit.models.biggan.config import BigganConfig
from toolkit.models.biggan.layers import SNConv2D, SNDense
from toolkit.models.biggan.model import Biggan, balanced_labels, class_table, step_batches, truncated_normal
from toolkit.models.biggan.networks import build_discriminator, build_generator, trainable_count

REPO = Path(__file__).resolve().parents[1]
ALL = ("color", "translation", "cutout")


def images(n=6, seed=0, low=-1.0):
    return tf.constant(np.random.default_rng(seed).uniform(low, 1.0, (n, 64, 64, 3)), tf.float32)


# ---------------------------------------------------------------------------- spectral norm


def test_power_iteration_converges_to_the_largest_singular_value():
    rng = np.random.default_rng(0)
    left, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    right, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    singular = np.array([5.0, 2.0, 1.0, 0.5])
    matrix = (left[:, :4] * singular) @ right.T  # (6, 4) with known singular values
    layer = SNDense(4)
    layer.build((None, 6))
    layer.kernel.assign(matrix.astype(np.float32))
    x = tf.constant(rng.standard_normal((3, 6)), tf.float32)
    for _ in range(30):
        layer(x, training=True)
    assert layer.spectral_norm().numpy() == pytest.approx(5.0, rel=1e-5)
    u = layer.u.numpy().copy()
    out = layer(x, training=False).numpy()
    np.testing.assert_array_equal(layer.u.numpy(), u)  # inference leaves u alone
    np.testing.assert_allclose(out, x.numpy() @ matrix / 5.0, rtol=1e-4, atol=1e-5)
    assert layer.trainable_weights[0] is layer.kernel and not layer.u.trainable

    conv = SNConv2D(5, 3)
    conv.build((None, 8, 8, 2))
    kernel = conv.kernel.numpy().reshape(-1, 5)
    for _ in range(40):
        conv(tf.zeros((1, 8, 8, 2)), training=True)
    assert conv.spectral_norm().numpy() == pytest.approx(np.linalg.svd(kernel, compute_uv=False)[0], rel=1e-4)


# ---------------------------------------------------------------------------- DiffAugment


def test_diff_augment_keeps_shapes_and_ranges_and_differs_per_sample():
    x = images()
    params = draw_parameters(np.random.default_rng(1), 6)
    assert params.shape == (6, PARAMETERS)
    out = diff_augment(x, params, ALL).numpy()
    assert out.shape == (6, 64, 64, 3) and np.isfinite(out).all()
    geometric = diff_augment(x, params, ("translation", "cutout")).numpy()
    assert geometric.min() >= -1.0 and geometric.max() <= 1.0  # moved or zeroed, never changed
    assert np.isin(geometric[geometric != 0], x.numpy()).all()
    # colour: brightness shifts each image by one constant in [-0.5, 0.5); saturation keeps each pixel's
    # channel mean; contrast keeps each image's mean
    shift = (brightness(x, params[:, 0]) - x).numpy()
    np.testing.assert_allclose(shift, np.broadcast_to(params[:, 0, None, None, None] - 0.5, shift.shape), atol=1e-6)
    np.testing.assert_allclose(saturation(x, params[:, 1]).numpy().mean(-1), x.numpy().mean(-1), atol=1e-5)
    np.testing.assert_allclose(contrast(x, params[:, 2]).numpy().mean((1, 2, 3)), x.numpy().mean((1, 2, 3)), atol=1e-5)

    same = tf.repeat(x[:1], 6, axis=0)
    varied = diff_augment(same, params, ALL).numpy()
    assert all(not np.allclose(varied[i], varied[j]) for i in range(6) for j in range(i))


def test_diff_augment_transforms_each_image_by_its_own_row_whatever_the_batch():
    """One transform for the whole batch: an image's result depends on it and its parameter row alone,
    so real and fake batches (and each replica's share of a batch) are augmented alike."""
    x = images(5)
    params = draw_parameters(np.random.default_rng(6), 5)
    batch = diff_augment(x, params, ALL).numpy()
    for i in range(5):
        alone = diff_augment(x[i : i + 1], params[i : i + 1], ALL).numpy()
        np.testing.assert_allclose(batch[i], alone[0], atol=1e-6)
    order = np.array([3, 0, 4, 1, 2])
    shuffled = diff_augment(tf.gather(x, order), params[order], ALL).numpy()
    np.testing.assert_allclose(shuffled, batch[order], atol=1e-6)


def test_diff_augment_passes_gradients():
    x = tf.Variable(images(4).numpy())
    params = draw_parameters(np.random.default_rng(2), 4)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(diff_augment(x, params, ALL) ** 2)
    gradient = tape.gradient(loss, x).numpy()
    assert np.isfinite(gradient).all() and np.abs(gradient).sum() > 0

    params[:, CUTOUT_Y], params[:, CUTOUT_X] = 32, 32
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(diff_augment(x, params, ("cutout",)))
    gradient = tape.gradient(loss, x).numpy()
    assert set(np.unique(gradient)) == {0.0, 1.0}  # zero where cut out, one where kept
    assert (gradient[:, 16:48, 16:48] == 0).all() and (gradient[:, :16] == 1).all()


def test_an_empty_or_switched_off_policy_leaves_images_unchanged():
    x = images(3)
    params = draw_parameters(np.random.default_rng(3), 3)
    for config in (BigganConfig(augment=False), BigganConfig(policy=""), BigganConfig(policy=" , ")):
        assert config.operations == ()
        np.testing.assert_array_equal(diff_augment(x, params, config.operations).numpy(), x.numpy())
    assert BigganConfig().operations == ALL
    with pytest.raises(ValueError, match="policy must name DiffAugment operations among color, translation, cutout"):
        BigganConfig(policy="color,flip")


def test_translation_moves_content_and_pads_with_zeros():
    x = images(2, low=0.1)  # no zeros of its own
    out = translate(x, tf.constant([3, -8]), tf.constant([-2, 5])).numpy()
    x = x.numpy()
    np.testing.assert_array_equal(out[0, :61, 2:], x[0, 3:, :62])
    assert (out[0, 61:] == 0).all() and (out[0, :, :2] == 0).all()
    np.testing.assert_array_equal(out[1, 8:, :59], x[1, :56, 5:])
    assert (out[1, :8] == 0).all() and (out[1, :, 59:] == 0).all()
    params = np.zeros((2, PARAMETERS), np.float32)
    params[:, SHIFT_Y], params[:, SHIFT_X] = [3, -8], [-2, 5]
    np.testing.assert_array_equal(diff_augment(tf.constant(x), params, ("translation",)).numpy(), out)
    drawn = draw_parameters(np.random.default_rng(4), 2000)
    assert set(np.unique(drawn[:, SHIFT_Y : SHIFT_X + 1])) == set(range(-8, 9))  # 1/8 of 64 each way


def test_cutout_zeroes_a_square_of_half_the_side():
    x = images(3, low=0.1)
    out = cutout(x, tf.constant([32, 20, 0]), tf.constant([32, 40, 64])).numpy()
    zero = out.sum(-1) == 0
    assert zero[0, 16:48, 16:48].all() and zero[0].sum() == 32 * 32
    assert zero[1, 4:36, 24:56].all() and zero[1].sum() == 32 * 32
    assert zero[2, :16, 48:].all() and zero[2].sum() == 16 * 16  # clipped at the corner
    np.testing.assert_array_equal(out[~zero], x.numpy()[~zero])
    drawn = draw_parameters(np.random.default_rng(5), 2000)
    assert set(np.unique(drawn[:, CUTOUT_Y : CUTOUT_X + 1])) == set(range(0, 65))


# ---------------------------------------------------------------------------- labels, latents, EMA


def test_classes_are_the_sorted_breeds_with_unknown_as_one_of_them():
    names, labels, counts = class_table(np.array(["pug", "unknown", "akita", "pug", "unknown"]))
    assert list(names) == ["akita", "pug", "unknown"] and list(labels) == [1, 2, 0, 1, 2] and list(counts) == [1, 2, 2]


def test_breed_balanced_labels_follow_the_frequencies():
    counts = np.array([50, 30, 15, 5])
    labels = balanced_labels(counts, 10_000, np.random.default_rng(0))
    assert labels.dtype == np.int32 and list(np.bincount(labels)) == [5000, 3000, 1500, 500]
    uneven = balanced_labels(np.array([1, 1, 1]), 10, np.random.default_rng(0))
    assert sorted(np.bincount(uneven)) == [3, 3, 4]
    odd = balanced_labels(np.array([7, 3, 120, 1, 1]), 999, np.random.default_rng(1))
    assert np.abs(np.bincount(odd, minlength=5) - 999 * np.array([7, 3, 120, 1, 1]) / 132).max() < 1
    seeded = [balanced_labels(counts, 500, np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    assert not np.array_equal(labels[:500], balanced_labels(counts, 10_000, np.random.default_rng(1))[:500])


def test_truncation_keeps_every_latent_inside_the_bound():
    for bound in (0.1, 0.5, 2.0):
        z = truncated_normal(np.random.default_rng(0), (2000, 120), bound)
        assert z.dtype == np.float32 and np.abs(z).max() <= bound
        density = math.exp(-(bound**2) / 2) / math.sqrt(2 * math.pi)
        std = math.sqrt(1 - 2 * bound * density / math.erf(bound / math.sqrt(2)))  # of N(0, 1) cut at +-bound
        assert np.abs(z).max() > 0.99 * bound and z.std() == pytest.approx(std, rel=0.02)  # resampled, not clipped
    assert np.abs(truncated_normal(np.random.default_rng(0), (2000, 120), None)).max() > 3  # off
    with pytest.raises(ValueError, match="truncation must be at least 0.1 or off"):
        BigganConfig(truncation=0.01)


def test_step_batches_cover_an_epoch_in_steps_of_d_steps_batches():
    steps = step_batches(np.random.default_rng(0), 103, 10, 2)
    assert [s.shape for s in steps] == [(10, 2)] * 5 + [(1, 2)]
    rows = np.concatenate([s.ravel() for s in steps])
    assert len(np.unique(rows)) == 102  # one row waits for the next epoch


@pytest.fixture(scope="module")
def tiny_model():
    rng = np.random.default_rng(0)
    data = TrainingData(
        rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8), np.array(["a", "b", "unknown", "b"] * 4), None, ""
    )
    config = BigganConfig(width=4, batch_size=8, ema_start=3, ema_decay=0.9)
    return Biggan(config, data, tf.distribute.get_strategy(), rng, jit=True)


def test_ema_arithmetic_and_warm_up(tiny_model):
    model = tiny_model
    assert [model.ema_decay(step) for step in (1, 3, 4, 100)] == [0.0, 0.0, 0.9, 0.9]
    rng = np.random.default_rng(1)
    for weight in model.generator.weights:
        weight.assign(weight.numpy() + rng.standard_normal(weight.shape).astype(np.float32))
    before = [w.numpy() for w in model.ema.weights]
    trained = [w.numpy() for w in model.generator.weights]
    model.update_ema(0.9)
    kinds = set()
    for weight, ema, old, new in zip(model.generator.weights, model.ema.weights, before, trained):
        if weight.trainable:
            np.testing.assert_allclose(ema.numpy(), 0.9 * old + 0.1 * new, rtol=1e-5, atol=1e-6)
            kinds.add("averaged")
        elif weight.name == "sn_u":
            np.testing.assert_array_equal(ema.numpy(), new)  # power iteration runs in the trained generator
            kinds.add("copied")
        else:
            np.testing.assert_array_equal(ema.numpy(), old)  # batch statistics: standing, made before sampling
            kinds.add("standing")
    assert kinds == {"averaged", "copied", "standing"}
    model.update_ema(0.0)  # during the warm-up: a copy
    for weight, ema in zip(model.generator.trainable_weights, model.ema.trainable_weights):
        np.testing.assert_array_equal(ema.numpy(), weight.numpy())


def test_standing_statistics_are_the_ema_generators_own(tiny_model):
    model = tiny_model
    grid = model.grid()
    assert grid.shape == (512, 512, 3) and grid.dtype == np.uint8
    stats = {w.path: w.numpy() for w in model.ema.weights if w.name in ("moving_mean", "moving_variance")}
    assert stats and all(np.isfinite(v).all() for v in stats.values())
    assert any(not np.allclose(v, 0) and not np.allclose(v, 1) for v in stats.values())
    again = model.grid()  # seeded: the same statistics and the same grid
    np.testing.assert_array_equal(grid, again)
    first = sampled(model, 20, seed=3)
    assert first.shape == (20, 64, 64, 3) and 0 <= first.min() and first.max() <= 255
    np.testing.assert_array_equal(first, sampled(model, 20, seed=3))


def sampled(model, count: int, seed: int) -> np.ndarray:
    """The first batch that `dogkit pack` would make from the model as it is."""
    from toolkit.train.checkpoint import StateArrays

    return next(Biggan.sampler(model.config, StateArrays.of(model.state())).sample(count, seed))


MIRRORED_SCRIPT = """
import numpy as np
from toolkit.backend import tf
from toolkit.data.crops import TrainingData
from toolkit.models.biggan.config import BigganConfig
from toolkit.models.biggan.model import Biggan
from toolkit.train.distribute import select_strategy

strategy = select_strategy("mirrored")
rng = np.random.default_rng(0)
data = TrainingData(rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8), np.array(["a", "b"] * 8), None, "")
model = Biggan(BigganConfig(width=4, batch_size=8, ema_start=1), data, strategy, rng, jit=True)
metrics = [model.train_step(np.arange(8)) for _ in range(3)]
state = [w for net in (model.generator, model.discriminator, model.ema) for w in net.weights]
copies = [[c.numpy() for c in strategy.experimental_local_results(w.value)] for w in state]
assert all(len(c) == 2 for c in copies)
apart = max(float(np.abs(a - b).max()) for a, b in copies)
print(strategy.num_replicas_in_sync, all(np.isfinite(list(m.values())).all() for m in metrics), apart)
"""


@pytest.mark.slow  # about 45 s: TensorFlow starts and compiles the step for two replicas
def test_a_step_under_the_mirrored_strategy_keeps_the_replicas_equal():
    """Two logical CPUs: gradients, spectral-norm vectors, batch statistics and the EMA stay one value."""
    done = run_on_logical_cpus(MIRRORED_SCRIPT)
    assert done.returncode == 0, done.stderr[-3000:]
    replicas, finite, apart = done.stdout.split()
    assert replicas == "2" and finite == "True" and float(apart) == 0.0


@pytest.mark.slow  # about 25 s: float16 kernels are slow on CPUs
def test_mixed_precision_trains_and_its_loss_scales_round_trip(tmp_path):
    """The GPU default (mixed_float16), on the CPU: hidden layers in float16, the RGB output and the
    discriminator's head in float32, the loss scales saved and loaded with the optimizers."""
    from toolkit.train.checkpoint import ArrayFile, write_arrays

    rng = np.random.default_rng(0)
    data = TrainingData(rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8), np.array(["a", "b"] * 8), None, "")
    config = BigganConfig(width=4, batch_size=8, precision="mixed_float16", ema_start=1)
    model = Biggan(config, data, tf.distribute.get_strategy(), rng, jit=True)
    metrics = [model.train_step(np.arange(8)) for _ in range(2)]
    assert all(np.isfinite(list(m.values())).all() for m in metrics)
    assert model.generator.get_layer("block1").dtype_policy.name == "mixed_float16"
    assert model.generator.output.dtype == "float32" and model.discriminator.output.dtype == "float32"
    write_arrays(tmp_path / "gan.npz", model.state()["gan"].arrays)
    again = Biggan(config, data, tf.distribute.get_strategy(), np.random.default_rng(1), jit=True)
    again.load({"gan": ArrayFile(tmp_path / "gan.npz")})
    assert again.g_steps == 2
    for mine, theirs in zip(again.g_optimizer.variables, model.g_optimizer.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())  # the loss scale and its counter among them
    np.testing.assert_array_equal(sampled(again, 4, seed=1), sampled(model, 4, seed=1))


# ---------------------------------------------------------------------------- the discriminator


def test_the_projection_term_uses_the_label():
    config = BigganConfig(width=4)
    discriminator = build_discriminator(config, classes=5)
    x = images(4)
    labels = tf.constant([0, 1, 2, 3], tf.int32)
    other = tf.constant([4, 1, 0, 3], tf.int32)  # only the first and third change
    logits = discriminator([x, labels], training=False).numpy()
    changed = discriminator([x, other], training=False).numpy()
    assert logits.shape == (4,) and abs(logits[0] - changed[0]) > 1e-4 and abs(logits[2] - changed[2]) > 1e-4
    np.testing.assert_allclose(logits[[1, 3]], changed[[1, 3]], rtol=1e-6)

    features = keras.Model(discriminator.inputs, discriminator.get_layer("pooled").output)([x, labels]).numpy()
    head = discriminator.get_layer("projection")
    linear = features @ head.linear.normalized_kernel().numpy()[:, 0] + head.linear.bias.numpy()[0]
    embedding = head.embedding.normalized_kernel().numpy()  # (classes, 16 ch), spectrally normalised
    projection = (embedding[labels.numpy()] * features).sum(-1)
    np.testing.assert_allclose(logits - linear, projection, rtol=1e-4, atol=1e-4)
    difference = ((embedding[other.numpy()] - embedding[labels.numpy()]) * features).sum(-1)
    np.testing.assert_allclose(changed - logits, difference, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------------- parameter counts


def expected_counts(ch: int, classes: int, z_dim: int = 120, shared: int = 128) -> tuple[int, int]:
    """Trainable parameters by hand: a conv k x k a -> b with bias is k*k*a*b + b, and so on."""
    cond = shared + z_dim // 5

    def g_block(a, b):  # two CBNs (gain and bias linears, no bias), conv3x3 x2, shortcut conv1x1
        return 2 * cond * a + 2 * cond * b + (9 * a * b + b) + (9 * b * b + b) + (a * b + b)

    def d_block(a, b):  # conv3x3 a->b, conv3x3 b->b, shortcut conv1x1 a->b
        return (9 * a * b + b) + (9 * b * b + b) + (a * b + b)

    def attention(c):  # theta, phi c -> c/8, g c -> c/2, o c/2 -> c (at least one channel each), no biases; gamma
        key, value = max(1, c // 8), max(1, c // 2)
        return 2 * c * key + 2 * c * value + 1

    g = classes * shared + (z_dim // 5 + 1) * 16 * 16 * ch  # shared embedding, linear z0 -> 4x4x16ch
    g += sum(g_block(a * ch, b * ch) for a, b in [(16, 8), (8, 4), (4, 2), (2, 1)])
    g += attention(2 * ch) + 2 * ch + (9 * ch * 3 + 3)  # attention at 32x32; BN scale and offset; RGB conv
    d = d_block(3, ch) + sum(d_block(a * ch, b * ch) for a, b in [(1, 2), (2, 4), (4, 8), (8, 16)])
    d += attention(ch) + (16 * ch + 1) + classes * 16 * ch  # attention at 32x32; linear; class embedding
    return g, d


def test_parameter_counts_at_the_default_width():
    config = BigganConfig()
    generator, discriminator = build_generator(config, 120), build_discriminator(config, 120)
    counts = trainable_count(generator), trainable_count(discriminator)
    print(f"\nBigGAN width {config.width}, 120 classes: generator {counts[0]:,}, discriminator {counts[1]:,}")
    assert counts == expected_counts(config.width, 120) == (3_189_572, 4_950_626)
    assert expected_counts(4, 5) == (
        trainable_count(build_generator(BigganConfig(width=4), 5)),
        trainable_count(build_discriminator(BigganConfig(width=4), 5)),
    )
    assert generator.output_shape == (None, 64, 64, 3) and discriminator.output_shape == (None,)


# ---------------------------------------------------------------------------- the command line


@pytest.mark.slow
def test_train_to_the_budget_resume_after_a_signal_and_pack(tmp_path, caplog):
    """The budget ends a run (a phase without an epoch count is never complete); a resumed run killed
    by SIGTERM after some epochs keeps each epoch once; packing is seeded."""
    caplog.set_level("INFO", logger="dogkit")
    cache = write_crop_cache(tmp_path / "crops.npz", 96, seed=9)
    run = tmp_path / "run"
    from toolkit import models
    from toolkit.train.loop import TrainConfig, train

    # 40 s, of which starting and the time kept for packing take most: a short run, ended by the budget
    # (the command line would refuse a budget leaving less than a minute of training; the loop is told less)
    config = TrainConfig(data=cache, run=run, budget_s=40.0, min_train_s=5.0)
    first = train(config, models.get("biggan"), {"width": 4, "batch_size": 32, "ema_start": 3})
    assert not first.complete and first.steps >= 1
    assert "parameters: generator 120,780, discriminator 77,206" in caplog.text
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "biggan" and config["model_config"]["epochs"] is None
    assert config["parameters"] == dict(zip(("generator", "discriminator"), expected_counts(4, 5)))
    before = latest(run)["position"]
    assert before["steps"] >= 1 and not before["complete"]

    resumed = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "train", "--run", str(run), "--budget", "600", "--resume"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(history(run)) < before["history_rows"] + 2:
            assert resumed.poll() is None, "training ended early: " + resumed.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "training made no progress"
            time.sleep(0.1)
        resumed.send_signal(signal.SIGTERM)
        _, stderr = resumed.communicate(timeout=60)
    finally:
        if resumed.poll() is None:
            resumed.kill()
    assert resumed.returncode == 143 and "resuming" in stderr and "stopped by SIGTERM (gan phase" in stderr, stderr
    rows = history(run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))  # continued; none twice, none lost
    after = latest(run)["position"]
    assert after["history_rows"] == len(rows) and after["steps"] >= before["steps"] + 3 * 2
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "ema_decay"):
        assert all(np.isfinite(float(r[name])) for r in rows), name
    assert float(rows[-1]["ema_decay"]) == pytest.approx(0.999)  # past the 3 steps of copying
    assert (run / "samples" / f"{len(rows):05d}_epoch.png").is_file()

    a, b, c = tmp_path / "a.zip", tmp_path / "b.zip", tmp_path / "c.zip"
    for out in (a, b):
        packed = invoke("pack", "--run", run, "--out", out, "--count", 120, "--seed", 5)
        assert packed.exit_code == 0, packed.output
    assert validate_zip(a, count=120).ok and a.read_bytes() == b.read_bytes()
    truncated = invoke("pack", "--run", run, "--out", c, "--count", 120, "--seed", 5, "--option", "truncation=0.5")
    assert truncated.exit_code == 0, truncated.output
    assert validate_zip(c, count=120).ok and c.read_bytes() != a.read_bytes()
    refused = CliRunner().invoke(
        cli, ["pack", "--run", str(run), "--out", str(tmp_path / "d.zip"), "--option", "width=8"]
    )
    assert refused.exit_code == 1 and "cannot change at sampling time" in refused.output


def test_the_config_imports_no_tensorflow_and_help_lists_the_options():
    code = "import sys, toolkit.models.biggan.config; assert not {'tensorflow', 'numpy'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
    shown = invoke("train", "--help").output
    for text in (
        "biggan:",
        "width=32",
        "d_steps=1",
        "policy=color,translation,cutout",
        "truncation=off",
        "epochs=budget",
    ):
        assert text in shown, text
