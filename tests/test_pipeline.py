"""`dogkit run` and `dogkit demo`: the whole job within one budget."""

import json
import os
import subprocess
import sys
import time

import pytest

from submission import validate_zip
from tests.test_score import write_standin_graph
from toolkit.data.synthetic import make_photos, write_dataset

TINY = [
    "--option",
    "bottleneck=64",
    "--option",
    "batch_size=32",
    "--option",
    "memorize_epochs=3",
    "--option",
    "coach_rounds=4",
]


def dogkit(*args, cwd=None, env=None, timeout=400):
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return done, time.monotonic() - start


def no_weights_env(tmp_path):
    (tmp_path / "no-input").mkdir(exist_ok=True)
    return {
        "HOME": str(tmp_path / "home"),
        "KERAS_HOME": str(tmp_path / "keras"),
        "DOGKIT_KAGGLE_INPUT": str(tmp_path / "no-input"),
    }


@pytest.mark.slow
def test_run_does_the_whole_job_within_its_budget_and_scores(tmp_path):
    write_dataset(tmp_path / "data" / "generative-dog-images", make_photos(40, seed=31), "zips")
    graph = tmp_path / "classify_image_graph_def.pb"
    write_standin_graph(graph)
    done, seconds = dogkit(
        "run",
        "--src",
        tmp_path / "data",
        "--work",
        tmp_path / "work",
        "--budget",
        "40s",
        "--out",
        tmp_path / "images.zip",
        "--inception",
        graph,
        *TINY,
        env={**no_weights_env(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds <= 40 * 1.05, done.stdout
    assert validate_zip(tmp_path / "images.zip").ok
    for stage in ("prepare:", "train:", "pack:", "score: MiFID", "done in"):
        assert stage in done.stdout, done.stdout
    score = json.loads((tmp_path / "score.json").read_text())
    assert score["n_generated"] == 10_000 and score["n_reference"] == 40 and score["fid"] >= 0
    assert f"MiFID {score['mifid']:.4f}" in done.stdout


def test_run_without_weights_says_why_it_skipped_scoring(tmp_path):
    write_dataset(tmp_path / "data", make_photos(30, seed=32), "flat")
    done, seconds = dogkit(
        "run",
        "--src",
        tmp_path / "data",
        "--work",
        tmp_path / "work",
        "--budget",
        "30s",
        "--out",
        tmp_path / "images.zip",
        *TINY,
        env=no_weights_env(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds <= 30 * 1.05
    assert "score: skipped: no Inception weights" in done.stdout and "--inception FILE" in done.stdout
    assert validate_zip(tmp_path / "images.zip").ok and not (tmp_path / "score.json").exists()


@pytest.mark.slow
def test_the_demo_finishes_within_three_minutes(tmp_path):
    done, seconds = dogkit("demo", "--out", tmp_path / "demo", env=no_weights_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds <= 180, f"the demo took {seconds:.0f} s"
    demo = tmp_path / "demo"
    assert validate_zip(demo / "images.zip").ok
    assert (demo / "samples.png").is_file() and (demo / "contact_sheet.png").is_file()
    assert json.loads((demo / "report.json").read_text())["crops"] > 400
    for path in ("images.zip", "samples.png", "report.json"):
        assert str(demo / path) in done.stdout


def test_the_demo_leaves_folders_it_did_not_make_alone(tmp_path):
    from click.testing import CliRunner

    from toolkit.cli import cli

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "not made by `dogkit demo`" in result.output
    assert (tmp_path / "data" / "precious.txt").read_text() == "mine"
