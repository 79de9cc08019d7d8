"""Shared fixtures: varied synthetic images and zips built by the tests themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
