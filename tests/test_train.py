"""`dogkit train` and `dogkit pack --run`: the one loop's budget, run folder, checkpoints by time,
resume, signals, distribution, and packing from a run."""

import contextlib
import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from submission import validate_zip
from tests.conftest import (
    TINY_MEMORIZER,
    dogkit,
    history,
    invoke,
    latest,
    named_budget,
    option_flags,
    run_on_logical_cpus,
    smallest_budget,
    write_crop_cache,
)
from tests.slowdown import one_busy_core
from toolkit.train.budget import parse_budget
from toolkit.train.checkpoint import ArrayFile, write_arrays

TINY = option_flags(TINY_MEMORIZER)
REPO = Path(__file__).resolve().parents[1]


def test_run_folder_holds_config_history_samples_timing_and_logs(tiny_run):
    _, run, output = tiny_run
    assert "trained 5 epochs (10 steps)" in output and "run complete" in output
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "memorizer"
    assert config["model_config"]["memorize"] == 48 and config["model_config"]["bottleneck"] == 64
    # generator: a 48 x 64 code table + bias, then the convolutions; discriminator: 48 memories of 12288
    assert config["parameters"]["discriminator"] == 48 * 12288
    convs = (3 * 3 * 1 * 128 + 128) + (3 * 3 * 128 * 64 + 64) + (3 * 3 * 64 * 32 + 32) + (3 * 3 * 32 * 3 + 3)
    assert config["parameters"]["generator"] == 48 * 64 + 64 + convs
    assert config["data"]["crops"] == 64
    rows = history(run)
    assert [(r["phase"], r["round"], r["epoch"], r["steps"]) for r in rows] == [
        ("memorize", "0", "1", "2"),
        ("memorize", "0", "2", "2"),
        ("coach", "1", "1", "2"),
        ("coach", "2", "1", "2"),
        ("coach", "2", "2", "2"),
    ]
    assert all(float(r["loss"]) > 0 and float(r["seconds"]) >= float(r["step_seconds"]) > 0 for r in rows)
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "00002_memorize.png",
        "00003_coach_round_01.png",
        "00005_coach_round_02.png",
    ]
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    # one checkpoint at the end of each phase (the memorize phase and two coach rounds), none per epoch;
    # the finished memory, frozen, is written once and named by every later checkpoint
    record = latest(run)
    assert record["number"] == 3 and record["position"]["complete"] is True
    assert record["parts"] == {"memory": "memory-000001.npz", "coach": "coach-000003.npz"}
    previous = json.loads((run / "checkpoints" / "previous.json").read_text())  # the fallback, kept whole
    assert previous["number"] == 2 and previous["parts"] == {"memory": "memory-000001.npz", "coach": "coach-000002.npz"}
    assert {p.name for p in (run / "checkpoints").iterdir()} == {
        "latest.json", "previous.json", "memory-000001.npz", "coach-000002.npz", "coach-000003.npz"
    }  # fmt: skip
    timing = json.loads((run / "timing.json").read_text())
    assert timing["memorize"]["epochs"] == 2 and timing["coach"]["epochs"] == 3
    assert timing["coach"]["wall_s"] >= timing["coach"]["step_s"] > 0


def test_pack_from_a_run_is_valid_and_seeded(tiny_run, tmp_path):
    _, run, _ = tiny_run
    outputs = {}
    for name, args in (("a", ["--seed", 1]), ("b", ["--seed", 1, "--option", "mix=0.7"]), ("c", ["--seed", 2])):
        result = invoke("pack", "--run", run, "--out", tmp_path / f"{name}.zip", "--count", 300, *args)
        assert result.exit_code == 0, result.output
        estimate = result.output.splitlines()[0]  # before it starts, from the pace measured when it trained
        assert estimate.startswith(f"generating and packing 300 images from {run}: about "), estimate
        assert "images/s, measured where it trained)" in estimate, estimate
        outputs[name] = (tmp_path / f"{name}.zip").read_bytes()
    assert validate_zip(tmp_path / "a.zip", count=300).ok
    assert outputs["a"] == outputs["b"]  # the run's own mix, given or not
    assert outputs["a"] != outputs["c"]
    other_mix = invoke(
        "pack", "--run", run, "--out", tmp_path / "d.zip", "--count", 300, "--seed", 1, "--option", "mix=0.5"
    )
    assert other_mix.exit_code == 0 and (tmp_path / "d.zip").read_bytes() != outputs["a"]


def test_pack_says_when_no_training_step_has_reached_the_generator(tiny_run, tmp_path):
    """A memorizer stopped while it memorized has an untrained generator: pack says so (and 0.1's
    checkpoints, which did not count the generator's steps, count every step)."""
    _, run, _ = tiny_run
    trained = invoke("pack", "--run", run, "--out", tmp_path / "a.zip", "--count", 20)
    assert trained.exit_code == 0 and "note:" not in trained.output
    record = latest(run)
    record["position"].update(phase=0, epoch=1, generator_steps=0)
    (run / "checkpoints" / "latest.json").write_text(json.dumps(record))
    untrained = invoke("pack", "--run", run, "--out", tmp_path / "b.zip", "--count", 20)
    assert untrained.exit_code == 0 and "holds a generator no training step has reached" in untrained.output


def test_pack_takes_only_sampling_options(tiny_run, tmp_path):
    _, run, _ = tiny_run
    result = invoke("pack", "--run", run, "--out", tmp_path / "x.zip", "--option", "bottleneck=8")
    assert result.exit_code == 1
    assert (
        "option bottleneck cannot change at sampling time" in result.output and "sampling options: mix" in result.output
    )
    assert not (tmp_path / "x.zip").exists()


def test_pack_refuses_a_generator_that_gives_nan(tiny_run, tmp_path):
    _, run, _ = tiny_run
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "config.json").write_bytes((run / "config.json").read_bytes())
    record = latest(run)
    with ArrayFile(run / "checkpoints" / record["parts"]["coach"]) as coach:
        arrays = {key: coach[key] for key in coach.keys()}
    arrays["generator/000"] = np.full_like(arrays["generator/000"], np.nan)
    write_arrays(broken / "checkpoints" / record["parts"]["coach"], arrays)
    (broken / "checkpoints" / "latest.json").write_text(
        json.dumps({**record, "parts": {"coach": record["parts"]["coach"]}})
    )
    out = tmp_path / "images.zip"
    result = invoke("pack", "--run", broken, "--out", out, "--count", 50)
    assert result.exit_code == 1
    assert "NaN or inf" in result.output and "no images.zip was written" in result.output
    assert not out.exists()


def test_a_new_run_into_a_used_folder_is_refused(tiny_run):
    cache, run, _ = tiny_run
    result = invoke("train", "--data", cache, "--run", run, "--budget", "60", *TINY)
    assert result.exit_code == 1 and "already holds a run; pass --resume" in result.output


def test_resuming_with_other_options_names_each_difference(tiny_run):
    cache, run, _ = tiny_run
    result = invoke(
        "train", "--data", cache, "--run", run, "--budget", "60", "--resume", "--batch-size", "16",
        "--option", "bottleneck=128",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "batch_size: 32 in the run, 16 given" in result.output
    assert "bottleneck: 64 in the run, 128 given" in result.output


@pytest.mark.parametrize(
    "option,message",
    [
        ("bottleneck=abc", "option bottleneck: expected an integer, got 'abc'"),
        ("memorize=every", "option memorize: expected an integer or all"),
        ("mix=2", "option mix: must be between 0 and 1"),
        ("epochs=3", "unknown option 'epochs' for the memorizer; its options: memorize, bottleneck"),
        ("bottleneck", "expected NAME=VALUE"),
    ],
)
def test_bad_model_options_are_one_line(tiny_run, tmp_path, option, message):
    cache, _, _ = tiny_run
    result = invoke("train", "--data", cache, "--run", tmp_path / "r", "--option", option)
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "r").exists()


def test_train_help_lists_every_models_options_from_its_config():
    result = invoke("train", "--help")
    assert result.exit_code == 0
    for model in ("memorizer:", "dcgan:", "dcgan-radford:"):
        assert model in result.output
    for shown in ("memorize=10000", "bottleneck=2048", "mix=0.7", "learning_rate=0.0002", "flip=true"):
        assert shown in result.output


def test_resuming_on_other_data_is_refused(tiny_run, tmp_path):
    _, run, _ = tiny_run
    other = write_crop_cache(tmp_path / "other.npz", 64, seed=2)
    result = invoke("train", "--data", other, "--run", run, "--budget", "60", "--resume")
    assert result.exit_code == 1 and "trained on other data" in result.output


def test_resuming_a_complete_run_does_nothing(tiny_run):
    cache, run, _ = tiny_run
    before = (run / "history.csv").read_text()
    result = invoke("train", "--data", cache, "--run", run, "--budget", "60", "--resume")
    assert result.exit_code == 0 and "already complete" in result.output
    assert (run / "history.csv").read_text() == before


@pytest.mark.slow
@pytest.mark.parametrize("machine", ["this machine", "one busy core"])
def test_train_then_pack_keep_to_the_budget_that_the_machine_needs(tmp_path, machine):
    """The budget covers training and the later generation and packing of 10,000 images, here and on a
    machine about 4x slower: the budget is the one a too-small budget's refusal names on that machine,
    and the two commands, start-up to exit, take at most 5% more."""
    cache = write_crop_cache(tmp_path / "crops.npz", 2000, seed=3)
    run = tmp_path / "run"
    with one_busy_core() if machine == "one busy core" else contextlib.nullcontext() as pin:
        budget = smallest_budget("--data", cache, "--run", run, pin=pin)
        assert not run.exists()  # the refusal left nothing behind
        start = time.monotonic()
        trained = dogkit("train", "--data", cache, "--run", run, "--budget", budget, pin=pin)
        packed = dogkit("pack", "--run", run, "--out", tmp_path / "images.zip", pin=pin)
        elapsed = time.monotonic() - start
    assert trained.returncode == 0, trained.stderr
    assert packed.returncode == 0, packed.stderr
    assert elapsed <= parse_budget(budget) * 1.05, f"train + pack took {elapsed:.1f} s of {budget}: {trained.stderr}"
    assert validate_zip(tmp_path / "images.zip").ok
    rows = history(run)
    assert {"memorize", "coach"} <= {r["phase"] for r in rows}  # both phases got time
    # stopped by the budget: one checkpoint at the memorize phase's end, one when the budget stopped it
    assert latest(run)["number"] <= 2 + sum(r["phase"] == "coach" for r in rows)


def test_a_budget_too_small_to_train_is_refused_naming_the_budget_it_needs(tmp_path):
    cache = write_crop_cache(tmp_path / "crops.npz", 300, seed=4)
    trained = dogkit("train", "--data", cache, "--run", tmp_path / "runs" / "try", "--budget", "20s")
    assert trained.returncode == 2, trained.stderr
    [line] = [line for line in trained.stderr.splitlines() if line.startswith("Error:")]
    assert line.startswith("Error: budget 20.0s is too small to train here: starting took ")
    assert "generating and packing 10000 images takes about" in line and "measured" in line
    assert parse_budget(named_budget(line)) > 60  # a minute of training and what the rest takes here
    assert not (tmp_path / "runs").exists()  # nothing was made: no run folder, no stand-in
    assert "Traceback" not in trained.stderr


def _train_in_background(cache, run, *options):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "toolkit",
            "train",
            "--data",
            str(cache),
            "--run",
            str(run),
            "--budget",
            "600",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_coach_epochs(process, run, count, seconds=240):
    deadline = time.monotonic() + seconds
    while sum(r["phase"] == "coach" for r in history(run)) < count:
        assert process.poll() is None, "training ended before the signal: " + process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.05)


RESUMABLE = ["--option", "bottleneck=64", "--batch-size", "32", "--option", "memorize_epochs=3"]
COACH_EPOCHS = [(r + 1, e + 1) for r, epochs in enumerate([1, 2, 4, 8]) for e in range(epochs)]


def _assert_every_epoch_once(run):
    rows = history(run)
    assert [(int(r["round"]), int(r["epoch"])) for r in rows if r["phase"] == "coach"] == COACH_EPOCHS
    assert [r["phase"] for r in rows[:3]] == ["memorize"] * 3


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    cache = write_crop_cache(tmp_path / "crops.npz", 400, seed=5)
    run = tmp_path / "run"
    process = _train_in_background(cache, run, *RESUMABLE, "--option", "coach_rounds=4", "--checkpoint-every", "1s")
    try:
        _wait_for_coach_epochs(process, run, 6)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert latest(run)["position"]["history_rows"] >= 3  # at least the memorize phase's checkpoint

    resumed = dogkit("train", "--data", cache, "--run", run, "--budget", "600", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "run complete" in resumed.stdout
    _assert_every_epoch_once(run)  # none repeated, none skipped


@pytest.mark.parametrize("signum,code,resume", [(signal.SIGTERM, 143, True), (signal.SIGINT, 130, False)])
def test_a_signal_saves_says_how_to_resume_and_exits_non_zero(tmp_path, signum, code, resume):
    cache = write_crop_cache(tmp_path / "crops.npz", 400, seed=5)
    run = tmp_path / "run"
    process = _train_in_background(cache, run, *RESUMABLE, "--option", "coach_rounds=4")  # checkpoints: 10 min
    try:
        _wait_for_coach_epochs(process, run, 4)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, stderr[-2000:]
    name = signal.Signals(signum).name
    assert f"{name}: stopping after this step and saving a checkpoint" in stderr
    assert f"stopped by {name} (coach phase, round" in stderr
    assert f"continue with: dogkit train --run {run} --resume" in stderr and "Traceback" not in stderr
    position = latest(run)["position"]
    assert position["history_rows"] == len(history(run))  # the checkpoint holds every recorded epoch
    if not resume:
        return
    resumed = dogkit("train", "--data", cache, "--run", run, "--budget", "600", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _assert_every_epoch_once(run)


MIRRORED_SCRIPT = """
import numpy as np
from toolkit.backend import tf
from toolkit.data.crops import TrainingData
from toolkit.train.distribute import select_strategy
from tests.conftest import varied_images
from tests.test_memorizer import coach_towards

strategy = select_strategy("mirrored")
assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
targets = np.stack(varied_images(16, seed=6)).astype(np.float32)
coach = coach_towards(targets, strategy=strategy)  # the memory's images mirrored on both replicas
rows = np.arange(16)
before = coach.mean_error(rows)
losses = [coach.train_step(rows) for _ in range(30)]
after = coach.mean_error(rows)
print(type(strategy).__name__, strategy.num_replicas_in_sync, losses[0], losses[-1], before, after)

from toolkit.models.dcgan.config import RadfordConfig
from toolkit.models.dcgan.model import Dcgan

data = TrainingData(targets.astype(np.uint8), np.full(16, "x"), None, "")
gan = Dcgan(RadfordConfig(batch_size=8), data, strategy, np.random.default_rng(0), jit=True)
gan_losses = [list(gan.train_step(np.arange(8)).values()) for _ in range(3)]
print(np.isfinite(gan_losses).all())
"""


def test_mirrored_strategy_on_two_logical_cpus_trains(tmp_path):
    done = run_on_logical_cpus(MIRRORED_SCRIPT)
    assert done.returncode == 0, done.stderr
    name, replicas, first, last, before, after, gan_finite = done.stdout.split()
    assert name == "MirroredStrategy" and replicas == "2"
    assert gan_finite == "True"  # the DCGAN's adversarial step runs under the same strategy
    assert np.isfinite([float(first), float(last)]).all()
    assert float(last) < 0.5 * float(first) and float(after) < float(before)


def test_zip_members_are_flat_pngs(tiny_run, tmp_path):
    _, run, _ = tiny_run
    invoke("pack", "--run", run, "--out", tmp_path / "i.zip", "--count", 20)
    with zipfile.ZipFile(tmp_path / "i.zip") as archive:
        assert archive.namelist()[:2] == ["00000.png", "00001.png"]


AUTO_STRATEGY_SCRIPT = """
import logging, os
import numpy as np
from toolkit.backend import tf
from toolkit.data.crops import TrainingData
from toolkit.train import distribute
from toolkit.errors import DogkitError
from toolkit.models.memorizer.config import MemorizerConfig
from toolkit.models.memorizer.model import Memorizer
from tests.conftest import varied_images

logging.basicConfig(level=logging.INFO, format="%(message)s")
# two logical CPUs stand in for Kaggle's two T4s: auto must time one device against mirrored
real = tf.config.list_logical_devices
tf.config.list_logical_devices = lambda kind=None: real("CPU") if kind == "GPU" else real(kind)
data = TrainingData(np.stack(varied_images(64, seed=3)), np.full(64, "x"), None, "")
probe = Memorizer.strategy_probe(MemorizerConfig(bottleneck=64, batch_size=32), data, jit=False)
strategy = distribute.select_strategy("auto", probe)
print("chosen", type(strategy).__name__)

os.environ["TPU_NAME"] = "local"  # as on a TPU machine whose TensorFlow has no TPU support
tf.config.list_logical_devices = real
print("fallback", type(distribute.select_strategy("auto")).__name__)
try:
    distribute.select_strategy("tpu")
except DogkitError as exc:
    print("explicit", str(exc)[:40])
"""


def test_auto_strategy_times_mirrored_against_one_device_and_falls_back_from_a_tpu(tmp_path):
    done = run_on_logical_cpus(AUTO_STRATEGY_SCRIPT)
    assert done.returncode == 0, done.stderr
    [trial] = [line for line in done.stderr.splitlines() if line.startswith("strategy trial:")]
    timings = dict(
        (part.rsplit(" ", 2)[0], float(part.rsplit(" ", 2)[1]))
        for part in trial.split(": ", 1)[1].split("; ")[0].split(", ")
    )
    assert set(timings) == {"mirrored over 2 GPUs", "one GPU"}
    faster = "mirrored over 2 GPUs" if timings["mirrored over 2 GPUs"] < 0.95 * timings["one GPU"] else "one GPU"
    assert trial.endswith(f"training on {faster}")
    chosen = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert chosen["chosen"] == ("MirroredStrategy" if faster.startswith("mirrored") else "_DefaultDistributionStrategy")
    assert chosen["fallback"] == "_DefaultDistributionStrategy"
    [fallback] = [line for line in done.stderr.splitlines() if line.startswith("a TPU is attached")]
    assert "no TPU that TensorFlow can use (NotFoundError" in fallback and fallback.endswith("the default strategy")
    assert chosen["explicit"].startswith("no TPU that TensorFlow can use")


def test_a_tpu_is_recognised_by_its_device_files_or_the_environment(tmp_path, monkeypatch):
    from toolkit.train.distribute import _tpu_present

    for name in ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "COLAB_TPU_ADDR", "ISTPUVM"):
        monkeypatch.delenv(name, raising=False)
    dev = tmp_path / "dev"
    (dev / "vfio").mkdir(parents=True)
    (dev / "vfio" / "vfio").touch()  # the VFIO control file alone: no device bound
    assert not _tpu_present(dev) and not _tpu_present(tmp_path / "no-dev")
    (dev / "vfio" / "0").touch()  # a TPU v5e chip, as on Kaggle's TpuV5E8
    assert _tpu_present(dev)
    (dev / "vfio" / "0").unlink()
    (dev / "accel0").touch()  # TPU v2-v4
    assert _tpu_present(dev)
    monkeypatch.setenv("ISTPUVM", "0")
    assert not _tpu_present(tmp_path / "no-dev")
    monkeypatch.setenv("ISTPUVM", "1")  # Kaggle's TPU image
    assert _tpu_present(tmp_path / "no-dev")
    monkeypatch.delenv("ISTPUVM")
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v5litepod-8")
    assert _tpu_present(tmp_path / "no-dev")
