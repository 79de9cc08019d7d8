"""Evaluation while training (`dogkit train --eval-every/--eval-images/--features`) and the best
snapshot (`dogkit pack --snapshot best|latest`).

The feature spaces are built here: a tiny Keras model saved as .keras (as a user's --features), and,
to make a later evaluation worse on purpose, a stand-in extractor whose features drift further from
the reference's with every evaluation.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from submission import validate_zip
from tests.conftest import history, invoke, one_line, option_flags, write_crop_cache
from tests.test_feature_space import pooled_dense, save_model
from tests.tiny_gan import TINY_GAN
from toolkit.pack.from_run import pack_run
from toolkit.train.evaluation import EvalSettings
from toolkit.train.loop import TrainConfig, train

TINY = option_flags({"bottleneck": 64, "batch_size": 32, "memorize_epochs": 2, "coach_rounds": 3})
EVAL_IMAGES = 40  # generated per evaluation (the crops are 64, a probe 50: the stand-in tells them apart)


class DriftingFeatures:
    """A stand-in feature network: a few pixels as features, and every evaluation's images pushed
    further from the crops (its k-th evaluation by k x 40), so that the first evaluation is the best."""

    identity = "drifting-test-features"
    space = "the drifting test space"
    width = 12

    def __init__(self):
        self.evaluations = 0

    def extract(self, images, batch_size=50, progress=None):
        images = np.asarray(images)
        features = images.reshape(len(images), -1)[:, :: 4096 // 4][:, : self.width].astype(np.float32)
        features += np.random.default_rng(len(images)).normal(0, 1, features.shape).astype(np.float32)
        if len(images) == EVAL_IMAGES:
            features += 40.0 * self.evaluations
            self.evaluations += 1
        return features

    def check(self):
        pass

    def close(self):
        pass


def eval_rows(run: Path) -> list[dict]:
    return [row for row in history(run) if row["phase"] == "eval"]


def zip_bytes(path: Path) -> list[bytes]:
    with zipfile.ZipFile(path) as archive:
        return [archive.read(name) for name in sorted(archive.namelist())]


@pytest.fixture
def features_model(tmp_path) -> Path:
    return save_model(tmp_path / "tiny.keras", pooled_dense)


def test_the_memorizer_is_evaluated_after_each_coach_round_and_packs_its_best(tmp_path, features_model, caplog):
    caplog.set_level("INFO", logger="dogkit")
    cache = write_crop_cache(tmp_path / "crops.npz", 64, seed=1)
    run = tmp_path / "run"
    args = ("--features", features_model, "--eval-images", EVAL_IMAGES, *TINY)
    result = invoke("train", "--data", cache, "--run", run, "--budget", "100s", *args)
    assert result.exit_code == 0, result.output
    assert "evaluating while training in tiny.keras space: 40 images against 64 training crops" in caplog.text
    assert "best snapshot (by FID): MiFID " in result.output and "`dogkit pack --run` packs it" in result.output
    rows = eval_rows(run)
    # one evaluation per coach round, none while memorizing (the generator is not trained then)
    assert [row["round"] for row in rows] == ["1", "2", "3"]
    assert all(float(row["eval_fid"]) >= 0 and float(row["eval_mifid"]) > 0 for row in rows)
    assert all(row["eval_images"] == "40" and row["learning_rate"] == "" for row in rows)
    training_rows = [row for row in history(run) if row["phase"] != "eval"]
    assert all(row["eval_fid"] == "" for row in training_rows) and {r["phase"] for r in training_rows} == {
        "memorize",
        "coach",
    }
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    # a user's feature space: the best is the lowest FID (MiFID's threshold is Inception's)
    lowest = min(rows, key=lambda row: float(row["eval_fid"]))
    assert best["evaluation"]["generator_steps"] == int(lowest["steps"])
    assert best["evaluation"]["fid"] == pytest.approx(float(lowest["eval_fid"]), rel=1e-5)
    assert best["evaluation"]["space"] == "tiny.keras space" and best["evaluation"]["criterion"] == "fid"
    assert all((run / "checkpoints" / name).is_file() for name in best["parts"].values())
    assert (run / "quality_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timing = json.loads((run / "timing.json").read_text())
    assert timing["evaluate"]["evaluations"] == 3 and timing["evaluate"]["wall_s"] > 0

    packed = invoke("pack", "--run", run, "--out", tmp_path / "best.zip", "--count", 30)
    assert packed.exit_code == 0, packed.output
    assert "the best snapshot by FID (MiFID" in packed.output and "tiny.keras space" in packed.output
    assert validate_zip(tmp_path / "best.zip", count=30).ok


def test_pack_takes_the_best_snapshot_when_a_later_evaluation_is_worse_and_resume_keeps_both(tmp_path):
    cache = write_crop_cache(tmp_path / "crops.npz", 48, seed=2)
    run = tmp_path / "run"
    features = DriftingFeatures()
    settings = EvalSettings(every_s=0.3, images=EVAL_IMAGES, reference_crops=48)
    config = TrainConfig(data=cache, run=run, train_s=4.0, evaluation=settings, extractor=features)
    first = train(config, TINY_GAN, {"epochs": 100_000, "batch_size": 8})
    assert not first.complete and first.seconds <= first.budget_s
    rows = eval_rows(run)
    assert len(rows) >= 3, rows  # every 0.3 s, and once more when training ends
    mifids = [float(row["eval_mifid"]) for row in rows]
    assert mifids == sorted(mifids), "the stand-in makes each evaluation worse than the one before"
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert best["evaluation"]["generator_steps"] == int(rows[0]["steps"]) < latest["position"]["generator_steps"]
    assert best["parts"] != latest["parts"]

    pack_run(run, tmp_path / "default.zip", 30, model=TINY_GAN)
    pack_run(run, tmp_path / "best.zip", 30, model=TINY_GAN, snapshot="best")
    pack_run(run, tmp_path / "latest.zip", 30, model=TINY_GAN, snapshot="latest")
    assert zip_bytes(tmp_path / "default.zip") == zip_bytes(tmp_path / "best.zip")
    assert zip_bytes(tmp_path / "best.zip") != zip_bytes(tmp_path / "latest.zip")

    # resuming continues from the latest checkpoint, and the best snapshot (still the first) survives its saves
    resumed = train(
        TrainConfig(data=cache, run=run, train_s=2.0, evaluation=settings, extractor=features, resume=True),
        TINY_GAN,
        {},
    )
    assert resumed.steps > 0
    after = json.loads((run / "checkpoints" / "best.json").read_text())
    assert after["evaluation"] == best["evaluation"] and after["parts"] == best["parts"]
    assert all((run / "checkpoints" / name).is_file() for name in after["parts"].values())
    assert len(eval_rows(run)) > len(rows)
    resumed_latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert resumed_latest["position"]["generator_steps"] > latest["position"]["generator_steps"]
    pack_run(run, tmp_path / "again.zip", 30, model=TINY_GAN)
    assert zip_bytes(tmp_path / "again.zip") == zip_bytes(tmp_path / "best.zip")


def test_a_damaged_best_snapshot_is_said_in_one_line_and_the_latest_is_packed(tmp_path, caplog):
    cache = write_crop_cache(tmp_path / "crops.npz", 48, seed=2)
    run = tmp_path / "run"
    settings = EvalSettings(every_s=0.3, images=EVAL_IMAGES, reference_crops=48)
    config = TrainConfig(data=cache, run=run, train_s=3.0, evaluation=settings, extractor=DriftingFeatures())
    train(config, TINY_GAN, {"epochs": 100_000, "batch_size": 8})
    pack_run(run, tmp_path / "latest.zip", 30, model=TINY_GAN, snapshot="latest")
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    part = run / "checkpoints" / best["parts"]["gan"]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    with caplog.at_level("WARNING", logger="dogkit"):
        packed = pack_run(run, tmp_path / "fallback.zip", 30, model=TINY_GAN)
    assert packed.snapshot == "latest"
    assert zip_bytes(tmp_path / "fallback.zip") == zip_bytes(tmp_path / "latest.zip")
    warnings = [r.getMessage() for r in caplog.records if "best snapshot is damaged" in r.getMessage()]
    assert len(warnings) == 1 and best["parts"]["gan"] in warnings[0] and "\n" not in warnings[0]


def test_without_a_feature_network_training_says_once_that_it_does_not_evaluate(tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO", logger="dogkit")
    monkeypatch.setenv("DOGKIT_KAGGLE_INPUT", str(tmp_path / "no-input"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cache = write_crop_cache(tmp_path / "crops.npz", 48, seed=2)
    result = invoke("train", "--data", cache, "--run", tmp_path / "run", "--budget", "100s", *TINY)
    assert result.exit_code == 0, result.output
    assert caplog.text.count("not evaluating while training: no feature network found") == 1
    assert "--features FILE" in caplog.text
    assert eval_rows(tmp_path / "run") == [] and not (tmp_path / "run" / "quality_curve.png").exists()
    assert not (tmp_path / "run" / "checkpoints" / "best.json").exists()
    refused = invoke("pack", "--run", tmp_path / "run", "--out", tmp_path / "x.zip", "--snapshot", "best")
    assert refused.exit_code == 1 and "no best snapshot" in one_line(refused.output)


def test_evaluation_off_and_an_evaluation_that_does_not_fit_the_share(tmp_path, features_model, caplog):
    caplog.set_level("INFO", logger="dogkit")
    cache = write_crop_cache(tmp_path / "crops.npz", 64, seed=1)
    off = invoke("train", "--data", cache, "--run", tmp_path / "off", "--budget", "100s", "--eval-every", "off", *TINY)
    assert off.exit_code == 0, off.output
    assert "evaluat" not in caplog.text and eval_rows(tmp_path / "off") == []
    # 5% of ~80 s of training is ~4 s: 20,000 images per evaluation do not fit it
    big = ("--features", features_model, "--eval-images", 20000)
    result = invoke("train", "--data", cache, "--run", tmp_path / "big", "--budget", "100s", *big, *TINY)
    assert result.exit_code == 0, result.output
    line = next(line for line in caplog.text.splitlines() if "not evaluating while training: " in line)
    assert "one evaluation of 20000 images take about" in line and "5% of the" in line
    assert "--eval-every" in line and eval_rows(tmp_path / "big") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--eval-images", "0"), "Invalid value for '--eval-images': 0 is not in the range x>=2"),
        (("--eval-every", "nan"), "Invalid value for '--eval-every'"),
        (("--eval-every", "soon"), "Invalid value for '--eval-every'"),
        (("--features", "missing.keras"), "missing.keras"),
    ],
)
def test_bad_evaluation_options_are_one_line_before_any_training(tmp_path, args, message):
    cache = write_crop_cache(tmp_path / "crops.npz", 16, seed=1)
    result = invoke("train", "--data", cache, "--run", tmp_path / "run", "--budget", "100s", *args, *TINY)
    assert result.exit_code in (1, 2) and message in one_line(result.output), result.output
    assert not (tmp_path / "run").exists()


def test_a_features_model_whose_output_is_not_n_by_d_is_refused_before_training(tmp_path):
    cache = write_crop_cache(tmp_path / "crops.npz", 16, seed=1)
    flat = save_model(tmp_path / "maps.keras", lambda keras: keras.layers.Conv2D(2, 3))
    result = invoke("train", "--data", cache, "--run", tmp_path / "run", "--features", flat, *TINY)
    assert result.exit_code == 1 and "maps.keras" in one_line(result.output), result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("kind", "criterion"), [("graph", "mifid"), ("keras", "mifid"), ("features", "fid")])
def test_the_best_is_the_lowest_mifid_in_inceptions_spaces_and_the_lowest_fid_in_others(tmp_path, kind, criterion):
    from toolkit.train.evaluation import Evaluator

    extractor = DriftingFeatures()
    extractor.kind = kind
    assert Evaluator(extractor, EvalSettings(), tmp_path, 0, "f").criterion == criterion


def test_a_features_file_that_is_not_a_keras_model_is_refused_before_training(tmp_path):
    cache = write_crop_cache(tmp_path / "crops.npz", 16, seed=1)
    text = tmp_path / "notes.keras"
    text.write_text("not a model\n")
    result = invoke("train", "--data", cache, "--run", tmp_path / "run", "--features", text, *TINY)
    assert result.exit_code == 1 and f"{text}: not a Keras model" in one_line(result.output), result.output
    assert not (tmp_path / "run").exists()
