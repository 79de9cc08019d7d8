"""Feature extractors (stand-ins built here), the weights resolver, the reference cache and `score_zip`.

No real Inception weights are used: a tiny TF graph with the competition graph's tensor names
(``ExpandDims`` fed by a decoded JPEG, ``pool_3`` of shape (n, 1, 1, 2048)) stands in for
``classify_image_graph_def.pb``, and a Keras InceptionV3 with random weights for the Keras cache
file. The reference-cache tests use a NumPy extractor that counts the images it sees.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from submission import write_images_zip
from tests.conftest import varied_images
from toolkit.errors import DogkitError
from toolkit.metric import score as score_module
from toolkit.metric.features import (
    FEATURE_WIDTH,
    GRAPH_FILE,
    KERAS_LABEL,
    KERAS_WEIGHTS_FILE,
    FeatureExtractor,
    GraphExtractor,
    KerasExtractor,
    extractor_for_file,
    find_extractor,
)
from toolkit.metric.mifid import mifid
from toolkit.metric.score import (
    JSON_KEYS,
    ScoreConfig,
    ScoreReport,
    load_reference_npz,
    photo_to_64,
    reference_digest,
    reference_features,
    reference_files,
    saved_score,
    score_zip,
    write_score_json,
)

STANDIN_SIZE = 16  # the stand-in graph resizes to 16x16 where the real one resizes to 299x299


# --------------------------------------------------------------------------- stand-in extractors


class CountingExtractor(FeatureExtractor):
    """NumPy stand-in: 8x8 block means through a fixed random projection; counts the images it sees."""

    kind = "counting"
    official = False
    recipe = "counting-v1"

    def __init__(self, path):
        super().__init__(path)
        self.images_seen = 0

    @property
    def description(self) -> str:
        return "test stand-in"

    def _load(self):
        projection = np.random.default_rng(0).standard_normal((8 * 8 * 3, FEATURE_WIDTH)).astype(np.float32)

        def forward(batch: np.ndarray) -> np.ndarray:
            self.images_seen += batch.shape[0]
            small = batch.reshape(-1, 8, 8, 8, 8, 3).mean(axis=(2, 4)).reshape(batch.shape[0], -1) / 255
            return np.abs(small @ projection)

        return forward


@pytest.fixture
def counting(tmp_path) -> CountingExtractor:
    weights = tmp_path / "counting.bin"
    weights.write_bytes(b"stand-in weights")
    return CountingExtractor(weights)


BATCHNORM = {"m": 0.1, "v": 4.0, "beta": 0.05, "gamma": 2.0}  # the stand-in's batch normalization
BATCHNORM_EPS = 1e-3


def standin_front(tf, images):
    """The stand-in graph from ExpandDims to its convolution's input: resize, then (x - 128) / 128."""
    x = tf.raw_ops.ResizeBilinear(images=images, size=[STANDIN_SIZE, STANDIN_SIZE], name="ResizeBilinear")
    return tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1.0 / 128.0, name="Mul")


def write_standin_graph(path: Path, *, with_pool: bool = True) -> np.ndarray:
    """Export a GraphDef shaped like classify_image_graph_def.pb's front and pool_3; return its kernel.

    Like the 2015 graph, it normalizes with BatchNormWithGlobalNormalization, an op removed from
    GraphDef version 9 on, and says it was produced at version 8: only a TF1 Session runs it.
    """
    from toolkit.backend import tf

    kernel = (np.random.default_rng(1).standard_normal((3, 3, 3, FEATURE_WIDTH)) * 0.3).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        contents = tf.compat.v1.placeholder(tf.string, shape=[], name="DecodeJpeg/contents")
        decoded = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
        image = tf.expand_dims(tf.cast(decoded, tf.float32, name="Cast"), 0, name="ExpandDims")
        if with_pool:
            conv = tf.nn.conv2d(standin_front(tf, image), tf.constant(kernel, name="kernel"), 1, "SAME", name="conv")
            for key, value in BATCHNORM.items():
                tf.constant(np.full(FEATURE_WIDTH, value, np.float32), name=f"bn/{key}")
            normalized = tf.identity(conv, name="conv/batchnorm")  # becomes the 2015 op below
            pool = tf.nn.avg_pool2d(
                tf.nn.relu(normalized, name="mixed"), STANDIN_SIZE, STANDIN_SIZE, "VALID", name="pool_3"
            )
            tf.reshape(pool, [1, FEATURE_WIDTH], name="pool_3/_reshape")  # batch 1 only, as in the real graph
        else:
            tf.reduce_mean(image, name="mean")
    graph_def = graph.as_graph_def()
    for node in graph_def.node:
        if node.name == "conv/batchnorm":
            node.op = "BatchNormWithGlobalNormalization"
            del node.input[:]
            node.input.extend(["conv", "bn/m", "bn/v", "bn/beta", "bn/gamma"])
            node.attr["variance_epsilon"].f = BATCHNORM_EPS
            node.attr["scale_after_normalization"].b = True
    graph_def.versions.producer = 8
    path.write_bytes(graph_def.SerializeToString())
    return kernel


@pytest.fixture(scope="module")
def graph_pb(tmp_path_factory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("graph") / GRAPH_FILE
    return path, write_standin_graph(path)


def expected_graph_features(kernel: np.ndarray, images: np.ndarray) -> np.ndarray:
    """The stand-in's pool_3, computed eagerly: (n, 2048)."""
    from toolkit.backend import tf

    conv = tf.nn.conv2d(standin_front(tf, tf.constant(images.astype(np.float32))), kernel, 1, "SAME").numpy()
    bn = BATCHNORM
    normalized = (conv - bn["m"]) / np.sqrt(bn["v"] + BATCHNORM_EPS) * bn["gamma"] + bn["beta"]
    return np.maximum(normalized, 0).mean(axis=(1, 2))


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """A random-weight InceptionV3 (no top, average pool) saved as Keras 3 weights and as a legacy .h5."""
    from toolkit.backend import keras

    folder = tmp_path_factory.mktemp("keras")
    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg")
    modern = folder / "inception.weights.h5"
    home = folder / "keras_home"
    legacy = home / "models" / KERAS_WEIGHTS_FILE
    legacy.parent.mkdir(parents=True)
    with warnings.catch_warnings():  # Keras' own NumPy 2 deprecation notices and legacy-format advice
        warnings.simplefilter("ignore")
        model.save_weights(modern)
        model.save(legacy)  # the legacy (Keras 2) HDF5 layout of the downloaded notop file
    return model, modern, home


def expected_keras_features(model, images: np.ndarray) -> np.ndarray:
    from toolkit.backend import keras, tf

    resized = tf.image.resize(images.astype(np.float32), (299, 299), method="bilinear")
    return model(keras.applications.inception_v3.preprocess_input(resized), training=False).numpy()


def test_importing_score_does_not_import_tensorflow():
    code = (
        "import sys, toolkit.metric.score, toolkit.metric.features; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd())
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- the graph extractor


def test_graph_extractor_feeds_a_batch_at_expanddims_and_reads_pool_3(graph_pb):
    path, kernel = graph_pb
    images = np.stack(varied_images(7, seed=3))
    extractor = extractor_for_file(path)
    assert isinstance(extractor, GraphExtractor) and extractor.official
    done = []
    features = extractor.extract(images, batch_size=3, progress=done.append)
    assert features.shape == (7, FEATURE_WIDTH) and features.dtype == np.float32
    assert done == [3, 3, 1]
    np.testing.assert_allclose(features, expected_graph_features(kernel, images), rtol=1e-5, atol=1e-5)
    # an iterable of single images gives the same, whatever the batch size
    again = extractor.extract(iter(list(images)), batch_size=4)
    np.testing.assert_allclose(again, features, rtol=1e-6, atol=1e-6)


def test_graph_extractor_identity_follows_the_weights_content(tmp_path, graph_pb):
    path, _ = graph_pb
    copy = tmp_path / "copy.pb"
    copy.write_bytes(path.read_bytes())
    assert GraphExtractor(copy).identity == GraphExtractor(path).identity
    assert GraphExtractor(path).identity.startswith("graph-pool3-")
    changed = tmp_path / "changed.pb"
    changed.write_bytes(path.read_bytes() + b"\x00")
    assert GraphExtractor(changed).identity != GraphExtractor(path).identity


def test_graph_without_the_competition_tensors_is_refused(tmp_path):
    path = tmp_path / "other.pb"
    write_standin_graph(path, with_pool=False)
    with pytest.raises(DogkitError, match=r"other\.pb: a TensorFlow graph without pool_3:0"):
        extractor_for_file(path).extract(np.zeros((1, 64, 64, 3), np.uint8))


def test_corrupt_graphdef_is_refused(tmp_path):
    path = tmp_path / GRAPH_FILE
    path.write_bytes(b"\x0a\xff\xff\xff\x0fgarbage")
    with pytest.raises(DogkitError, match=r"classify_image_graph_def\.pb: not a TensorFlow GraphDef"):
        extractor_for_file(path).extract(np.zeros((1, 64, 64, 3), np.uint8))


def test_extract_checks_image_shape_and_batch_size(graph_pb):
    extractor = GraphExtractor(graph_pb[0])
    with pytest.raises(ValueError, match=r"\(64, 64, 3\) uint8"):
        extractor.extract(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        extractor.extract(np.zeros((2, 64, 64, 3), np.uint8), batch_size=0)
    with pytest.raises(ValueError, match="no images"):
        extractor.extract(np.zeros((0, 64, 64, 3), np.uint8))


# --------------------------------------------------------------------------- the Keras extractor


def test_keras_extractor_loads_keras3_weights(keras_files):
    model, modern, _ = keras_files
    images = np.stack(varied_images(4, seed=5))
    extractor = extractor_for_file(modern)
    assert isinstance(extractor, KerasExtractor) and not extractor.official
    assert KERAS_LABEL in extractor.description
    features = extractor.extract(images, batch_size=2)
    expected = expected_keras_features(model, images)
    assert features.shape == (4, FEATURE_WIDTH)
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_keras_cache_file_found_through_keras_home_and_loaded(keras_files, tmp_path, monkeypatch):
    model, _, home = keras_files
    monkeypatch.setenv("KERAS_HOME", str(home))
    extractor = find_extractor(None, search_roots=[tmp_path / "no-kaggle-input"])
    assert isinstance(extractor, KerasExtractor)
    assert extractor.path == home / "models" / KERAS_WEIGHTS_FILE
    images = np.stack(varied_images(2, seed=6))
    expected = expected_keras_features(model, images)
    np.testing.assert_allclose(extractor.extract(images), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_keras_weights_of_another_model_are_refused(tmp_path):
    from toolkit.backend import keras

    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "small.weights.h5"
    with warnings.catch_warnings():  # Keras' own NumPy 2 deprecation notice
        warnings.simplefilter("ignore")
        small.save_weights(path)
    with pytest.raises(DogkitError, match=r"small\.weights\.h5: cannot load as Keras InceptionV3 weights"):
        extractor_for_file(path).extract(np.zeros((1, 64, 64, 3), np.uint8))


# --------------------------------------------------------------------------- finding the weights


@pytest.fixture
def no_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))


def test_explicit_file_of_each_kind(tmp_path, graph_pb):
    assert isinstance(find_extractor(graph_pb[0]), GraphExtractor)
    h5 = tmp_path / "weights.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert isinstance(find_extractor(h5), KerasExtractor)
    keras_archive = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_archive, "w") as archive:
        archive.writestr("config.json", "{}")
    assert isinstance(find_extractor(keras_archive), KerasExtractor)


def test_graph_found_under_kaggle_input_before_the_keras_cache(tmp_path, graph_pb, monkeypatch):
    nested = tmp_path / "input" / "dog-face-generation-competition-kid-metric-input" / "classify_image_graph_def"
    nested.mkdir(parents=True)
    (nested / GRAPH_FILE).write_bytes(graph_pb[0].read_bytes())
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    (cache / KERAS_WEIGHTS_FILE).write_bytes(b"\x89HDF\r\n\x1a\n")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    found = find_extractor(None, search_roots=[tmp_path / "input"])
    assert isinstance(found, GraphExtractor) and found.path == nested / GRAPH_FILE
    # the default roots come from DOGKIT_KAGGLE_INPUT
    monkeypatch.setenv("DOGKIT_KAGGLE_INPUT", str(tmp_path / "input"))
    assert find_extractor().path == nested / GRAPH_FILE


def test_keras_notop_file_under_kaggle_input(tmp_path, no_keras_cache):
    folder = tmp_path / "input" / "keras-pretrained-models"
    folder.mkdir(parents=True)
    (folder / KERAS_WEIGHTS_FILE).write_bytes(b"\x89HDF\r\n\x1a\n")
    found = find_extractor(None, search_roots=[tmp_path / "input"])
    assert isinstance(found, KerasExtractor) and found.path == folder / KERAS_WEIGHTS_FILE


def test_nothing_found_says_how_to_get_the_weights(tmp_path, no_keras_cache):
    (tmp_path / "input").mkdir()
    with pytest.raises(DogkitError) as caught:
        find_extractor(None, search_roots=[tmp_path / "input"])
    message = str(caught.value)
    assert message.startswith("no Inception weights found")
    assert str(tmp_path / "input") in message and GRAPH_FILE in message and KERAS_WEIGHTS_FILE in message
    assert "--inception FILE" in message and "On Kaggle" in message


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("notes.txt", b"hello, not weights", r"notes\.txt: neither a TensorFlow GraphDef"),
        ("inception-2015-12-05.tgz", gzip.compress(b"tar"), r"\.tgz: a gzip archive; unpack it"),
        ("empty.pb", b"", r"empty\.pb: neither a TensorFlow GraphDef"),
    ],
)
def test_unusable_weights_file_is_named(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DogkitError, match=match):
        find_extractor(path)


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(DogkitError, match=r"nope\.pb: file not found"):
        find_extractor(tmp_path / "nope.pb")
    with pytest.raises(DogkitError, match="a folder; pass the weights file"):
        find_extractor(tmp_path)


# --------------------------------------------------------------------------- reference features


def write_photos(folder: Path, n: int, seed: int = 0, fmt: str = "JPEG") -> list[Path]:
    """``n`` photos of varied sizes named like the competition's."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k, image in enumerate(varied_images(n, seed=seed, size=96)):
        width, height = (int(v) for v in rng.integers(70, 97, size=2))
        path = folder / f"n0208562{k % 3}_{k}.{'jpg' if fmt == 'JPEG' else 'png'}"
        Image.fromarray(image[:height, :width]).save(path, fmt)
        paths.append(path)
    return paths


def test_photo_to_64_is_the_whole_photo_lanczos_resized():
    rgba = Image.fromarray(np.stack(varied_images(1, size=96))[0][:50]).convert("RGBA")
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    expected = np.asarray(rgba.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS))
    result = photo_to_64(buffer.getvalue())
    assert result.shape == (64, 64, 3) and result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)


def test_reference_is_computed_once_then_read_from_the_cache(tmp_path, counting):
    competition = tmp_path / "data" / "generative-dog-images"
    write_photos(competition / "all-dogs", 10)
    cache = tmp_path / "cache"
    first = reference_features(tmp_path / "data", counting, cache, batch_size=4)
    assert counting.images_seen == 10 and not first.reused
    assert first.cache_path.parent == cache and counting.identity in first.cache_path.name
    assert first.features.shape == (10, FEATURE_WIDTH) and first.features.dtype == np.float32
    assert first.mu.dtype == np.float64 and first.sigma.shape == (FEATURE_WIDTH, FEATURE_WIDTH)
    with np.load(first.cache_path) as stored:
        assert {"m", "s", "features"} <= set(stored.files)

    second = reference_features(tmp_path / "data", counting, cache, batch_size=4)
    assert counting.images_seen == 10, "the cached reference must not be recomputed"
    assert second.reused and second.cache_path == first.cache_path
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.sigma, first.sigma)


def test_other_reference_content_gets_another_cache_entry(tmp_path, counting):
    photos = write_photos(tmp_path / "ref" / "all-dogs", 6)
    cache = tmp_path / "cache"
    first = reference_features(tmp_path / "ref", counting, cache)
    Image.fromarray(np.zeros((80, 90, 3), np.uint8)).save(photos[2], "JPEG")  # same name, new content
    second = reference_features(tmp_path / "ref", counting, cache)
    assert second.cache_path != first.cache_path and not second.reused
    assert counting.images_seen == 12


def test_zipped_and_extracted_photos_share_the_cache(tmp_path, counting):
    photos = write_photos(tmp_path / "extracted" / "all-dogs", 6)
    (tmp_path / "zipped").mkdir()
    with zipfile.ZipFile(tmp_path / "zipped" / "all-dogs.zip", "w") as archive:
        for path in photos:
            archive.write(path, path.name)
    cache = tmp_path / "cache"
    files = reference_files(tmp_path / "zipped")
    assert files.in_zip
    assert reference_digest(files) == reference_digest(reference_files(tmp_path / "extracted"))
    reference_features(tmp_path / "extracted", counting, cache)
    assert reference_features(tmp_path / "zipped", counting, cache).reused
    assert counting.images_seen == 6


def test_folder_digest_is_memoized_by_file_stats(tmp_path, monkeypatch):
    photos = write_photos(tmp_path / "photos", 4, fmt="PNG")
    cache = tmp_path / "cache"
    files = reference_files(tmp_path / "photos")
    digest = reference_digest(files, cache)

    def no_reading(path):
        raise AssertionError(f"read {path} although its stats did not change")

    monkeypatch.setattr(score_module, "_file_crc", no_reading)
    assert reference_digest(files, cache) == digest
    monkeypatch.undo()
    photos[0].write_bytes(photos[1].read_bytes() + b"changed")
    assert reference_digest(files, cache) != digest


def test_npz_reference_is_used_as_is(tmp_path, counting):
    rng = np.random.default_rng(2)
    features = np.abs(rng.standard_normal((5, FEATURE_WIDTH))).astype(np.float32)
    mu, sigma = rng.standard_normal(FEATURE_WIDTH), np.eye(FEATURE_WIDTH) * 2.0
    np.savez(tmp_path / "ref.npz", m=mu, s=sigma, features=features)
    loaded = reference_features(tmp_path / "ref.npz", counting, tmp_path / "cache")
    assert loaded.reused and counting.images_seen == 0
    np.testing.assert_array_equal(loaded.features, features)
    np.testing.assert_array_equal(loaded.mu, mu)
    np.testing.assert_array_equal(loaded.sigma, sigma)
    assert not (tmp_path / "cache").exists()


def test_bad_npz_references_are_named(tmp_path, counting):
    ok = {"m": np.zeros(FEATURE_WIDTH), "s": np.eye(FEATURE_WIDTH), "features": np.ones((3, FEATURE_WIDTH))}
    np.savez(tmp_path / "crops.npz", images=np.zeros((2, 64, 64, 3), np.uint8), breeds=np.array(["a", "b"]))
    with pytest.raises(
        DogkitError, match=r"crops\.npz: reference features need .*missing m, s, features.*dogkit prepare"
    ):
        load_reference_npz(tmp_path / "crops.npz")
    np.savez(tmp_path / "narrow.npz", **{**ok, "features": np.ones((3, 16))})
    with pytest.raises(DogkitError, match=r"narrow\.npz: features must have shape \(rows >= 2, 2048\)"):
        load_reference_npz(tmp_path / "narrow.npz")
    np.savez(tmp_path / "other.npz", **ok, extractor=np.array("graph-pool3-v1-0123456789abcdef"))
    with pytest.raises(DogkitError, match=r"other\.npz: reference features from extractor graph-pool3"):
        load_reference_npz(tmp_path / "other.npz", counting)
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DogkitError, match=r"broken\.npz: not a readable \.npz"):
        load_reference_npz(tmp_path / "broken.npz")


def test_folder_and_zip_of_images_as_reference(tmp_path, counting):
    photos = write_photos(tmp_path / "mine" / "nested", 3, fmt="PNG") + write_photos(tmp_path / "mine", 2, seed=4)
    (tmp_path / "mine" / "README.txt").write_text("not an image")
    from_folder = reference_features(tmp_path / "mine", counting, tmp_path / "cache")
    assert from_folder.features.shape[0] == 5
    with zipfile.ZipFile(tmp_path / "mine.zip", "w") as archive:
        for path in photos:
            archive.write(path, path.relative_to(tmp_path / "mine").as_posix())
    from_zip = reference_features(tmp_path / "mine.zip", counting, tmp_path / "cache")
    assert from_zip.reused, "same names and contents as the folder: same cache entry"
    expected = counting.extract(np.stack([photo_to_64(p.read_bytes()) for p in sorted(photos)]))
    np.testing.assert_allclose(np.sort(from_folder.features, axis=0), np.sort(expected, axis=0), rtol=1e-6)


def test_undecodable_reference_photos_are_left_out(tmp_path, counting):
    write_photos(tmp_path / "ref" / "all-dogs", 4)
    (tmp_path / "ref" / "all-dogs" / "n02085620_999.jpg").write_bytes(b"\xff\xd8 truncated")
    result = reference_features(tmp_path / "ref", counting, tmp_path / "cache")
    assert result.features.shape[0] == 4 and result.skipped == ("n02085620_999.jpg",)


def test_unusable_references_are_named(tmp_path, counting):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DogkitError, match="empty: no competition photos and no images"):
        reference_features(tmp_path / "empty", counting, tmp_path / "cache")
    with pytest.raises(DogkitError, match="missing: reference not found"):
        reference_features(tmp_path / "missing", counting, tmp_path / "cache")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DogkitError, match=r"notes\.txt: not a reference"):
        reference_features(tmp_path / "notes.txt", counting, tmp_path / "cache")


# --------------------------------------------------------------------------- score_zip


COUNT = 12


@pytest.fixture
def submission_zip(tmp_path) -> tuple[Path, np.ndarray]:
    images = np.stack(varied_images(COUNT, seed=11))
    path = tmp_path / "out" / "images.zip"
    path.parent.mkdir()
    write_images_zip(list(images), path, count=COUNT)
    return path, images


def test_score_zip_end_to_end_with_the_graph_standin(tmp_path, graph_pb, submission_zip):
    zip_path, images = submission_zip
    photos = write_photos(tmp_path / "data" / "all-dogs", 9)
    stages = []

    def progress(total, desc):
        import contextlib

        stages.append(desc)
        return contextlib.nullcontext(lambda n: None)

    config = ScoreConfig(
        zip_path=zip_path,
        reference=tmp_path / "data",
        inception=graph_pb[0],
        cache_dir=tmp_path / "cache",
        batch_size=5,
        count=COUNT,
    )
    report = score_zip(config, progress=progress)
    assert stages == ["check", "reference", "features"]

    extractor = GraphExtractor(graph_pb[0])
    reference = np.stack([photo_to_64(p.read_bytes()) for p in sorted(photos)])
    expected = mifid(extractor.extract(images), extractor.extract(reference))
    assert report.fid == pytest.approx(expected.fid, rel=1e-4)
    assert report.distance == pytest.approx(expected.distance, rel=1e-4, abs=1e-6)
    assert report.mifid == pytest.approx(expected.mifid, rel=1e-4)
    assert (report.n_generated, report.n_reference, report.eps) == (COUNT, 9, 0.1)
    assert report.official and report.extractor == extractor.identity and not report.reference_reused

    as_json = json.loads(report.to_json())
    assert tuple(as_json) == JSON_KEYS
    assert as_json["extractor"]["identity"] == extractor.identity and as_json["extractor"]["official"] is True
    text = "\n".join(report.lines())
    assert "FID" in text and "memorization distance" in text and "thresholded distance" in text
    assert "MiFID " in text and "indicative" not in text

    written = write_score_json(report)
    assert written == zip_path.parent / "score.json"
    record = saved_score(zip_path)
    assert record is not None and record["mifid"] == report.mifid and record["zip"] == "images.zip"
    assert set(JSON_KEYS) <= set(record)

    again = score_zip(config)
    assert again.reference_reused and again.mifid == pytest.approx(report.mifid, rel=1e-9)

    write_images_zip(list(images[::-1]), zip_path, count=COUNT)  # other bytes: the saved score no longer applies
    assert saved_score(zip_path) is None


def test_invalid_zip_is_refused_before_any_features(tmp_path, counting):
    images = varied_images(COUNT - 1, seed=2)
    path = tmp_path / "images.zip"
    write_images_zip(images, path, count=COUNT - 1)
    config = ScoreConfig(zip_path=path, reference=tmp_path, cache_dir=tmp_path / "cache", count=COUNT)
    with pytest.raises(DogkitError, match=r"images\.zip: not a valid submission, not scored \(holds 11 images"):
        score_zip(config, extractor=counting)
    assert counting.images_seen == 0


def test_missing_weights_are_named_once_the_zip_is_valid(tmp_path, monkeypatch, no_keras_cache, submission_zip):
    """The zip is checked first (an invalid one is refused whatever the weights), then the weights are
    looked for before any reference photo is read."""
    monkeypatch.setenv("DOGKIT_KAGGLE_INPUT", str(tmp_path / "input"))
    zip_path, _ = submission_zip
    config = ScoreConfig(zip_path=zip_path, reference=tmp_path / "absent", cache_dir=tmp_path / "cache", count=COUNT)
    with pytest.raises(DogkitError, match="no Inception weights found"):
        score_zip(config)
    assert not (tmp_path / "cache").exists()
    absent = ScoreConfig(zip_path=tmp_path / "absent.zip", cache_dir=tmp_path / "cache", count=COUNT)
    with pytest.raises(DogkitError, match=r"absent\.zip: not a valid submission, not scored \(file not found\)"):
        score_zip(absent)


def test_copies_of_the_reference_trigger_the_memorization_warning(tmp_path, counting, submission_zip):
    zip_path, images = submission_zip
    folder = tmp_path / "ref"
    folder.mkdir()
    for k, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{k}.png")  # 64x64 already: the resize leaves them as they are
    config = ScoreConfig(zip_path=zip_path, reference=folder, cache_dir=tmp_path / "cache", count=COUNT)
    report = score_zip(config, extractor=counting)
    assert report.distance < 1e-6 and report.memorization_penalty
    assert report.distance_thresholded == report.distance
    assert "memorization penalty applies" in report.warnings[0]
    assert any("penalty applies: d < eps" in line for line in report.lines())


def test_keras_scores_are_labelled_indicative(tmp_path):
    weights = tmp_path / KERAS_WEIGHTS_FILE
    weights.write_bytes(b"\x89HDF\r\n\x1a\n")
    extractor = KerasExtractor(weights)
    report = ScoreReport(
        zip_path=tmp_path / "images.zip",
        zip_sha256="0" * 64,
        fid=50.0,
        distance=0.2,
        distance_thresholded=1.0,
        mifid=50.0,
        eps=0.1,
        n_generated=10_000,
        n_reference=20_579,
        extractor=extractor.identity,
        extractor_description=extractor.description,
        official=extractor.official,
        space=extractor.space,
        extractor_kind=extractor.kind,
        extractor_file=weights,
        extractor_sha256=extractor.sha256,
        width=extractor.width,
        reference="20579 files in data/all-dogs",
    )
    assert not report.memorization_penalty
    assert report.warnings == [extractor.description] and KERAS_LABEL in report.warnings[0]
    assert any(line.startswith("MiFID (indicative") for line in report.lines())
    assert json.loads(report.to_json())["extractor"]["official"] is False


# ---------------------------------------------------------------------------------------------
# The command


def test_score_command_prints_the_metric_and_writes_score_json(tmp_path, graph_pb, submission_zip):
    from click.testing import CliRunner

    from toolkit.cli import cli

    zip_path, _ = submission_zip
    write_photos(tmp_path / "data" / "all-dogs", 9)
    args = [
        "score",
        str(zip_path),
        "--reference",
        str(tmp_path / "data"),
        "--inception",
        str(graph_pb[0]),
        "--cache",
        str(tmp_path / "cache"),
        "--count",
        str(COUNT),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for label in ("FID", "memorization distance d", "thresholded distance d'", "MiFID"):
        assert label in result.output
    record = json.loads((zip_path.parent / "score.json").read_text())
    assert record["official"] is True and record["feature_space"] == "the competition's Inception graph"
    assert record["extractor"]["kind"] == "graph" and record["extractor"]["width"] == FEATURE_WIDTH
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    record = json.loads(as_json.stdout)
    assert tuple(record) == JSON_KEYS and record["n_generated"] == COUNT and record["n_reference"] == 9


def test_a_score_that_cannot_be_saved_is_still_shown(tmp_path, graph_pb, submission_zip, monkeypatch):
    from click.testing import CliRunner

    import toolkit.metric.score
    from toolkit.cli import cli

    zip_path, _ = submission_zip
    write_photos(tmp_path / "data" / "all-dogs", 9)
    target = zip_path.parent / "score.json"

    def read_only(report, path=None):
        raise OSError(30, "Read-only file system", str(target))

    monkeypatch.setattr(toolkit.metric.score, "write_score_json", read_only)
    args = ["score", zip_path, "--reference", tmp_path / "data", "--inception", graph_pb[0], "--count", COUNT]
    result = CliRunner().invoke(cli, [str(a) for a in [*args, "--cache", tmp_path / "cache"]])
    assert result.exit_code == 0, result.output
    assert "MiFID" in result.stdout
    assert f"warning: score not saved: {target}: Read-only file system" in result.stderr


def test_score_command_warns_when_the_penalty_applies(tmp_path, graph_pb):
    from click.testing import CliRunner

    from toolkit.cli import cli

    photos = write_photos(tmp_path / "data" / "all-dogs", COUNT)
    copies = [photo_to_64(p.read_bytes()) for p in sorted(photos)]
    zip_path = write_images_zip(copies, tmp_path / "images.zip", count=COUNT)
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(zip_path),
            "--reference",
            str(tmp_path / "data"),
            "--inception",
            str(graph_pb[0]),
            "--cache",
            str(tmp_path / "cache"),
            "--count",
            str(COUNT),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "warning: memorization distance" in result.stderr and "penalty applies" in result.output


def test_score_command_refuses_an_invalid_zip(tmp_path, graph_pb):
    from click.testing import CliRunner

    from toolkit.cli import cli

    zip_path = write_images_zip(varied_images(COUNT - 1), tmp_path / "images.zip", count=COUNT - 1)
    result = CliRunner().invoke(cli, ["score", str(zip_path), "--inception", str(graph_pb[0]), "--count", str(COUNT)])
    assert result.exit_code == 1 and "not a valid submission, not scored" in result.output
    assert "Traceback" not in result.output
