"""`dogkit inspect`: each image's nearest training crop, with the stand-in Inception graph of test_score.

The stand-in graph (a 3x3 convolution, ReLU and average pool with the competition graph's tensor
names) is not Inception: the tests check that copies of crops are found and named, not what the
real metric would say of any image.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from submission import write_images_zip
from tests.conftest import invoke, one_line, write_crop_cache
from tests.test_score import CountingExtractor, write_standin_graph
from toolkit.errors import DogkitError
from toolkit.metric.features import GRAPH_FILE
from toolkit.metric.inspection import InspectConfig, inspect_zip
from toolkit.metric.inspection_sheet import CLOSEST, TYPICAL, inspection_sheet
from toolkit.metric.mifid import memorization_distance

CROPS = 40
COUNT = 12
COPIED = [3, 31, 7, 0, 39, 12, 25, 18, 5, 33, 21, 9]  # the crop each zip image copies, in member order


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    """The stand-in graph file (test_score's)."""
    path = tmp_path_factory.mktemp("graph") / GRAPH_FILE
    write_standin_graph(path)
    return path


@pytest.fixture
def crops(tmp_path):
    path = write_crop_cache(tmp_path / "crops.npz", CROPS, seed=4)
    with np.load(path) as npz:
        return path, npz["images"]


def copies_zip(tmp_path, images):
    return write_images_zip([images[k] for k in COPIED], tmp_path / "copies.zip", count=COUNT)


def noise_zip(tmp_path):
    rng = np.random.default_rng(9)
    noise = rng.integers(0, 256, size=(COUNT, 64, 64, 3), dtype=np.uint8)
    return write_images_zip(list(noise), tmp_path / "noise.zip", count=COUNT)


def inspect_args(tmp_path, zip_path, crops_path, graph):
    return [
        "inspect",
        zip_path,
        "--train",
        crops_path,
        "--inception",
        graph,
        "--out",
        tmp_path / "inspect.png",
        "--json",
        tmp_path / "inspect.json",
        "--cache",
        tmp_path / "cache",
        "--count",
        COUNT,
    ]


def test_copies_of_crops_are_found_and_named(tmp_path, crops, graph):
    crops_path, images = crops
    result = invoke(*inspect_args(tmp_path, copies_zip(tmp_path, images), crops_path, graph))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "inspect.json").read_text())
    assert [image["nearest_crop"] for image in report["images"]] == COPIED
    assert max(image["distance"] for image in report["images"]) < 1e-6
    assert report["under_eps"] == COUNT and report["distance"] < 1e-6 and report["n_crops"] == CROPS
    assert report["extractor"]["official"] is True  # the stand-in is shaped like the competition's graph
    assert f"images under eps                {COUNT} of {COUNT}" in result.output
    with Image.open(tmp_path / "inspect.png") as sheet:
        # 12 images: 2 rows of closest pairs, 2 rows of typical ones (all 12), then the histogram
        assert sheet.size == (1148, 2 * (22 + 2 * 82) + 240)


def test_novel_images_are_not_near_any_crop(tmp_path, crops, graph):
    crops_path, _ = crops
    result = invoke(*inspect_args(tmp_path, noise_zip(tmp_path), crops_path, graph))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "inspect.json").read_text())
    distances = [image["distance"] for image in report["images"]]
    assert min(distances) > 1e-3, distances
    assert [image["name"] for image in report["images"]] == sorted(zipfile.ZipFile(tmp_path / "noise.zip").namelist())


def test_distances_are_mifids_and_crop_features_are_cached(tmp_path, crops):
    crops_path, images = crops
    counting = CountingExtractor(tmp_path / "weights.bin")
    (tmp_path / "weights.bin").write_bytes(b"stand-in")
    mixed = [images[3], *np.random.default_rng(2).integers(0, 256, (COUNT - 1, 64, 64, 3), dtype=np.uint8)]
    zip_path = write_images_zip(mixed, tmp_path / "mixed.zip", count=COUNT)
    config = InspectConfig(zip_path=zip_path, train=crops_path, cache_dir=tmp_path / "cache", count=COUNT)
    first, generated, shown_crops = inspect_zip(config, extractor=counting)
    assert counting.images_seen == CROPS + COUNT and not first.crops_reused
    second, _, _ = inspect_zip(config, extractor=counting)
    assert counting.images_seen == CROPS + 2 * COUNT and second.crops_reused
    np.testing.assert_array_equal(first.distances, second.distances)
    features = counting.extract(generated), counting.extract(shown_crops)
    assert first.mean_distance == memorization_distance(*features)
    assert first.nearest[0] == 3 and first.closest(1)[0] == 0
    sheet = inspection_sheet(first, generated, shown_crops)
    assert sheet.size[0] == 1148 and CLOSEST > COUNT and TYPICAL > COUNT // 2


@pytest.mark.parametrize("broken", ["zip_missing", "zip_invalid", "npz_missing", "npz_invalid"])
def test_bad_input_is_one_line_naming_the_file(tmp_path, crops, graph, broken):
    crops_path, images = crops
    zip_path = copies_zip(tmp_path, images)
    if broken == "zip_missing":
        zip_path = tmp_path / "absent.zip"
    elif broken == "zip_invalid":
        zip_path = tmp_path / "bad.zip"
        zip_path.write_bytes(b"not a zip")
    elif broken == "npz_missing":
        crops_path = tmp_path / "absent.npz"
    else:
        crops_path = tmp_path / "bad.npz"
        crops_path.write_bytes(b"not an npz")
    result = invoke(*inspect_args(tmp_path, zip_path, crops_path, graph))
    named = zip_path if broken.startswith("zip") else crops_path
    assert result.exit_code == 1 and one_line(result.output).startswith(f"Error: {named}:"), result.output
    assert not (tmp_path / "inspect.png").exists()


def test_no_weights_found_says_how_to_provide_them(tmp_path, crops, monkeypatch):
    from toolkit.metric import features

    crops_path, images = crops
    monkeypatch.setenv("DOGKIT_KAGGLE_INPUT", str(tmp_path / "input"))
    monkeypatch.setattr(features, "keras_cache_dirs", lambda: [tmp_path / "keras"])
    config = InspectConfig(zip_path=copies_zip(tmp_path, images), train=crops_path, count=COUNT)
    with pytest.raises(DogkitError, match="no Inception weights found.*pass --inception FILE"):
        inspect_zip(config)


def test_features_names_another_feature_space_checked_before_any_work(tmp_path, crops):
    import keras

    crops_path, images = crops
    inputs = keras.Input((64, 64, 3))
    outputs = keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(inputs))
    model_path = tmp_path / "space.keras"
    keras.Model(inputs, outputs).save(model_path)
    config = InspectConfig(zip_path=copies_zip(tmp_path, images), train=crops_path, features=model_path, count=COUNT)
    found, _, _ = inspect_zip(config)
    assert "space.keras" in found.extractor_description
    assert np.all(found.distances < 1e-6)  # exact copies are copies in any feature space
    both = InspectConfig(zip_path=tmp_path / "missing.zip", train=crops_path, features=model_path, inception=model_path)
    with pytest.raises(DogkitError, match="two feature spaces"):
        inspect_zip(both)
    bad = InspectConfig(zip_path=tmp_path / "missing.zip", train=crops_path, features=tmp_path / "none.keras")
    with pytest.raises(DogkitError, match="none.keras: --features file not found"):
        inspect_zip(bad)
