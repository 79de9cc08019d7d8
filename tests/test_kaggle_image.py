"""The bundled kernel on Kaggle's own package versions (kernel/kaggle-image.txt).

The kernel tests run when DOGKIT_KAGGLE_PYTHON names the python of an environment made with
exactly those pins (`pip install -r kernel/kaggle-image.txt`, no dogkit): .ci/run makes one.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from submission import validate_zip
from tests.test_kernel import BUDGET_S, MOUNTS, assert_kept_to_its_budget, run_kernel
from toolkit.data.synthetic import make_photos, write_dataset
from toolkit.kaggle.bundle import BundleConfig, write_bundle

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "kernel" / "kaggle-image.txt"
KAGGLE_PYTHON = os.environ.get("DOGKIT_KAGGLE_PYTHON")
FLOORED = ("tensorflow", "keras", "numpy", "pillow")  # what setup.cfg's floors must match

needs_kaggle_python = pytest.mark.skipif(
    not KAGGLE_PYTHON, reason="DOGKIT_KAGGLE_PYTHON does not name a python with Kaggle's pins (.ci/run makes one)"
)


def pins() -> dict[str, str]:
    pinned = {}
    for line in PINS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pinned[name.lower()] = version
    return pinned


def test_the_pins_file_pins_every_package_to_one_version():
    pinned = pins()
    assert set(FLOORED) <= set(pinned)
    assert all(re.fullmatch(r"\d+(\.\d+)+", version) for version in pinned.values()), pinned


def test_the_readme_names_the_versions_the_kernel_is_tested_on():
    readme = (ROOT / "README.md").read_text()
    [line] = [line for line in readme.splitlines() if line.startswith("The kernel is tested on Kaggle's versions:")]
    named = dict(re.findall(r"([A-Za-z][\w.-]*) (\d+(?:\.\d+)+)", line))
    assert {name.lower(): version for name, version in named.items() if name != "Python"} == pins(), line


def test_setup_cfg_floors_are_the_tested_pins():
    setup = (ROOT / "setup.cfg").read_text()
    floors = dict(re.findall(r"^\s+([a-z]+)>=([\d.]+)\s*$", setup, flags=re.MULTILINE))
    pinned = pins()
    assert {name: floors.get(name) for name in FLOORED} == {name: pinned[name] for name in FLOORED}


@needs_kaggle_python
def test_the_pinned_environment_has_the_pins_and_no_dogkit(tmp_path):
    names = {"tensorflow": "tensorflow", "keras": "keras", "numpy": "numpy", "pillow": "PIL"}
    names.update(protobuf="google.protobuf", tqdm="tqdm", h5py="h5py")
    code = "import importlib, json, sys\n"
    code += f"names = {names!r}\n"
    code += "print(json.dumps({p: importlib.import_module(m).__version__ for p, m in names.items()}))\n"
    code += "import importlib.util; print(importlib.util.find_spec('toolkit'))"
    done = subprocess.run([KAGGLE_PYTHON, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    versions, dogkit = done.stdout.strip().splitlines()[-2:]
    assert json.loads(versions) == pins() and dogkit == "None"


def run_pinned(script, photos, tmp_path):
    input_root = tmp_path / "input"
    write_dataset(input_root / MOUNTS["2026"], photos, "zips")
    working = tmp_path / "working"
    done = run_kernel(script, input_root, working, tmp_path, python=KAGGLE_PYTHON)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_kept_to_its_budget(done.stdout, BUDGET_S)
    assert validate_zip(working / "images.zip").ok
    return done


@needs_kaggle_python
@pytest.mark.parametrize(
    "model, options",
    [
        ("memorizer", {"bottleneck": 64, "batch_size": 32, "memorize_epochs": 2, "coach_rounds": 2}),
        ("biggan", {"width": 4, "batch_size": 16, "z_dim": 20, "shared_dim": 8, "epochs": 2}),
    ],
)
def test_the_kernel_runs_on_kaggles_versions(model, options, tmp_path):
    folder = tmp_path / "bundle"
    write_bundle(BundleConfig(out=folder, kernel_id=f"someone/dogkit-{model}", model=model, model_options=options))
    done = run_pinned(folder / "dogkit_kernel.py", make_photos(40, seed=21), tmp_path)
    assert f"{model} on" in done.stdout and "dogkit-code-" in done.stdout, done.stdout
