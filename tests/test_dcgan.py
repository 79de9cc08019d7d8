"""The seed projects' DCGANs: exact architectures, training within the budget, resume, packing, visuals."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from submission import validate_zip
from tests.conftest import history, invoke, write_crop_cache
from toolkit.backend import keras, tf
from toolkit.cli import cli
from toolkit.models.dcgan.config import DcganConfig, RadfordConfig
from toolkit.models.dcgan.model import flip_images
from toolkit.models.dcgan.networks import (
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_radford_discriminator,
    build_radford_generator,
)


def test_dcgan_has_exactly_the_seed_projects_parameter_counts():
    generator, discriminator = build_dcgan_generator(), build_dcgan_discriminator()
    assert generator.count_params() == 2_733_507
    assert discriminator.count_params() == 242_561
    assert generator.output_shape == (None, 64, 64, 3) and discriminator.output_shape == (None, 1)
    kinds = [type(layer).__name__ for layer in generator.layers]
    assert kinds == [
        "Dense", "BatchNormalization", "LeakyReLU", "Reshape",
        "Conv2DTranspose", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose", "BatchNormalization", "LeakyReLU",
        "Conv2DTranspose",
    ]  # fmt: skip
    assert [layer.kernel_size for layer in generator.layers if hasattr(layer, "kernel_size")] == [(5, 5)] * 3
    assert generator.layers[-1].activation.__name__ == "tanh"


def test_radford_architecture():
    generator, discriminator = build_radford_generator(), build_radford_discriminator()
    transposed = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in transposed] == [512, 256, 128, 64, 3]
    assert all(layer.kernel_size == (4, 4) for layer in transposed)
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in generator.layers) == 4
    assert sum(isinstance(layer, keras.layers.ReLU) for layer in generator.layers) == 4
    convs = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [64, 128, 256, 512, 1]
    slopes = [layer.negative_slope for layer in discriminator.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert slopes == [0.2] * 4
    assert generator.output_shape == (None, 64, 64, 3) and discriminator.output_shape == (None, 1)
    config = RadfordConfig()
    assert (config.learning_rate, config.beta_1, config.flip) == (2e-4, 0.5, True)
    assert (DcganConfig().learning_rate, DcganConfig().beta_1, DcganConfig().flip) == (1e-4, 0.5, False)


def test_flips_mirror_exactly_the_chosen_images():
    images = tf.constant(np.random.default_rng(0).random((3, 4, 5, 3)), tf.float32)
    flipped = flip_images(images, tf.constant([True, False, True])).numpy()
    np.testing.assert_array_equal(flipped[0], images.numpy()[0][:, ::-1])
    np.testing.assert_array_equal(flipped[1], images.numpy()[1])
    np.testing.assert_array_equal(flipped[2], images.numpy()[2][:, ::-1])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return write_crop_cache(tmp_path_factory.mktemp("dc") / "crops.npz", 64, seed=7)


@pytest.mark.parametrize("model", ["dcgan", "dcgan-radford"])
def test_train_resume_and_pack(cache, tmp_path, model, caplog):
    caplog.set_level("INFO", logger="dogkit")
    run = tmp_path / "run"
    first = invoke(
        "train",
        "--model",
        model,
        "--data",
        cache,
        "--run",
        run,
        "--budget",
        "300",
        "--option",
        "epochs=2",
        "--batch-size",
        "32",
    )
    assert first.exit_code == 0, first.output
    assert "run complete" in first.output and "last epoch d_loss" in first.output
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == model and set(config["parameters"]) == {"generator", "discriminator"}
    if model == "dcgan":
        assert config["parameters"] == {"generator": 2_733_507, "discriminator": 242_561}
        assert "parameters: generator 2,733,507, discriminator 242,561" in caplog.text  # printed at the start
    rows = history(run)
    assert [(r["phase"], r["epoch"]) for r in rows] == [("gan", "1"), ("gan", "2")]  # one phase, two metrics
    assert all(np.isfinite([float(r["d_loss"]), float(r["g_loss"])]).all() for r in rows)
    assert "loss" not in rows[0]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["00001_epoch.png", "00002_epoch.png"]
    assert Image.open(run / "loss_curve.png").size[1] == 400  # two panels: d_loss and g_loss
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["number"] == 1  # the phase's end only

    more = invoke(
        "train", "--model", model, "--data", cache, "--run", run, "--budget", "300", "--resume", "--option", "epochs=3"
    )
    assert more.exit_code == 1 and "epochs: 2 in the run, 3 given" in more.output
    again = invoke("train", "--model", model, "--data", cache, "--run", run, "--budget", "300", "--resume")
    assert again.exit_code == 0 and "already complete" in again.output

    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    for out in (a, b):
        packed = invoke("pack", "--run", run, "--out", out, "--count", 200, "--seed", 5)
        assert packed.exit_code == 0, packed.output
    assert validate_zip(a, count=200).ok and a.read_bytes() == b.read_bytes()
    assert CliRunner().invoke(cli, ["pack", "--run", str(run), "--out", str(tmp_path / "c.zip"), "--count", "10",
                                    "--option", "mix=0.5"]).exit_code == 1  # fmt: skip


def three_epochs(cache, run) -> list:
    """`dogkit train` options for three epochs of the DCGAN in batches of 32."""
    return ["--model", "dcgan", "--data", cache, "--run", run, "--option", "epochs=3", "--batch-size", "32"]


def test_a_dcgan_budget_too_small_to_train_is_refused_and_a_big_one_trains_to_the_end(cache, tmp_path):
    run = tmp_path / "run"
    short = invoke("train", *three_epochs(cache, run), "--budget", "1s")
    assert short.exit_code == 2 and "is too small to train here" in short.output
    assert "a budget of at least" in short.output and not run.exists()  # refused before any work
    done = invoke("train", *three_epochs(cache, run), "--budget", "300")
    assert done.exit_code == 0 and "run complete" in done.output and "trained 3 epochs" in done.output


def test_memorizer_options_do_not_apply_to_dcgans(cache, tmp_path):
    result = invoke("train", "--model", "dcgan", "--data", cache, "--run", tmp_path / "r", "--option", "memorize=10")
    assert result.exit_code == 1 and "unknown option 'memorize' for the DCGAN" in result.output


def test_timelapse_animates_the_sample_grids(cache, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", *three_epochs(cache, run), "--budget", "300").exit_code == 0
    result = invoke("timelapse", run, "--out", tmp_path / "training.gif", "--fps", "4")
    assert result.exit_code == 0 and "3 frames" in result.output
    gif = Image.open(tmp_path / "training.gif")
    assert gif.format == "GIF" and gif.n_frames == 3 and gif.size == (512, 528)
    assert gif.info["duration"] == 250
    empty = tmp_path / "empty"
    (empty / "samples").mkdir(parents=True)
    assert invoke("timelapse", empty).exit_code == 1


def test_a_resumed_run_draws_the_dropout_masks_the_unbroken_run_would():
    """The tutorial DCGAN's discriminator drops units at random: the generators' state is saved with
    the weights, so training on after a resume is the training an unbroken run does."""
    from tests.conftest import varied_images
    from toolkit.data.crops import TrainingData
    from toolkit.models.dcgan.model import Dcgan

    data = TrainingData(np.stack(varied_images(32, seed=5)), np.full(32, "x"), None, "")

    def make() -> Dcgan:
        keras.utils.set_random_seed(0)  # as the loop seeds a model before building it
        return Dcgan(DcganConfig(batch_size=16), data, tf.distribute.get_strategy(), np.random.default_rng(0), False)

    batches = [np.arange(16), np.arange(16, 32), np.arange(16), np.arange(16, 32)]
    unbroken = make()
    expected = [unbroken.train_step(rows) for rows in batches]
    first = make()
    first.train_step(batches[0])
    saved = {name: {k: np.asarray(v) for k, v in part.arrays.items()} for name, part in first.state().items()}
    resumed = make()
    resumed.load(saved)
    resumed.rng.bit_generator.state = first.rng.bit_generator.state
    # to float32 rounding (the CPU's reductions may sum in another order); other dropout masks move
    # the losses by about 1e-2
    for got, want in zip([resumed.train_step(rows) for rows in batches[1:]], expected[1:], strict=True):
        assert got == pytest.approx(want, rel=1e-5, abs=0)
