"""The synthetic dogs' feature model (tests/benchmarks/feature_space.py): it trains on a tiny
prepared dataset in seconds, saves a .keras file dogkit's --features loads, and its FID sees blur."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.benchmarks.bench_feature_space import blends, blurred, noise_rows, noisy
from tests.benchmarks.feature_space import (
    FEATURE_WIDTH,
    PATCH,
    SHUFFLED,
    FeatureModelConfig,
    build_feature_model,
    label_indices,
    shuffle_patches,
)
from toolkit.data.crops import load_crops
from toolkit.data.prepare import PrepareConfig, prepare
from toolkit.data.synthetic import make_photos, write_dataset
from toolkit.metric.features import features_extractor
from toolkit.metric.mifid import feature_statistics, frechet_distance

TINY = FeatureModelConfig(seconds=60.0, epochs=8, batch_size=32)  # the epochs end it: a few seconds


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> dict[str, np.ndarray]:
    """The crops of 48 synthetic photos (six of each breed), prepared as `dogkit prepare` does."""
    work = tmp_path_factory.mktemp("tiny-dogs")
    src = write_dataset(work / "data", make_photos(48, seed=3), layout="zips")
    return load_crops(prepare(PrepareConfig(src=src, out=work / "crops.npz", workers=1)).out)


@pytest.fixture(scope="module")
def model(crops, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "dogs.keras"
    assert build_feature_model(crops["images"], crops["breeds"], out, TINY, say=lambda _: None) == out
    return out


def fid(features: np.ndarray, ref_stats) -> float:
    return frechet_distance(*feature_statistics(features), *ref_stats)


def test_model_loads_as_features_and_its_fid_sees_blur(model, crops):
    assert sorted(p.name for p in model.parent.iterdir()) == ["dogs.keras"]  # no temporary left beside it
    extractor = features_extractor(model)
    images = crops["images"]
    ref = extractor.extract(images)
    assert ref.shape == (len(images), FEATURE_WIDTH) and np.isfinite(ref).all()
    assert ref.std(axis=0).max() > 0  # not a constant: the features tell crops apart
    ref_stats = feature_statistics(ref)
    itself = fid(ref, ref_stats)
    assert abs(itself) < 1e-3 * fid(extractor.extract(blurred(images, 4)), ref_stats)
    assert fid(extractor.extract(blurred(images, 4)), ref_stats) > fid(extractor.extract(blurred(images, 1)), ref_stats)


def test_same_seed_same_features(model, crops, tmp_path):
    """Epoch-limited training from one seed gives the same model (TensorFlow's CPU kernels allowing)."""
    again = build_feature_model(crops["images"], crops["breeds"], tmp_path / "again.keras", TINY, say=lambda _: None)
    probe = crops["images"][:16]
    np.testing.assert_allclose(
        features_extractor(again).extract(probe), features_extractor(model).extract(probe), rtol=1e-4, atol=1e-4
    )


def test_shuffle_patches_moves_whole_patches():
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    shuffled = shuffle_patches(images, np.random.default_rng(1))

    def patches(image):
        return sorted(
            image[y : y + PATCH, x : x + PATCH].tobytes() for y in range(0, 64, PATCH) for x in range(0, 64, PATCH)
        )

    for before, after in zip(images, shuffled):
        assert patches(before) == patches(after) and not np.array_equal(before, after)


def test_labels_get_the_shuffled_class_last():
    indices, names = label_indices(np.array(["beagle", "Doberman", "beagle"]))
    assert names == ["Doberman", "beagle", SHUFFLED] and indices.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    "images, labels, out, message",
    [
        (np.zeros((4, 64, 64, 3), np.uint8), ["a"] * 4, "m.h5", "name it NAME.keras"),
        (np.zeros((4, 64, 64, 3), np.float32), ["a"] * 4, "m.keras", "uint8"),
        (np.zeros((4, 32, 32, 3), np.uint8), ["a"] * 4, "m.keras", "(n >= 2, 64, 64, 3)"),
        (np.zeros((4, 64, 64, 3), np.uint8), ["a"] * 3, "m.keras", "3 labels, 4 crops"),
    ],
)
def test_bad_input_is_refused_before_training(tmp_path, images, labels, out, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_feature_model(images, np.array(labels), tmp_path / out, TINY)
    assert list(tmp_path.iterdir()) == []


def test_bench_image_sets_and_noise_draws():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
    mixed = blends(crops, 50, rng)
    assert mixed.shape == (50, 64, 64, 3) and mixed.dtype == np.uint8
    assert not any((mixed == c).all(axis=(1, 2, 3)).any() for c in crops)  # a blend is never a crop itself
    assert blurred(crops, 2).std() < crops.std() and noisy(crops, 16, rng).dtype == np.uint8
    pool = rng.normal(size=(100, 4))
    rows = noise_rows(pool, feature_statistics(pool), (20, 60, 500), 5, rng)
    assert [(size, how.split()[0]) for size, _, _, how in rows] == [(20, "disjoint"), (60, "overlapping"), (100, "the")]
    assert rows[0][2] > 0 and rows[2][2] is None
