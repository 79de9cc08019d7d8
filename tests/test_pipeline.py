"""`dogkit run` and `dogkit demo`: the whole job within one budget."""

import contextlib
import csv
import json
import re
import time

import pytest

from submission import validate_zip
from tests.conftest import TINY_MEMORIZER, dogkit, named_budget, option_flags
from tests.slowdown import one_busy_core
from tests.test_score import write_standin_graph
from toolkit.data.synthetic import make_photos, write_dataset
from toolkit.train.budget import parse_budget

TINY = option_flags(TINY_MEMORIZER)


def timed(*args, **kwargs) -> tuple:
    """``dogkit ARGS`` in a new process, and its wall time."""
    start = time.monotonic()
    done = dogkit(*args, **kwargs)
    return done, time.monotonic() - start


def no_weights_env(tmp_path):
    (tmp_path / "no-input").mkdir(exist_ok=True)
    return {
        "HOME": str(tmp_path / "home"),
        "KERAS_HOME": str(tmp_path / "keras"),
        "DOGKIT_KAGGLE_INPUT": str(tmp_path / "no-input"),
    }


@pytest.mark.slow
def test_run_does_the_whole_job_and_scores(tmp_path):
    write_dataset(tmp_path / "data" / "generative-dog-images", make_photos(40, seed=31), "zips")
    graph = tmp_path / "classify_image_graph_def.pb"
    write_standin_graph(graph)
    done = dogkit(
        "run",
        "--src",
        tmp_path / "data",
        "--work",
        tmp_path / "work",
        "--budget",
        "10m",
        "--out",
        tmp_path / "images.zip",
        "--inception",
        graph,
        *TINY,
        env={**no_weights_env(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert validate_zip(tmp_path / "images.zip").ok
    for stage in ("prepare:", "train:", "pack:", "score: MiFID", "done in"):
        assert stage in done.stdout, done.stdout
    score = json.loads((tmp_path / "score.json").read_text())
    assert score["n_generated"] == 10_000 and score["n_reference"] == 40 and score["fid"] >= 0
    assert f"MiFID {score['mifid']:.4f}" in done.stdout


def test_run_without_weights_says_why_it_skipped_scoring(tmp_path):
    write_dataset(tmp_path / "data", make_photos(30, seed=32), "flat")
    done = dogkit(
        "run",
        "--src",
        tmp_path / "data",
        "--work",
        tmp_path / "work",
        "--budget",
        "10m",
        "--out",
        tmp_path / "images.zip",
        *TINY,
        env=no_weights_env(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "score: skipped: no Inception weights" in done.stdout and "--inception FILE" in done.stdout
    assert validate_zip(tmp_path / "images.zip").ok and not (tmp_path / "score.json").exists()


def test_run_with_a_budget_too_small_to_train_is_refused_naming_the_budget_it_needs(tmp_path):
    write_dataset(tmp_path / "data", make_photos(20, seed=33), "flat")
    args = ["--src", tmp_path / "data", "--work", tmp_path / "work", "--out", tmp_path / "images.zip"]
    done = dogkit("run", *args, "--budget", "20s", *TINY, env=no_weights_env(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_error(done.stderr).startswith("Error: budget 20.0s is too small to train here: starting took")
    assert parse_budget(named_budget(done.stderr)) > 60
    assert not (tmp_path / "images.zip").exists() and not (tmp_path / "work" / "run").exists()


def one_error(stderr: str) -> str:
    [line] = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in stderr
    return line


@pytest.mark.slow
@pytest.mark.parametrize("machine", ["this machine", "one busy core"])
def test_the_demo_trains_packs_and_shows_its_grid_within_the_budget_it_decides(tmp_path, machine):
    """Without --budget the demo measures the machine and decides its budget: a minute of training and
    what the rest takes there. On this machine and on one about 4x slower it coaches the generator,
    shows its grid and ends within that budget plus 5%."""
    with one_busy_core() if machine == "one busy core" else contextlib.nullcontext() as pin:
        done, seconds = timed("demo", "--out", tmp_path / "demo", env=no_weights_env(tmp_path), pin=pin)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    demo = tmp_path / "demo"
    decided = re.search(r"demo finished in \S+ \(its budget: (\S+)\)", done.stdout)
    assert decided, done.stdout
    assert seconds <= parse_budget(decided.group(1)) * 1.05, f"{seconds:.1f} s: {done.stdout}{done.stderr}"
    assert "training for 1m00s, then generating and packing 10000 images: about" in done.stderr  # said up front
    coached = [row for row in csv.DictReader(open(demo / "work" / "run" / "history.csv")) if row["phase"] == "coach"]
    assert coached, "the demo never reached the coach phase"
    assert validate_zip(demo / "images.zip").ok
    assert (demo / "samples.png").is_file() and (demo / "contact_sheet.png").is_file()
    assert f"sample grid  {demo / 'samples.png'}: the generator after" in done.stdout
    assert json.loads((demo / "report.json").read_text())["crops"] > 400
    for path in ("images.zip", "samples.png", "report.json"):
        assert str(demo / path) in done.stdout


def test_the_demo_refuses_a_budget_too_small_to_train(tmp_path):
    done = dogkit("demo", "--out", tmp_path / "demo", "--budget", "30s", env=no_weights_env(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_error(done.stderr).startswith("Error: budget 30.0s is too small to train here")
    assert parse_budget(named_budget(done.stderr)) > 60
    assert not (tmp_path / "demo" / "images.zip").exists()


def test_the_demo_leaves_folders_it_did_not_make_alone(tmp_path):
    from click.testing import CliRunner

    from toolkit.cli import cli

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "not made by `dogkit demo`" in result.output
    assert (tmp_path / "data" / "precious.txt").read_text() == "mine"
