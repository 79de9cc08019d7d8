"""Faults and bad input: one line naming the file, nothing lost, one writer per run."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from submission import validate_zip, write_images_zip
from tests.conftest import (
    TINY_MEMORIZER,
    dogkit,
    history,
    invoke,
    latest,
    one_line,
    option_flags,
    varied_images,
    write_crop_cache,
)
from toolkit.data.synthetic import make_photos, write_dataset
from toolkit.models import ModelEntry
from toolkit.train.options import option

TINY = option_flags(TINY_MEMORIZER)


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str = "2m", read_only: bool = False):
    """A tmpfs of ``size`` mounted at ``folder`` (root only; the test is skipped elsewhere)."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here ({mounted.stderr.decode().strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture(scope="module")
def cache(trained_tiny_run):
    """The small crop cache the session's tiny run was trained on."""
    return trained_tiny_run.cache


# ---------------------------------------------------------------- one writer per run folder


def test_a_second_writer_is_refused_and_a_killed_ones_lock_does_not_block(tmp_path):
    big = write_crop_cache(tmp_path / "crops.npz", 400, seed=2)
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "train", "--data", str(big), "--run", str(run), "--budget", "600",
         "--option", "bottleneck=64", "--batch-size", "32"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run / "config.json").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = dogkit("train", "--data", big, "--run", run, "--budget", "60", "--resume")
        assert second.returncode == 1
        assert f"another dogkit train (PID {first.pid}) is writing this run" in one_line(second.stderr)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the dead process's lock is gone: the next one gets as far as weighing its budget (too small to train)
    resumed = dogkit("train", "--run", run, "--budget", "1s", "--resume")
    assert resumed.returncode == 2 and "too small to train" in one_line(resumed.stderr), resumed.stderr


# ---------------------------------------------------------------- damaged state


def test_a_truncated_checkpoint_resumes_from_the_one_before_it(tiny_run, cache, caplog):
    caplog.set_level("WARNING", logger="dogkit")
    record = latest(tiny_run.path)
    part = tiny_run.path / "checkpoints" / record["parts"]["coach"]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    result = invoke("train", "--run", tiny_run.path, "--budget", "300", "--resume")
    assert result.exit_code == 0, result.output
    assert f"{part}: truncated" in caplog.text
    assert f"resuming from the checkpoint before it (number {record['number'] - 1})" in caplog.text
    rows = [(r["phase"], r["round"], r["epoch"]) for r in history(tiny_run.path)]
    assert rows == [("memorize", "0", "1"), ("memorize", "0", "2"), ("coach", "1", "1"), ("coach", "2", "1"),
                    ("coach", "2", "2")]  # fmt: skip


@pytest.mark.parametrize("damage", ["empty", "garbled"])
def test_damaged_checkpoints_with_nothing_sound_before_them_are_one_line(tiny_run, damage):
    for name in ("latest.json", "previous.json"):
        record = json.loads((tiny_run.path / "checkpoints" / name).read_text())
        for file_name in record["parts"].values():
            path = tiny_run.path / "checkpoints" / file_name
            path.write_bytes(b"" if damage == "empty" else os.urandom(path.stat().st_size))
    result = invoke("train", "--run", tiny_run.path, "--budget", "60", "--resume")
    assert result.exit_code == 1
    line = one_line(result.output)
    assert "/checkpoints/" in line and "no sound checkpoint to resume from: start a new run" in line
    packed = invoke("pack", "--run", tiny_run.path, "--out", tiny_run.path / "x.zip", "--count", 10)
    assert packed.exit_code == 1 and "checkpoints/" in one_line(packed.output)


def test_after_resuming_from_the_fallback_the_damaged_checkpoint_is_not_kept_as_one(tmp_path, caplog):
    from toolkit.models.base import Part
    from toolkit.train.checkpoint import ArrayFile
    from toolkit.train.runs import RunFolder

    run = RunFolder(tmp_path / "run")
    for step in (1, 2):
        run.save_checkpoint({"model": Part({"w": np.full(1000, step, np.float32)})}, {"steps": step})
    damaged = run.checkpoints_dir / latest(run.path)["parts"]["model"]
    damaged.write_bytes(damaged.read_bytes()[:100])
    resumed = RunFolder(run.path)
    with caplog.at_level("WARNING", logger="dogkit"):
        checkpoint = resumed.load_checkpoint()
    assert checkpoint.position == {"steps": 1} and "resuming from the checkpoint before it (number 1)" in caplog.text
    checkpoint.close()
    resumed.save_checkpoint({"model": Part({"w": np.full(1000, 3, np.float32)})}, {"steps": 3})
    previous = json.loads((run.checkpoints_dir / "previous.json").read_text())
    assert previous["position"] == {"steps": 1}  # the sound one it resumed from, not the damaged one
    with ArrayFile(run.checkpoints_dir / previous["parts"]["model"]) as part:
        part.verify()
    assert not damaged.exists() or damaged.name in (previous["parts"]["model"], latest(run.path)["parts"]["model"])


def test_checkpoint_files_reach_the_disk_before_they_take_their_names(tmp_path, monkeypatch):
    from toolkit.models.base import Part
    from toolkit.train.runs import RunFolder

    events = []
    real_replace = os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", str(b))), real_replace(a, b)))
    run = RunFolder(tmp_path / "run")
    run.save_checkpoint({"model": Part({"w": np.zeros(10, np.float32)})}, {"steps": 1})
    renames = [i for i, (kind, _) in enumerate(events) if kind == "rename"]
    assert {Path(events[i][1]).name for i in renames} == {"model-000001.npz", "latest.json"}
    for i in renames:
        target = Path(events[i][1])
        assert events[i - 1][0] == "fsync" and Path(events[i - 1][1]).name.startswith(f".{target.name}.")
        assert ("fsync", str(target.parent)) in events[i + 1 :]  # the folder's entry too


def test_a_checkpoint_that_cannot_be_written_is_an_error_at_once(tmp_path):
    from toolkit.errors import DogkitError
    from toolkit.train.loop import CheckpointSaver, Position
    from toolkit.train.runs import RunFolder

    class FullDisk(RunFolder):
        def save_checkpoint(self, parts, position, best=None):
            raise OSError(28, "No space left on device")

    saver = CheckpointSaver(FullDisk(tmp_path / "run"), every_s=600)
    with pytest.raises(DogkitError, match="cannot write a checkpoint .*No space left on device"):
        saver.save(lambda: {}, Position(untrained=True), wait=True)  # a stand-in, written at once


def test_a_flipped_byte_in_a_checkpoint_is_caught(tiny_run, caplog):
    caplog.set_level("WARNING", logger="dogkit")
    record = latest(tiny_run.path)
    part = tiny_run.path / "checkpoints" / record["parts"]["coach"]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    result = invoke("train", "--run", tiny_run.path, "--budget", "300", "--resume")
    assert result.exit_code == 0 and f"{part}: " in caplog.text and "CRC" in caplog.text


def test_a_config_that_is_not_one_and_a_missing_config_are_one_line(tiny_run, cache):
    config = tiny_run.path / "config.json"
    text = config.read_text()
    config.write_text("[1, 2, 3]")
    result = invoke("train", "--run", tiny_run.path, "--budget", "60", "--resume")
    assert result.exit_code == 1 and f"{config}: not a dogkit run config (a JSON list" in one_line(result.output)
    for content, said in (
        ({**json.loads(text), "data": ["crops.npz"]}, "its 'data' is a list, not a dict"),
        ({}, "it has no 'model'"),
    ):
        config.write_text(json.dumps(content))
        result = invoke("train", "--run", tiny_run.path, "--budget", "60", "--resume")
        assert result.exit_code == 1 and f"{config}: not a dogkit run config ({said})" in one_line(result.output)
    config.unlink()
    result = invoke("train", "--data", cache, "--run", tiny_run.path, "--budget", "60", "--resume")
    assert result.exit_code == 1
    assert f"{config}: missing, though the folder holds a run's checkpoints or history" in one_line(result.output)
    config.write_text(text)
    assert invoke("train", "--run", tiny_run.path, "--budget", "60", "--resume").exit_code == 0


@pytest.mark.parametrize(
    "damage,said",
    [
        (lambda text: text[:-9], "line 6 is cut short; kept its first 4 rows, removed 1"),
        (lambda text: text.replace("coach,2,1", "co\0ch,2,1"), "line 5 holds damaged bytes; kept its first 3 rows"),
        (lambda text: os.urandom(len(text)).decode("latin-1"), "its header is damaged; kept its first 0 rows"),
    ],
)
def test_a_damaged_history_is_repaired_and_reported(tiny_run, damage, said, caplog):
    caplog.set_level("WARNING", logger="dogkit")
    history_csv = tiny_run.path / "history.csv"
    history_csv.write_bytes(damage(history_csv.read_text()).encode("latin-1"))
    orphans = [
        tiny_run.path / "checkpoints" / ".coach-000009.npz.4242.tmp",
        tiny_run.path / "samples" / ".x.png.4242.tmp",
    ]
    for orphan in orphans:  # writes a killed process never finished
        orphan.write_bytes(b"half")
    result = invoke("train", "--run", tiny_run.path, "--budget", "60", "--resume")
    assert result.exit_code == 0, result.output
    assert f"{history_csv}: {said}" in caplog.text and "already complete" in result.output
    rows = history(tiny_run.path)
    assert all(r["phase"] in ("memorize", "coach") for r in rows)
    assert not any(orphan.exists() for orphan in orphans)


# ---------------------------------------------------------------- the environment


def test_a_full_disk_is_one_line_for_prepare_train_and_pack(tmp_path, cache):
    photos = tmp_path / "photos"
    write_dataset(photos, make_photos(40, seed=3), "flat")
    with small_filesystem(tmp_path / "full", "200k") as full:
        result = invoke("prepare", "--src", photos, "--out", full / "crops.npz", "--workers", 1)
        assert result.exit_code == 1 and f"{full / 'crops.npz'}: No space left on device" in one_line(result.output)
        result = invoke("train", "--data", cache, "--run", full / "run", "--budget", "10m", *TINY)
        line = one_line(result.output)
        assert result.exit_code == 1 and line.startswith(f"Error: {full / 'run'}") and "No space left" in line
        assert ".tmp" not in line  # the file the user will look for, not dogkit's temporary name
        result = invoke("pack", "--from-dir", _folder_of_pngs(tmp_path / "pngs", 100), "--out", full / "i.zip",
                        "--count", 100)  # fmt: skip
        assert result.exit_code == 1 and f"{full / 'i.zip'}: No space left on device" in one_line(result.output)
        assert not (full / "i.zip").exists() and not list(full.glob(".*.tmp"))


def test_a_read_only_output_is_refused_before_the_work(tmp_path):
    photos = tmp_path / "photos"
    write_dataset(photos, make_photos(40, seed=3), "flat")
    with small_filesystem(tmp_path / "ro", read_only=True) as read_only:
        result = invoke("prepare", "--src", photos, "--out", read_only / "crops.npz", "--workers", 1)
        assert result.exit_code == 1 and "prepared" not in result.output
        assert one_line(result.output) == f"Error: {read_only}: Read-only file system"
        packed = invoke("pack", "--from-dir", _folder_of_pngs(tmp_path / "pngs", 3), "--out", read_only / "i.zip",
                        "--count", 3)  # fmt: skip
        assert packed.exit_code == 1  # the cause, not the failed clean-up's error
        assert one_line(packed.output) == f"Error: {read_only / 'i.zip'}: Read-only file system"


def test_data_that_is_not_a_crop_cache_is_one_line_and_leaves_no_run_folder(tmp_path):
    np.save(tmp_path / "crops.npy", np.zeros((4, 64, 64, 3), np.uint8))
    result = invoke("train", "--data", tmp_path / "crops.npy", "--run", tmp_path / "a", "--budget", "60")
    assert result.exit_code == 1 and "a single .npy array, not a crop cache" in one_line(result.output)
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 64, 64, 3), np.uint8))
    result = invoke("train", "--data", tmp_path / "empty.npz", "--run", tmp_path / "b" / "c" / "r", "--budget", "60")
    assert result.exit_code == 1 and "empty.npz: holds no crops" in one_line(result.output)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nor the folders made to hold it


@pytest.mark.parametrize("budget", ["nan", "inf", "-5", "0"])
def test_budgets_that_are_not_times_are_refused(cache, tmp_path, budget):
    result = invoke("train", "--data", cache, "--run", tmp_path / "r", "--budget", budget)
    assert result.exit_code == 2 and "budget must be a positive, finite time" in result.output
    assert not (tmp_path / "r").exists()


def test_training_on_one_crop_warns(tmp_path, caplog):
    one = write_crop_cache(tmp_path / "one.npz", 1, seed=4)
    caplog.set_level("WARNING", logger="dogkit")
    result = invoke("train", "--data", one, "--run", tmp_path / "r", "--budget", "120", *TINY)
    assert result.exit_code == 0, result.output
    assert "holds one crop: every image the model makes will be a copy of it" in caplog.text


# ---------------------------------------------------------------- hostile images


def _png(width: int, height: int, pixels: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def _folder_of_pngs(folder: Path, n: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k, image in enumerate(varied_images(n, seed=6)):
        Image.fromarray(image).save(folder / f"{k:04d}.png")
    return folder


def test_a_png_that_declares_ten_billion_pixels_is_a_listed_problem(tmp_path):
    bomb = _png(100_000, 100_000, b"\0" * 1000)
    zip_path = tmp_path / "images.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("00000.png", bomb)
    result = invoke("check", zip_path, "--count", 1)
    assert result.exit_code == 1 and "00000.png: size 100000x100000, expected 64x64" in result.output
    folder = _folder_of_pngs(tmp_path / "dir", 2)
    (folder / "0001.png").write_bytes(bomb)
    packed = invoke("pack", "--from-dir", folder, "--out", tmp_path / "out.zip", "--count", 2, "--resize")
    assert packed.exit_code == 1 and "0001.png: refusing to decode it (Image size (10000000000 pixels)" in one_line(
        packed.output
    )
    (folder / "0001.png").write_bytes(_png(9_000, 9_000))  # under Pillow's own limit, over dogkit's
    packed = invoke("pack", "--from-dir", folder, "--out", tmp_path / "out.zip", "--count", 2, "--resize")
    assert packed.exit_code == 1 and "0001.png: declares 9000x9000 pixels" in one_line(packed.output)
    scored = invoke("score", zip_path, "--count", 1)  # refused for the zip, before any weights are looked for
    assert scored.exit_code == 1 and "not a valid submission, not scored" in one_line(scored.output)


def test_a_deflate_bomb_member_is_not_inflated(tmp_path):
    zip_path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("00000.png", "w", force_zip64=True) as member:
            zeros = bytes(16 << 20)
            for _ in range(64):  # 1 GiB of zeros: about 1 MB once deflated
                member.write(zeros)
    assert zip_path.stat().st_size < 4 << 20
    code = (
        "import sys; from submission import validate_zip; r = validate_zip(sys.argv[1], 1); "
        "print([str(p) for p in r.problems]); "  # VmHWM: this process's own peak (ru_maxrss counts the parent's too)
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(zip_path)], capture_output=True, text=True, timeout=60)
    problems, peak_kib = done.stdout.strip().splitlines()
    assert "00000.png: 1,073,741,824 bytes, far more than a 64x64 PNG needs; not read" in problems
    assert int(peak_kib) < 300 * 1024  # not the gigabyte


def test_a_zip_of_one_image_repeated_is_flagged(tmp_path):
    image = varied_images(1, seed=9)[0]
    write_images_zip((image for _ in range(500)), tmp_path / "same.zip", 500)
    result = invoke("check", tmp_path / "same.zip", "--count", 500)
    assert result.exit_code == 0  # the rules allow it
    assert "warning: only 1 distinct images among 500" in result.output
    varied = varied_images(500, seed=9)
    write_images_zip(iter(varied), tmp_path / "varied.zip", 500)
    assert "warning" not in invoke("check", tmp_path / "varied.zip", "--count", 500).output
    few = varied_images(60, seed=9)
    write_images_zip((few[i % 60] for i in range(500)), tmp_path / "few.zip", 500)
    assert "warning: only 60 distinct images among 500" in invoke("check", tmp_path / "few.zip", "--count", 500).output
    assert validate_zip(tmp_path / "varied.zip", 500).distinct_images == 500


# ---------------------------------------------------------------- resume and small things


def test_resume_takes_the_runs_own_model_and_data(cache, tmp_path, monkeypatch):
    run = tmp_path / "run"
    (tmp_path / "crops.npz").write_bytes(cache.read_bytes())
    monkeypatch.chdir(tmp_path)
    first = invoke("train", "--model", "dcgan", "--data", "crops.npz", "--run", run, "--budget", "300",
                   "--option", "epochs=1", "--batch-size", "32")  # fmt: skip
    assert first.exit_code == 0, first.output
    monkeypatch.chdir(tmp_path / "run")  # elsewhere: the run names its data wherever it is resumed from
    again = invoke("train", "--run", run, "--resume", "--budget", "60")  # no --model, no --data
    assert again.exit_code == 0 and "already complete" in again.output, again.output
    (tmp_path / "crops.npz").unlink()
    gone = invoke("train", "--run", run, "--resume", "--budget", "60")
    assert gone.exit_code == 1
    assert one_line(gone.output) == (
        f"Error: {tmp_path / 'crops.npz'}: the crop cache {run / 'config.json'} names is not there any more; "
        "give it with --data"
    )


@dataclasses.dataclass(frozen=True)
class SlowStepConfig:
    MODEL_NAME = "the slow-step model"
    epochs: int = option(50, "passes over the crops", minimum=1)
    slow_step: int = option(30, "the step (counted from 1) that takes the rest of the budget", minimum=1)
    seed: int = option(0, "unused")


class GreySampler:
    def sample(self, count, seed, batch=256):
        for start in range(0, count, batch):
            yield np.full((min(batch, count - start), 64, 64, 3), 128.0, np.float32)


class SlowStepModel:
    """A NumPy model for the loop alone: every step instant but one, which sleeps past the training
    deadline, so the budget stops training in the middle of an epoch whatever the machine's speed."""

    sleep_s = 0.0

    def __init__(self, config, data, strategy, rng, jit):
        self.config, self.n, self.steps = config, len(data.images), 0

    def phases(self):
        from toolkit.models.base import Phase
        from toolkit.train.batching import epoch_batches

        return [Phase("gan", self.config.epochs, lambda rng: epoch_batches(rng, self.n, 32), self._step)]

    def _step(self, rows):
        self.steps += 1
        if self.steps == self.config.slow_step:
            time.sleep(self.sleep_s)
        return {"loss": float(len(rows))}

    def state(self):
        from toolkit.models.base import Part

        return {"model": Part({"steps": np.array(self.steps)})}

    def load(self, parts):
        self.steps = int(parts["model"]["steps"])

    def parameter_counts(self):
        return {"model": 1}

    @classmethod
    def sampler(cls, config, parts):
        return GreySampler()


# handed to the loop as the registry's entries are: no registry line needed
SLOW_STEP = ModelEntry("slow-step", "test", f"{__name__}:SlowStepConfig", f"{__name__}:SlowStepModel")


def test_an_epoch_cut_short_by_the_budget_is_not_recorded(tmp_path, monkeypatch):
    from toolkit.train.loop import TrainConfig, train

    budget = 15.0  # about 4 s to start (TensorFlow), 3 s of margin: several seconds of training
    monkeypatch.setattr(SlowStepModel, "sleep_s", budget)  # step 30 outlasts the budget: epoch 2 is cut at 29
    crops = write_crop_cache(tmp_path / "crops.npz", 600, seed=5)  # 600 crops in batches of 32: 19 steps
    # packed in this process: a later `dogkit pack` process's start-up is read from this one's age when
    # TensorFlow was loaded, which in a test process is whenever a test first needed it
    config = TrainConfig(
        data=crops, run=tmp_path / "run", budget_s=budget, pack_count=10, min_train_s=1.0, pack_separately=False
    )
    result = train(config, SLOW_STEP)
    rows = history(tmp_path / "run")
    assert [(r["epoch"], r["steps"]) for r in rows] == [("1", "19")]  # the cut epoch is no row
    assert result.epochs == 1 and result.steps == 30  # its steps were trained
    assert "gan stopped by the budget after 1 of 50 epochs" in result.notes
    position = json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())["position"]
    assert (position["epoch"], position["steps"], position["history_rows"]) == (1, 30, 1)  # resumes in epoch 2


def test_a_malformed_kaggle_json_is_named(fake_kaggle, tmp_path):
    path = fake_kaggle.config_dir / "kaggle.json"
    path.write_text('{"username": "dogkit-tester", "key": ')
    result = invoke("fetch", "--dest", tmp_path)
    assert result.exit_code == 1 and f"{path}: malformed (not JSON" in one_line(result.output)
    path.write_text('["dogkit-tester"]')
    result = invoke("fetch", "--dest", tmp_path)
    assert result.exit_code == 1 and f"{path}: malformed" in one_line(result.output)

    path.write_bytes(b"\xff\xfe{")
    result = invoke("fetch", "--dest", tmp_path)
    assert result.exit_code == 1 and f"{path}: malformed (not UTF-8" in one_line(result.output)


def test_an_access_token_that_is_not_text_is_named(fake_kaggle, tmp_path, monkeypatch):
    token = Path(os.environ["HOME"]) / ".kaggle" / "access_token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_bytes(b"\xff\xfe\x00token")
    result = invoke("fetch", "--dest", tmp_path)
    assert result.exit_code == 1 and f"{token}: malformed access token" in one_line(result.output)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kernel_id", ["bad owner/dogkit-kernel", "-/dogkit-kernel", "own.er/dogkit-kernel"])
def test_kernel_ids_with_an_impossible_owner_are_refused(tmp_path, kernel_id):
    result = invoke("bundle", "--out", tmp_path / "k", "--kernel-id", kernel_id)
    assert result.exit_code == 2 and "is not a Kaggle username" in result.output
    assert not (tmp_path / "k").exists()


def test_checkpoints_come_by_time_and_once_at_a_phases_end(tmp_path):
    from toolkit.train.loop import TrainConfig, train

    crops = write_crop_cache(tmp_path / "crops.npz", 64, seed=5)
    common = dict(data=crops, budget_s=120.0, pack_count=10, min_train_s=1.0)
    options = {"epochs": 3, "slow_step": 10_000}
    train(TrainConfig(run=tmp_path / "often", checkpoint_every_s=1e-6, **common), SLOW_STEP, options)
    train(TrainConfig(run=tmp_path / "rarely", **common), SLOW_STEP, options)  # every 10 minutes
    # due after every epoch: epochs 1 and 2 by time, epoch 3 with the phase's end (not twice)
    assert latest(tmp_path / "often")["number"] == 3
    assert latest(tmp_path / "rarely")["number"] == 1  # the phase's end alone


@pytest.mark.parametrize(
    "command,signum", [("train", signal.SIGTERM), ("train", signal.SIGINT), ("run", signal.SIGTERM)]
)
def test_a_signal_while_training_starts_is_one_line_and_leaves_no_run(tmp_path, cache, command, signum):
    """Before the first step (TensorFlow loading, the data, the model) nothing is saved: the run folder
    made for it goes, the exit status is 128 + the signal, and no 'Aborted!' or traceback."""
    if command == "train":
        run, args = tmp_path / "run", ["train", "--data", cache, "--run", tmp_path / "run", "--budget", "300"]
    else:
        write_dataset(tmp_path / "photos", make_photos(20, seed=3), "flat")
        run = tmp_path / "work" / "run"
        args = ["run", "--src", tmp_path / "photos", "--work", tmp_path / "work", "--out", tmp_path / "i.zip",
                "--budget", "300", "--no-score"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkit", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / ".lock").exists():  # the run folder is held: training is starting
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.01)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, stderr[-2000:]
    assert stderr.strip().splitlines()[-1:] == [
        f"dogkit: stopped by {name} while starting, before training; no run folder kept"
    ]
    assert "stopping after this step" not in stderr  # no step is under way: one line says it all
    assert not run.exists() and not (tmp_path / "i.zip").exists()


def test_a_bad_value_in_a_runs_config_json_is_named_by_pack_and_resume(tiny_run, tmp_path):
    config_path = tiny_run.path / "config.json"
    config = json.loads(config_path.read_text())
    config["model_config"]["bottleneck"] = 100
    config_path.write_text(json.dumps(config))
    before = sorted(p.name for p in tiny_run.path.rglob("*"))
    packed = invoke("pack", "--run", tiny_run.path, "--out", tmp_path / "images.zip")
    line = one_line(packed.output)
    assert packed.exit_code == 1 and f"{config_path}: model_config:" in line and "bottleneck" in line, line
    assert not (tmp_path / "images.zip").exists()
    resumed = invoke("train", "--data", tiny_run.cache, "--run", tiny_run.path, "--resume", "--budget", "600")
    line = one_line(resumed.output)
    assert resumed.exit_code == 1 and f"{config_path}: model_config:" in line and "bottleneck" in line, line
    assert sorted(p.name for p in tiny_run.path.rglob("*")) == before


@pytest.mark.parametrize("kind", ["fifo", "socket", "char device", "empty", "file as folder"])
def test_outputs_that_are_not_ours_to_replace_are_refused_before_any_work(tmp_path, kind):
    import socket

    photos = tmp_path / "photos"
    photos.mkdir()
    if kind == "fifo":
        out = tmp_path / "fifo"
        os.mkfifo(out)
    elif kind == "socket":
        out = tmp_path / "sock"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(out))
    elif kind == "char device":
        out = Path("/dev/null")
    elif kind == "empty":
        out = ""
    else:
        (tmp_path / "afile").write_text("mine")
        out = tmp_path / "afile" / "images.zip"
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in (["pack", "--from-dir", photos], ["prepare", "--src", photos]):
        result = invoke(*command, "--out", out)
        line = one_line(result.output)
        assert result.exit_code == 2 and "Invalid value for '--out'" in line, line
        expected = {"fifo": "is a FIFO", "socket": "is a socket", "char device": "is a character device",
                    "empty": "an empty path", "file as folder": f"{tmp_path / 'afile'} is not a folder"}  # fmt: skip
        assert expected[kind] in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert Path("/dev/null").is_char_device()
    if kind == "file as folder":
        assert (tmp_path / "afile").read_text() == "mine"


@pytest.mark.parametrize("command", ["bundle", "demo"])
def test_a_file_where_an_output_folder_goes_is_refused(tmp_path, command):
    (tmp_path / "afile").write_text("mine")
    result = invoke(command, "--out", tmp_path / "afile" / "sub")
    assert result.exit_code == 2 and f"{tmp_path / 'afile'} is not a folder" in one_line(result.output)
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory):
    """10,000 PNG files (the same image) for a pack that takes long enough to be signalled."""
    folder = tmp_path_factory.mktemp("many")
    from submission import encode_png

    data = encode_png(varied_images(1, seed=5)[0])
    for k in range(10_000):
        (folder / f"{k:05d}.png").write_bytes(data)
    return folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_pack_removes_its_temporary_file_and_keeps_the_old_zip(tmp_path, many_photos, signum):
    out = tmp_path / "images.zip"
    out.write_bytes(b"the old zip")
    pack = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "pack", "--from-dir", str(many_photos), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as from a terminal: a shell running these tests in the background starts them with SIGINT
        # ignored, and Python keeps an ignored SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    tmp = tmp_path / f".images.zip.{pack.pid}.tmp"
    deadline = time.monotonic() + 120
    while not tmp.exists() and pack.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pack.poll() is None, "the pack ended before it could be signalled"
    pack.send_signal(signum)
    _, stderr = pack.communicate(timeout=120)
    assert pack.returncode == 128 + signum
    assert one_line(stderr).startswith("dogkit:") and signal.Signals(signum).name in one_line(stderr)
    assert out.read_bytes() == b"the old zip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.zip"]


def test_a_killed_packs_temporary_file_is_removed_by_the_next_pack(tmp_path, images64):
    photos = tmp_path / "photos"
    photos.mkdir()
    for k, image in enumerate(images64[:10]):
        (photos / f"{k}.png").write_bytes(__import__("submission").encode_png(image))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f".images.zip.{int(dead.stdout)}.tmp"
    orphan.write_bytes(b"half a zip")
    result = invoke("pack", "--from-dir", photos, "--out", tmp_path / "images.zip", "--count", "10")
    assert result.exit_code == 0, result.output
    assert not orphan.exists()
    assert "not a valid submission (the rules ask for 10,000)" in result.output


def test_a_failed_pack_removes_the_folders_it_made(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"not an image")
    result = invoke("pack", "--from-dir", photos, "--out", tmp_path / "new" / "deeper" / "images.zip", "--count", "1")
    assert result.exit_code == 1, result.output
    assert not (tmp_path / "new").exists()


def test_pack_says_which_checkpoint_it_packs_when_the_newest_is_damaged(tiny_run, tmp_path, caplog):
    caplog.set_level("WARNING", logger="dogkit")
    record = latest(tiny_run.path)
    part = tiny_run.path / "checkpoints" / record["parts"]["coach"]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    result = invoke("pack", "--run", tiny_run.path, "--out", tmp_path / "images.zip", "--count", "100")
    assert result.exit_code == 0, result.output
    assert f"packing the checkpoint before it (number {record['number'] - 1})" in caplog.text
    assert "resuming" not in caplog.text


def test_resume_of_a_run_folder_that_does_not_exist_is_refused(tmp_path, cache):
    missing = tmp_path / "no-such-run"
    result = invoke("train", "--data", cache, "--run", missing, "--budget", "600", "--resume")
    assert result.exit_code == 2
    assert f"{missing}: no such run folder to resume; drop --resume to start one" in one_line(result.output)
    assert not missing.exists()
