"""Run folders written by dogkit 0.1.0 (kept in tests/data/runs-0.1.0) still pack and resume.

The memorizer run stopped in coach round 6; the BigGAN run (width 4) after 15 epochs. ``packed.npz``
holds the first 8 images that 0.1.0's ``dogkit pack --count 40`` wrote from each.
"""

import json
import shutil
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import history, invoke
from toolkit import models
from toolkit.train.loop import TrainConfig, train

OLD = Path(__file__).parent / "data" / "runs-0.1.0"
# the generator's convolutions run in bfloat16 on CPUs with AMX (precision=auto), in float32 elsewhere
LEVELS = 3.0


@pytest.fixture
def old_runs(tmp_path):
    shutil.copytree(OLD, tmp_path / "runs")
    return tmp_path / "runs"


def packed_images(path: Path, count: int = 8) -> np.ndarray:
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())[:count]
        return np.stack([np.asarray(Image.open(BytesIO(archive.read(n))).convert("RGB")) for n in names])


@pytest.mark.parametrize("model", ["memorizer", "biggan"])
def test_an_old_run_packs_the_images_it_packed(old_runs, model):
    out = old_runs / f"{model}.zip"
    result = invoke("pack", "--run", old_runs / model, "--out", out, "--count", 40)
    assert result.exit_code == 0, result.output
    then = np.load(OLD / "packed.npz")[model].astype(np.float32)
    now = packed_images(out).astype(np.float32)
    assert np.abs(now - then).mean() <= LEVELS


def test_an_old_memorizer_run_resumes_to_its_end(old_runs):
    run = old_runs / "memorizer"
    before = history(run)
    result = invoke("train", "--run", run, "--data", old_runs / "crops.npz", "--resume", "--budget", "10m")
    assert result.exit_code == 0, result.output
    assert "run complete" in result.output
    rows = history(run)
    assert rows[: len(before)] == before and len(rows) > len(before)
    assert [r["round"] for r in rows][-1] == "9"
    assert invoke("pack", "--run", run, "--out", old_runs / "after.zip", "--count", 20).exit_code == 0


def test_an_old_biggan_run_resumes(old_runs):
    run = old_runs / "biggan"
    steps = json.loads((run / "checkpoints" / "latest.json").read_text())["position"]["steps"]
    # the loop itself, told that a few seconds of training will do (the command line asks for a minute)
    config = TrainConfig(data=old_runs / "crops.npz", run=run, budget_s=30.0, resume=True, min_train_s=1.0,
                         pack_count=10)  # fmt: skip
    result = train(config, models.get("biggan"))
    assert result.steps >= 1
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["position"]["steps"] == steps + result.steps
