"""The bundled kernel script, run as Kaggle runs it: offline, from an empty folder, without the repo."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from submission import validate_zip
from tests.conftest import TINY_MEMORIZER
from toolkit.data.synthetic import make_photos, write_dataset
from toolkit.kaggle.bundle import BundleConfig, write_bundle
from toolkit.train.budget import format_seconds

BUDGET_S = 600  # the tiny recipe ends long before; a budget too small is refused (tested below)
# where the competition's data has been mounted under /kaggle/input: 2019, until 2025, since
MOUNTS = {"2019": "", "until-2025": "generative-dog-images", "2026": "competitions/generative-dog-images"}

# Runs the script as __main__ with every network connection refused.
OFFLINE = """
import runpy, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network use is forbidden in this test")

socket.socket.connect = refuse
socket.getaddrinfo = refuse
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    result = write_bundle(
        BundleConfig(out=folder, kernel_id="someone/dogkit-test", budget="8h30m", model_options=TINY_MEMORIZER)
    )
    return result.script


@pytest.fixture(scope="module")
def photos():
    return make_photos(40, seed=21)


def run_kernel(script, input_root, working, tmp_path, budget=BUDGET_S, python=sys.executable):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "DOGKIT_", "KAGGLE_")) and key != "VIRTUAL_ENV"
    }
    env.update(
        DOGKIT_KAGGLE_INPUT=str(input_root),
        DOGKIT_KAGGLE_WORKING=str(working),
        DOGKIT_BUDGET=f"{budget}s",
        KERAS_HOME=str(tmp_path / "no-keras-cache"),
        HOME=str(tmp_path / "home"),
    )
    return subprocess.run(
        [python, "-I", "-c", OFFLINE, str(script)],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=min(budget * 4, 900),
    )


def assert_kept_to_its_budget(stdout: str, budget_s: float) -> None:
    """The kernel took its budget from the environment, kept time back for packing and ended training
    by it (or completed the recipe first). How close a run comes to the budget in wall time depends on
    the machine's load and is measured by tests/benchmarks/bench_train.py, not asserted here."""
    assert f"budget {format_seconds(budget_s)}; data from" in stdout, stdout
    # training's share (less when scoring is to follow), with the time kept back for packing
    assert re.search(r"\] budget [0-9hms.]+: [0-9hms.]+ kept for generating and packing", stdout), stdout
    [train] = [line for line in stdout.splitlines() if "] train: " in line]
    assert train.endswith(("stopped by the budget", "complete")), train


@pytest.mark.parametrize("layout", ["zips", "nested"])  # zipped, and extracted as kernels see it
# today's mount in the quick suite, the older ones with the slow tests (discovery's own tests cover them all)
@pytest.mark.parametrize("mount", [m if m == "2026" else pytest.param(m, marks=pytest.mark.slow) for m in MOUNTS])
def test_the_kernel_writes_a_valid_zip_within_its_budget_on_every_mount(script, photos, tmp_path, mount, layout):
    input_root = tmp_path / "input"
    write_dataset(input_root / MOUNTS[mount], photos, layout)
    (input_root / "datasets" / "someone" / "other-data").mkdir(parents=True)  # another attached input
    working = tmp_path / "working"
    done = run_kernel(script, input_root, working, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_kept_to_its_budget(done.stdout, BUDGET_S)
    assert validate_zip(working / "images.zip").ok
    # dogkit's code came from the script, not from the repository or an installed copy
    assert "code from /" in done.stdout and "dogkit-code-" in done.stdout
    for stage in ("prepare:", "train:", "pack:", "score: skipped", "done in"):
        assert stage in done.stdout, done.stdout
    large = [p.name for p in working.iterdir() if p.name != "images.zip" and p.stat().st_size > 1_000_000]
    assert large == [] and {p.name for p in working.iterdir()} <= {"images.zip", "samples.png", "score.json"}
    assert list((tmp_path / "empty").iterdir()) == []


def test_the_kernel_reports_missing_data_with_a_listing_of_its_input(script, tmp_path):
    (tmp_path / "input" / "datasets" / "someone" / "gan-metric").mkdir(parents=True)
    (tmp_path / "input" / "datasets" / "someone" / "gan-metric" / "classify_image_graph_def.pb").write_bytes(b"x")
    (tmp_path / "input" / "competitions" / "some-other-competition").mkdir(parents=True)
    done = run_kernel(script, tmp_path / "input", tmp_path / "working", tmp_path, budget=20)
    assert done.returncode == 1
    assert "no competition photos found" in done.stdout and "the kernel's input holds:" in done.stdout
    listing = [line.split("]", 1)[1].strip() for line in done.stdout.splitlines() if "]     " in line]
    assert listing[:4] == ["competitions/", "some-other-competition/", "datasets/", "someone/"]
    assert "gan-metric/" not in listing  # two levels only
    assert "dogkit fetch" not in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "working" / "images.zip").exists()


def test_a_kernel_whose_budget_is_too_small_to_train_stops_before_training_and_says_so(script, photos, tmp_path):
    input_root = tmp_path / "input"
    write_dataset(input_root / MOUNTS["2026"], photos, "zips")
    done = run_kernel(script, input_root, tmp_path / "working", tmp_path, budget=20)
    assert done.returncode == 2, done.stdout + done.stderr
    [error] = [line for line in done.stdout.splitlines() if "dogkit: error:" in line]
    assert "budget 20.0s is too small to train here" in error and "a budget of at least" in error
    assert "bundle again with --budget" in error and "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "working" / "images.zip").exists()


def test_the_script_needs_nothing_from_the_repository(script):
    text = Path(script).read_text()
    assert "import toolkit" not in text.split('CODE = """')[0].replace("from kernel.main", "")
    assert str(Path(__file__).resolve().parents[1]) not in text


@pytest.mark.slow
def test_the_kernel_scores_itself_when_the_metric_dataset_is_attached(script, photos, tmp_path):
    from tests.test_score import write_standin_graph

    input_root = tmp_path / "input"
    write_dataset(input_root / "generative-dog-images", photos, "nested")
    (input_root / "gan-metric").mkdir()
    write_standin_graph(input_root / "gan-metric" / "classify_image_graph_def.pb")
    working = tmp_path / "working"
    done = run_kernel(script, input_root, working, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_kept_to_its_budget(done.stdout, BUDGET_S)
    assert "score: MiFID" in done.stdout, done.stdout
    # the metric's network evaluates the run as it trains, and the best snapshot is packed
    assert "evaluations while training (the competition's Inception graph, the best by MiFID):" in done.stdout
    assert "pack: 10000 images from the best snapshot (MiFID" in done.stdout, done.stdout
    score = json.loads((working / "score.json").read_text())
    assert score["n_generated"] == 10_000 and score["n_reference"] == len(photos)


@pytest.mark.slow
def test_a_biggan_kernel_trains_and_packs(photos, tmp_path):
    folder = tmp_path / "bundle"
    options = {"width": 4, "batch_size": 16, "z_dim": 20, "shared_dim": 8, "epochs": 3}
    write_bundle(BundleConfig(out=folder, kernel_id="someone/dogkit-biggan", model="biggan", model_options=options))
    input_root = tmp_path / "input"
    write_dataset(input_root / "competitions" / "generative-dog-images", photos, "nested")
    working = tmp_path / "working"
    done = run_kernel(folder / "dogkit_kernel.py", input_root, working, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_kept_to_its_budget(done.stdout, BUDGET_S)
    assert "biggan on" in done.stdout and "train:" in done.stdout, done.stdout
    assert validate_zip(working / "images.zip").ok
