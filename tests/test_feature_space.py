"""`dogkit score --features FILE`: MiFID in a user's Keras feature space, labelled and cached by content.

The feature models are tiny Keras models built here (global average pooling + Dense), saved as .keras.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from submission import write_images_zip
from tests.conftest import invoke, one_line, varied_images
from tests.test_score import write_photos
from toolkit.metric.features import FEATURES_RECIPE, features_extractor
from toolkit.metric.mifid import mifid
from toolkit.metric.score import photo_to_64

COUNT = 12
WIDTH = 16


def save_model(path: Path, layers, seed: int = 0) -> Path:
    """A Keras model of (64, 64, 3) inputs through ``layers(keras)``, saved to ``path``."""
    from toolkit.backend import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((64, 64, 3))
    model = keras.Model(inputs, layers(keras)(inputs))
    model.save(path)
    return path


def pooled_dense(keras, width: int = WIDTH):
    return keras.Sequential(
        [keras.layers.Rescaling(1 / 255), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(width)]
    )


@pytest.fixture
def features_model(tmp_path) -> Path:
    return save_model(tmp_path / "tiny.keras", pooled_dense)


@pytest.fixture
def scoring(tmp_path):
    """(zip, its images, reference folder, its photos as 64x64) for --count COUNT."""
    images = np.stack(varied_images(COUNT, seed=11))
    zip_path = tmp_path / "out" / "images.zip"
    zip_path.parent.mkdir()
    write_images_zip(list(images), zip_path, count=COUNT)
    photos = write_photos(tmp_path / "data" / "all-dogs", 9)
    reference = np.stack([photo_to_64(p.read_bytes()) for p in sorted(photos)])
    return zip_path, images, tmp_path / "data", reference


def score_args(zip_path, reference, features, cache, *more):
    return [
        "score",
        zip_path,
        "--reference",
        reference,
        "--features",
        features,
        "--cache",
        cache,
        "--count",
        COUNT,
        *more,
    ]


def reference_caches(cache: Path) -> list[Path]:
    return sorted(cache.glob("reference-*.npz"))


def test_score_with_features_names_the_space_and_computes_mifid_in_it(tmp_path, features_model, scoring):
    from toolkit.backend import keras

    zip_path, images, reference_dir, reference = scoring
    result = invoke(*score_args(zip_path, reference_dir, features_model, tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert "features: the feature space of tiny.keras (16-d Keras model" in result.output
    assert "not the competition's metric" in result.output
    lines = result.output.splitlines()
    fid_line = next(line for line in lines if line.startswith("FID"))
    mifid_line = next(line for line in lines if line.startswith("MiFID"))
    assert fid_line.startswith("FID in tiny.keras space") and mifid_line.startswith("MiFID in tiny.keras space")

    model = keras.models.load_model(features_model, compile=False)
    expected = mifid(np.asarray(model(images.astype(np.float32))), np.asarray(model(reference.astype(np.float32))))
    assert float(mifid_line.split()[-1]) == pytest.approx(expected.mifid, rel=1e-3)
    assert float(fid_line.split()[-1]) == pytest.approx(expected.fid, rel=1e-3, abs=1e-3)

    record = json.loads((zip_path.parent / "score.json").read_text())
    assert record["official"] is False and record["feature_space"] == "tiny.keras space"
    assert record["extractor"]["kind"] == "features" and record["extractor"]["width"] == WIDTH
    assert record["extractor"]["identity"].startswith(FEATURES_RECIPE)
    assert record["extractor"]["sha256"] == features_extractor(features_model).sha256
    assert record["mifid"] == pytest.approx(expected.mifid, rel=1e-3)


def test_reference_cache_follows_the_models_content_not_its_name(tmp_path, features_model, scoring):
    zip_path, _, reference_dir, _ = scoring
    cache = tmp_path / "cache"
    assert invoke(*score_args(zip_path, reference_dir, features_model, cache)).exit_code == 0
    (first,) = reference_caches(cache)
    first_record = json.loads((zip_path.parent / "score.json").read_text())
    stamp = first.stat().st_mtime_ns

    renamed = tmp_path / "copies" / "renamed.keras"
    renamed.parent.mkdir()
    shutil.copyfile(features_model, renamed)
    assert invoke(*score_args(zip_path, reference_dir, renamed, cache)).exit_code == 0
    assert reference_caches(cache) == [first] and first.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert json.loads((zip_path.parent / "score.json").read_text())["mifid"] == first_record["mifid"]

    retrained = save_model(tmp_path / "tiny-other.keras", pooled_dense, seed=1)  # same layers, other weights
    assert invoke(*score_args(zip_path, reference_dir, retrained, cache)).exit_code == 0
    assert len(reference_caches(cache)) == 2
    assert json.loads((zip_path.parent / "score.json").read_text())["mifid"] != first_record["mifid"]


def broken_models(tmp_path: Path) -> list[tuple[Path, str]]:
    from toolkit.backend import keras

    nan = save_model(tmp_path / "nan.keras", pooled_dense)
    model = keras.models.load_model(nan, compile=False)
    dense = model.layers[-1].layers[-1]
    dense.set_weights([np.full_like(w, np.nan) for w in dense.get_weights()])
    model.save(nan)
    return [
        (tmp_path / "missing.keras", r"missing\.keras: --features file not found"),
        (tmp_path / "folder.keras", r"folder\.keras: a folder; --features needs a saved Keras model"),
        (tmp_path / "notes.keras", r"notes\.keras: not a Keras model; --features needs"),
        (tmp_path / "fake.keras", r"fake\.keras: --features needs a saved Keras model \(\.keras\); cannot load it"),
        (
            save_model(tmp_path / "maps.keras", lambda keras: keras.layers.Conv2D(8, 16, strides=16)),
            r"maps\.keras: --features model outputs shape \(2, 4, 4, 8\) for 2 images; expected \(2, D\) features",
        ),
        (
            save_model(
                tmp_path / "empty.keras", lambda keras: lambda x: keras.layers.GlobalAveragePooling2D()(x)[:, :0]
            ),
            r"empty\.keras: --features model outputs 0 features per image",
        ),
        (nan, r"nan\.keras: --features model outputs non-finite features"),
    ]


def test_unusable_features_files_are_refused_in_one_line_before_any_work(tmp_path, scoring, monkeypatch):
    import zipfile

    import toolkit.metric.score as score_module

    zip_path, _, reference_dir, _ = scoring
    (tmp_path / "folder.keras").mkdir()
    (tmp_path / "notes.keras").write_text("not a model")
    with zipfile.ZipFile(tmp_path / "fake.keras", "w") as archive:
        archive.writestr("hello.txt", "a zip, not a saved model")

    def no_validation(*args, **kwargs):
        raise AssertionError("the zip was validated before the features file was checked")

    monkeypatch.setattr(score_module, "validate_zip", no_validation)
    for path, message in broken_models(tmp_path):
        result = invoke(*score_args(zip_path, reference_dir, path, tmp_path / "cache"))
        assert result.exit_code == 1, (path, result.output)
        line = one_line(result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert line.startswith("Error: ") and re.search(message, line), line
    assert not (tmp_path / "cache").exists()


def test_features_and_inception_together_are_refused(tmp_path, features_model, scoring):
    zip_path, _, reference_dir, _ = scoring
    result = invoke(
        *score_args(zip_path, reference_dir, features_model, tmp_path / "cache", "--inception", features_model)
    )
    assert result.exit_code == 1
    assert one_line(result.output) == "Error: --features and --inception name two feature spaces; pass one"
