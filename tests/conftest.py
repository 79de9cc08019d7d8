"""Shared fixtures: varied synthetic images and zips built by the tests themselves."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

pytest_plugins = ["tests.fake_kaggle"]
REPO = Path(__file__).resolve().parents[1]


def run_on_logical_cpus(script: str, cpus: int = 2) -> subprocess.CompletedProcess:
    """Run Python ``script`` from the repository in a new process whose CPU is split into ``cpus``
    logical devices (TensorFlow fixes them at start-up), so that MirroredStrategy has replicas."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DOGKIT_LOGICAL_CPUS": str(cpus)},
        cwd=REPO,
    )


# A memorizer that trains in seconds: 2 memorize epochs, coach rounds of 1 and 2 epochs
TINY_MEMORIZER = {"bottleneck": 64, "batch_size": 32, "memorize_epochs": 2, "coach_rounds": 2}


def option_flags(options: dict) -> list[str]:
    """``--option NAME=VALUE`` for each item."""
    return [flag for name, value in options.items() for flag in ("--option", f"{name}={value}")]


def invoke(*args):
    """``dogkit ARGS`` in this process through click's test runner (exceptions not caught: a traceback
    shows as one); the Result has ``exit_code`` and ``output``."""
    from click.testing import CliRunner

    from toolkit.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def dogkit(*args, env=None, cwd=None, timeout=600, pin=None) -> subprocess.CompletedProcess:
    """``dogkit ARGS`` in a new process, as a user runs it (``pin``: a preexec_fn, e.g. from
    ``tests.slowdown.one_busy_core``); text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        preexec_fn=pin,
    )


def named_budget(refusal: str) -> str:
    """The budget that a too-small budget's refusal names as enough to train for a minute here."""
    found = re.search(r"a budget of at least (\S+) trains for 1m00s", refusal)
    assert found, refusal
    return found.group(1)


def smallest_budget(*train_args, pin=None) -> str:
    """The smallest budget dogkit accepts here for ``dogkit train TRAIN_ARGS``: the one the refusal of a
    1-second budget names (a minute of training, and what the rest takes on this machine)."""
    refused = dogkit("train", *train_args, "--budget", "1s", pin=pin)
    assert refused.returncode == 2, refused.stderr
    return named_budget(refused.stderr)


def one_line(output: str) -> str:
    """The last line of a command's output, which says what went wrong; never a traceback."""
    assert "Traceback" not in output, output
    assert "dogkit: internal error" not in output, output  # a fault reached the last line of defence
    return [line for line in output.strip().splitlines() if line.strip()][-1]


def latest(run: Path) -> dict:
    """The run's checkpoints/latest.json."""
    return json.loads((run / "checkpoints" / "latest.json").read_text())


def history(run: Path) -> list[dict]:
    """The rows of the run's history.csv ([] before the first)."""
    path = run / "history.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


class TinyRun(NamedTuple):
    cache: Path  # the crop cache it trained on
    path: Path  # the run folder
    output: str  # what `dogkit train` printed


@pytest.fixture(scope="session")
def trained_tiny_run(tmp_path_factory) -> TinyRun:
    """A small, complete memorizer run (48 of 64 crops memorized), trained once per session."""
    folder = tmp_path_factory.mktemp("tiny")
    cache = write_crop_cache(folder / "crops.npz", 64, seed=1)
    run = folder / "run"
    options = option_flags({"memorize": 48, **TINY_MEMORIZER})
    result = invoke("train", "--data", cache, "--run", run, "--budget", "10m", *options)
    assert result.exit_code == 0, result.output
    return TinyRun(cache, run, result.output)


@pytest.fixture
def tiny_run(trained_tiny_run, tmp_path) -> TinyRun:
    """A copy of the session's small memorizer run, for one test to change as it likes."""
    shutil.copytree(trained_tiny_run.path, tmp_path / "tiny-run")
    return trained_tiny_run._replace(path=tmp_path / "tiny-run")


def varied_images(n: int, seed: int = 0, size: int = 64) -> list[np.ndarray]:
    """``n`` distinct (size, size, 3) uint8 images: smooth gradients, stripes and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = []
    for _ in range(n):
        fx, fy = rng.uniform(0.05, 0.5, size=2)
        phase = rng.uniform(0, 2 * np.pi, size=3)
        base = 127 + 90 * np.sin(xx[..., None] * fx + yy[..., None] * fy + phase)
        noise = rng.normal(0, rng.uniform(2, 30), size=(size, size, 3))
        images.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return images


@pytest.fixture(scope="session")
def images64() -> list[np.ndarray]:
    return varied_images(64)


def write_crop_cache(path, n: int, seed: int = 0):
    """A crop cache like `dogkit prepare` writes, of ``n`` varied 64x64 images."""
    from toolkit.data.crops import save_npz

    images = np.stack(varied_images(n, seed=seed))
    save_npz(
        path,
        images=images,
        breeds=np.array([f"breed{k % 5}" for k in range(n)]),
        sources=np.array([f"n0000000{k % 5}_{k}.jpg" for k in range(n)]),
        boxes=np.tile(np.array([0, 0, 64, 64], np.int32), (n, 1)),
    )
    return path


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the end-to-end tests marked slow (CI, with CI=true, runs them always)",
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked slow (whole jobs run as a user would, each tens of seconds) run in CI and with
    --run-slow; the default suite stays quick to run while working."""
    import os

    if config.getoption("--run-slow") or os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end test: run with --run-slow (CI runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
