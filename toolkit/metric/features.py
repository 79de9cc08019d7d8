"""Inception features for MiFID: the competition's graph, or Keras InceptionV3 as an indicative stand-in.

Two extractors behind one interface (``FeatureExtractor``), each mapping (n, 64, 64, 3) uint8 RGB
images to (n, 2048) float32 features:

* ``GraphExtractor``: the competition's metric. ``classify_image_graph_def.pb`` (Inception, 2015) is
  imported under the name scope ``Pretrained_Net`` with its ``ExpandDims:0`` tensor (normally a
  single decoded JPEG with a batch axis added) replaced by a (None, 64, 64, 3) float32 batch of
  values 0..255, and ``pool_3:0`` (n, 1, 1, 2048) is read, in a ``tf.compat.v1.Session``. The
  graph itself resizes to 299x299 and normalizes, exactly as the competition's scoring code fed it.
* ``KerasExtractor``: ``keras.applications.InceptionV3`` without its top, global average pooling,
  images resized 64 -> 299 (bilinear) and scaled by ``inception_v3.preprocess_input``. Different
  weights and graph from the competition's: its scores only indicate, and are labelled so.
* ``FeaturesModelExtractor`` (``--features FILE``): any saved Keras model (``.keras``) mapping a
  (n, 64, 64, 3) float32 batch of values 0..255 (RGB, not rescaled) to (n, D) features, D chosen by
  the model. Its numbers are in its own feature space, comparable only with numbers in that space.

Weights are never downloaded: ``find_extractor`` takes a file the user names (either kind, told
apart by content), else looks for the graph under the Kaggle input folders, else in the Keras
cache. Nothing here imports TensorFlow until features are extracted, so resolving the weights (and
reporting that none exist) is instant.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from toolkit.errors import DogkitError

logger = logging.getLogger(__name__)

FEATURE_WIDTH = 2048  # Inception pool_3 / global average pool width
INPUT_SIZE = 64  # the submission's image size, fed as is to either extractor
DEFAULT_BATCH_SIZE = 50  # images per forward pass

GRAPH_FILE = "classify_image_graph_def.pb"
GRAPH_INPUT = "ExpandDims:0"  # the tensor replaced by the image batch
GRAPH_OUTPUT = "pool_3:0"  # (n, 1, 1, 2048)
GRAPH_SCOPE = "Pretrained_Net"  # the competition's name scope for the imported graph
GRAPH_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"

KERAS_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_WEIGHTS_URL = f"https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/{KERAS_WEIGHTS_FILE}"
KERAS_SIZE = 299  # InceptionV3's native input size
KERAS_LABEL = "Keras InceptionV3 features — not the competition's graph; the number is indicative"

KAGGLE_INPUT_ENV = "DOGKIT_KAGGLE_INPUT"  # os.pathsep-separated folders to search instead of /kaggle/input
DEFAULT_KAGGLE_INPUT = (Path("/kaggle/input"),)
_SEARCH_DEPTH = 4  # folder levels below a search root: /kaggle/input/<dataset>/<folder>/<folder>/file

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_GZIP_MAGIC = b"\x1f\x8b"
_GRAPHDEF_FIRST_BYTE = b"\x0a"  # protobuf field 1 (GraphDef.node), length-delimited: how a GraphDef starts

Progress = Callable[[int], object]  # called with the number of images done after each batch
Forward = Callable[[np.ndarray], np.ndarray]  # (b, 64, 64, 3) float32 0..255 -> (b, width)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureExtractor(ABC):
    """Maps 64x64 RGB uint8 images to 2048-d features; the network loads on first use.

    Attributes:
        kind: "graph", "keras" or "features" (a user's model).
        official: True when the features are the competition's metric (the graph).
        recipe: names the network, its input pipeline and output; a change here must change the
            identity, so that cached reference features computed another way are not reused.
        path: the weights file.
    """

    kind: ClassVar[str]
    official: ClassVar[bool]
    recipe: ClassVar[str]

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._sha256: str | None = None
        self._forward: Forward | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the weights file (computed once; ~0.3 s for the ~90 MB graph)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    @property
    def identity(self) -> str:
        """``<recipe>-<first 16 hex digits of the weights' SHA-256>``: the reference cache's key."""
        return f"{self.recipe}-{self.sha256[:16]}"

    @property
    def width(self) -> int:
        """Features per image."""
        return FEATURE_WIDTH

    @property
    def space(self) -> str:
        """A few words naming the feature space a number is in."""
        return "the competition's Inception graph" if self.official else "Keras InceptionV3 (indicative)"

    @property
    @abstractmethod
    def description(self) -> str:
        """One line for the user: what the features are and whether they are the competition's."""

    def check(self) -> None:
        """Load the network now, so that an unusable file is refused before any other work."""
        if self._forward is None:
            self._forward = self._load()

    def extract(
        self,
        images: np.ndarray | Iterable[np.ndarray],
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Features of ``images``, batch by batch.

        Args:
            images: a (n, 64, 64, 3) uint8 array, or an iterable of (64, 64, 3) uint8 images
                (consumed one batch at a time, so a generator never holds them all).
            batch_size: images per forward pass.
            progress: called with the batch's size after each batch.

        Returns:
            (n, width) float32.

        Raises:
            ValueError: batch_size < 1, no images, or an image not (64, 64, 3) uint8.
            DogkitError: the weights file cannot be loaded (named in the message).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        outputs = []
        for batch in _batches(images, batch_size):
            if self._forward is None:  # loaded once the first batch is known to be well formed
                self._forward = self._load()
            features = np.asarray(self._forward(batch.astype(np.float32)))
            outputs.append(features.reshape(batch.shape[0], -1).astype(np.float32, copy=False))
            if progress is not None:
                progress(batch.shape[0])
        if not outputs:
            raise ValueError("no images to extract features from")
        features = np.concatenate(outputs)
        if features.shape[1] != self.width:
            raise DogkitError(f"{self.path}: features have width {features.shape[1]}, expected {self.width}")
        return features

    def close(self) -> None:
        """Release what the network holds (a TF session); a later ``extract`` loads it again."""
        self._forward = None

    @abstractmethod
    def _load(self) -> Forward:
        """Build the network from ``self.path``; DogkitError naming the file when it cannot."""


def _check_batch(batch: np.ndarray) -> np.ndarray:
    if batch.dtype != np.uint8 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ValueError(
            f"images must be ({INPUT_SIZE}, {INPUT_SIZE}, 3) uint8, got shape {batch.shape[1:]} dtype {batch.dtype}"
        )
    return batch


def _batches(images: np.ndarray | Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """(b, 64, 64, 3) uint8 batches of an array or of an iterable of single images."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(f"images must be a (n, {INPUT_SIZE}, {INPUT_SIZE}, 3) array, got shape {images.shape}")
        for start in range(0, images.shape[0], batch_size):
            yield _check_batch(images[start : start + batch_size])
        return
    batch: list[np.ndarray] = []
    for image in images:
        batch.append(np.asarray(image))
        if len(batch) == batch_size:
            yield _check_batch(np.stack(batch))
            batch = []
    if batch:
        yield _check_batch(np.stack(batch))


# ---------------------------------------------------------------------------------------------
# The competition's graph


class GraphExtractor(FeatureExtractor):
    """``pool_3`` of the Inception GraphDef ``classify_image_graph_def.pb``: the competition's metric."""

    kind = "graph"
    official = True
    recipe = "graph-pool3-v1"
    _session = None  # the tf.compat.v1.Session running the imported graph, once loaded

    @property
    def description(self) -> str:
        return f"Inception pool_3 of {self.path.name} (the competition's metric graph)"

    def _load(self) -> Forward:
        from google.protobuf.message import DecodeError

        from toolkit.backend import tf

        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(self.path.read_bytes())
        except DecodeError as exc:
            raise DogkitError(f"{self.path}: not a TensorFlow GraphDef ({exc})") from None
        nodes = {node.name for node in graph_def.node}
        missing = [name for name in (GRAPH_INPUT, GRAPH_OUTPUT) if name.split(":")[0] not in nodes]
        if missing:
            raise DogkitError(
                f"{self.path}: a TensorFlow graph without {' and '.join(missing)}; "
                f"expected the competition's {GRAPH_FILE}"
            )

        # A TF1 graph run by a Session, not a tf.function (wrap_function): the 2015 graph uses
        # BatchNormWithGlobalNormalization, removed from GraphDef version 9 on. Importing lowers the
        # graph's producer version to the file's (< 9), so a Session may run it; functions always
        # run at the current version and refuse the op.
        graph = tf.Graph()
        with graph.as_default():
            images = tf.compat.v1.placeholder(tf.float32, (None, INPUT_SIZE, INPUT_SIZE, 3), name="images")
            try:
                (pool,) = tf.compat.v1.import_graph_def(
                    graph_def, input_map={GRAPH_INPUT: images}, return_elements=[GRAPH_OUTPUT], name=GRAPH_SCOPE
                )
            except (ValueError, TypeError) as exc:
                raise DogkitError(f"{self.path}: cannot import the graph with a 64x64 image batch ({exc})") from None
        width = pool.shape[-1]
        if width != FEATURE_WIDTH:
            raise DogkitError(f"{self.path}: {GRAPH_OUTPUT} has width {width}, expected {FEATURE_WIDTH}")
        config = tf.compat.v1.ConfigProto()
        config.gpu_options.allow_growth = True  # take GPU memory as needed, not all of it up front
        self._session = tf.compat.v1.Session(graph=graph, config=config)
        logger.info("loaded the Inception graph %s", self.path)

        def forward(batch: np.ndarray) -> np.ndarray:  # only what pool_3 needs runs: no JPEG decoder
            try:
                return self._session.run(pool, {images: batch})  # (b, 1, 1, 2048)
            except tf.errors.OpError as exc:
                raise DogkitError(f"{self.path}: the graph failed on a batch of 64x64 images ({exc.message})") from None

        return forward

    def close(self) -> None:
        """Release the TensorFlow session (the next ``extract`` loads the graph again)."""
        session, self._session = self._session, None
        if session is not None:
            session.close()
        self._forward = None


# ---------------------------------------------------------------------------------------------
# Keras InceptionV3


class KerasExtractor(FeatureExtractor):
    """Keras InceptionV3 without its top, global average pooling: indicative, not the competition's metric."""

    kind = "keras"
    official = False
    recipe = "keras-inception-v3-avgpool-bilinear299-v1"

    @property
    def description(self) -> str:
        return f"{KERAS_LABEL} ({self.path.name})"

    def _load(self) -> Forward:
        from toolkit.backend import keras, tf

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = self._model(keras)
        except Exception as exc:  # Keras raises ValueError, KeyError, OSError... for a mismatched file
            raise DogkitError(
                f"{self.path}: cannot load as Keras InceptionV3 weights ({type(exc).__name__}: {exc})"
            ) from None
        # Keras 3 loads some mismatched files partially, warning that layers "retain their
        # freshly-initialized weights": random features must never be scored, so that is an error.
        partial = [w for w in caught if "freshly-initialized" in str(w.message) or "Skipping" in str(w.message)]
        if partial:
            raise DogkitError(
                f"{self.path}: does not hold weights for every layer of Keras InceptionV3 "
                f"({len(partial)} skipped, e.g. {partial[0].message})"
            )
        width = model.outputs[0].shape[-1]
        if width != FEATURE_WIDTH:
            raise DogkitError(f"{self.path}: the model's features have width {width}, expected {FEATURE_WIDTH}")
        preprocess = keras.applications.inception_v3.preprocess_input

        @tf.function(input_signature=[tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 3), tf.float32)])
        def forward(images):  # (None, 64, 64, 3) float32 0..255
            resized = tf.image.resize(images, (KERAS_SIZE, KERAS_SIZE), method="bilinear")
            return model(preprocess(resized), training=False)  # (None, 2048)

        logger.info("loaded Keras InceptionV3 weights %s", self.path)
        return lambda batch: forward(tf.constant(batch)).numpy()

    def _model(self, keras):
        """InceptionV3 up to its 2048-d average pool, with the file's weights."""
        name = self.path.name.lower()
        if name.endswith(".keras"):  # a whole saved model: take its average pool
            saved = keras.models.load_model(self.path, compile=False)
            if any(layer.name == "avg_pool" for layer in saved.layers):
                return keras.Model(saved.inputs, saved.get_layer("avg_pool").output)
            return saved
        legacy, with_top = _h5_layout(self.path)
        base = keras.applications.InceptionV3(
            include_top=with_top,
            weights=None,
            input_shape=(KERAS_SIZE, KERAS_SIZE, 3),
            pooling=None if with_top else "avg",
        )
        # Keras picks its loader by the file name: "*.weights.h5" for its own layout, other "*.h5"
        # for the legacy (Keras 2) one, which the cached notop weights use.
        if legacy != name.endswith(".weights.h5"):
            base.load_weights(self.path)
        else:  # a file named for the other layout: load it through a correctly named link
            with tempfile.TemporaryDirectory() as folder:
                alias = Path(folder) / ("inception.h5" if legacy else "inception.weights.h5")
                try:
                    alias.symlink_to(self.path.resolve())
                except OSError:  # no symlinks here (some Windows setups): copy instead
                    shutil.copyfile(self.path, alias)
                base.load_weights(alias)
        if with_top:
            return keras.Model(base.inputs, base.get_layer("avg_pool").output)
        return base


# ---------------------------------------------------------------------------------------------
# A user's feature model (--features)

FEATURES_RECIPE = "features-model-float0255-v1"  # how images reach a --features model; part of the cache key
_PROBE_IMAGES = 2  # images run through a --features model to check its output before any work


class FeaturesModelExtractor(FeatureExtractor):
    """A saved Keras model (``.keras``): (n, 64, 64, 3) float32 0..255 RGB in, (n, D) features out.

    The model is loaded and run on a small probe batch by ``check`` (or the first ``extract``), which
    refuses, naming the file, anything but a Keras model with finite (n, D) output, D >= 1.
    """

    kind = "features"
    official = False
    recipe = FEATURES_RECIPE

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self._width: int | None = None

    @property
    def width(self) -> int:
        self.check()
        return self._width

    @property
    def space(self) -> str:
        return f"{self.path.name} space"

    @property
    def description(self) -> str:
        return (
            f"the feature space of {self.path.name} ({self.width}-d Keras model, sha256 {self.sha256[:12]}) — "
            "not the competition's metric; compare only with numbers in the same space"
        )

    def _load(self) -> Forward:
        from toolkit.backend import keras, tf

        try:
            model = keras.models.load_model(self.path, compile=False)
        except Exception as exc:  # Keras raises ValueError, KeyError, OSError... for a file it cannot read
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DogkitError(
                f"{self.path}: --features needs a saved Keras model (.keras); cannot load it ({reason})"
            ) from None

        @tf.function(input_signature=[tf.TensorSpec((None, INPUT_SIZE, INPUT_SIZE, 3), tf.float32)])
        def run(images):  # (None, 64, 64, 3) float32 0..255
            return model(images, training=False)

        def forward(batch: np.ndarray) -> np.ndarray:
            try:
                features = np.asarray(run(tf.constant(batch)))
            except (ValueError, TypeError, tf.errors.OpError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DogkitError(
                    f"{self.path}: --features model fails on a ({INPUT_SIZE}, {INPUT_SIZE}, 3) image batch ({reason})"
                ) from None
            if features.ndim != 2 or features.shape[0] != batch.shape[0]:
                raise DogkitError(
                    f"{self.path}: --features model outputs shape {features.shape} for {batch.shape[0]} images; "
                    f"expected ({batch.shape[0]}, D) features"
                )
            if features.shape[1] == 0:
                raise DogkitError(f"{self.path}: --features model outputs 0 features per image; expected D >= 1")
            if not np.isfinite(features).all():
                raise DogkitError(f"{self.path}: --features model outputs non-finite features (NaN or infinity)")
            return features

        # A varied probe (not all zeros, which can hide NaN from a division or a log)
        probe = np.linspace(0, 255, _PROBE_IMAGES * INPUT_SIZE * INPUT_SIZE * 3, dtype=np.float32)
        self._width = int(forward(probe.reshape(_PROBE_IMAGES, INPUT_SIZE, INPUT_SIZE, 3)).shape[1])
        logger.info("loaded the --features model %s (%d features per image)", self.path, self._width)
        return forward


def _file_head(path: Path, size: int, folder_advice: str, option: str = "") -> bytes:
    """The first ``size`` bytes of a feature file, or one line naming it (a folder: ``folder_advice``);
    ``option`` names the option that gave the file in the messages."""
    if path.is_dir():
        raise DogkitError(f"{path}: a folder; {folder_advice}")
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except FileNotFoundError:
        raise DogkitError(f"{path}: {option + ' ' if option else ''}file not found") from None
    except OSError as exc:
        which = f" the {option} file" if option else ""
        raise DogkitError(f"{path}: cannot read{which} ({exc.strerror or exc})") from None


def features_extractor(path: str | os.PathLike) -> FeaturesModelExtractor:
    """The extractor for ``--features FILE``, loaded and checked (see ``FeaturesModelExtractor``).

    Raises:
        DogkitError: one line naming the file: missing, a folder, not a Keras model, or its output
            not finite (n, D) with D >= 1.
    """
    path = Path(path)
    head = _file_head(path, 4, "--features needs a saved Keras model file (.keras)", "--features")
    if not head.startswith(_ZIP_MAGIC) or path.suffix.lower() != ".keras":
        raise DogkitError(f"{path}: not a Keras model; --features needs a saved Keras model (.keras, model.save)")
    extractor = FeaturesModelExtractor(path)
    extractor.check()
    return extractor


def requested_features_extractor(features: Path | None, inception: Path | None) -> FeaturesModelExtractor | None:
    """The ``--features`` extractor, loaded and checked before any other work, when one is given;
    None leaves the choice to ``find_extractor(inception)`` once the cheap checks are done.

    Raises:
        DogkitError: both options given (two feature spaces), or the features file is unusable.
    """
    if features is not None and inception is not None:
        raise DogkitError("--features and --inception name two feature spaces; pass one")
    return features_extractor(features) if features is not None else None


def _h5_layout(path: Path) -> tuple[bool, bool]:
    """(legacy Keras 2 layout, includes the classifier top) of an HDF5 weights file."""
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        names = group.attrs.get("layer_names")
        if names is not None:  # Keras 2 / legacy layout: layer names listed in an attribute
            return True, any((n.decode() if isinstance(n, bytes) else str(n)) == "predictions" for n in names)
        layers = handle.get("layers")
        return False, layers is not None and "predictions" in layers


# ---------------------------------------------------------------------------------------------
# Finding the weights


def extractor_for_file(path: str | os.PathLike) -> FeatureExtractor:
    """The extractor for a weights file, told by content: a GraphDef, or Keras weights (HDF5 or .keras).

    Raises:
        DogkitError: the file is missing, a folder, an archive to unpack first, or neither kind.
    """
    path = Path(path)
    head = _file_head(path, 8, f"pass the weights file itself ({GRAPH_FILE} or Keras .h5/.keras)")
    if head.startswith(_HDF5_MAGIC) or (head.startswith(_ZIP_MAGIC) and path.suffix.lower() == ".keras"):
        return KerasExtractor(path)
    if head.startswith(_GZIP_MAGIC):
        raise DogkitError(f"{path}: a gzip archive; unpack it (tar xzf) and pass {GRAPH_FILE} from it with --inception")
    if head.startswith(_GRAPHDEF_FIRST_BYTE) and path.suffix.lower() != ".keras":
        return GraphExtractor(path)
    raise DogkitError(
        f"{path}: neither a TensorFlow GraphDef ({GRAPH_FILE}) nor Keras InceptionV3 weights "
        "(.h5, .weights.h5 or .keras)"
    )


def kaggle_input_roots() -> tuple[Path, ...]:
    """Folders searched for the graph: ``$DOGKIT_KAGGLE_INPUT`` (os.pathsep-separated) or /kaggle/input."""
    value = os.environ.get(KAGGLE_INPUT_ENV)
    if value is None:
        return DEFAULT_KAGGLE_INPUT
    return tuple(Path(part) for part in value.split(os.pathsep) if part)


def keras_cache_dirs() -> tuple[Path, ...]:
    """Where Keras caches downloaded weights: ``$KERAS_HOME/models``, else ~/.keras/models and /tmp/.keras/models."""
    home = os.environ.get("KERAS_HOME")
    if home:
        return (Path(home) / "models",)
    return (Path.home() / ".keras" / "models", Path(tempfile.gettempdir()) / ".keras" / "models")


def find_file(name: str, roots: Sequence[Path], depth: int = _SEARCH_DEPTH) -> Path | None:
    """The first file called ``name`` in ``roots`` or up to ``depth`` folder levels below, in name order."""
    for root in roots:
        if not root.is_dir():
            continue
        level = [root]
        for _ in range(depth + 1):
            for folder in level:
                candidate = folder / name
                if candidate.is_file():
                    return candidate
            level = [sub for folder in level for sub in _subfolders(folder)]
            if not level:
                break
    return None


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    except OSError:  # unreadable folder: nothing to find there
        return []


def find_extractor(
    inception: str | os.PathLike | None = None, search_roots: Sequence[Path] | None = None
) -> FeatureExtractor:
    """The extractor to score with.

    Order: ``inception`` when given (either kind); else ``classify_image_graph_def.pb`` in
    ``search_roots`` (default ``kaggle_input_roots()``) or a few levels below; else the Keras
    InceptionV3 notop weights in the Keras cache; else those weights in ``search_roots`` (Kaggle's
    "Keras pretrained models" datasets hold them).

    Raises:
        DogkitError: ``inception`` is unusable (see ``extractor_for_file``), or nothing is found;
            the message says where dogkit looked and how to get the weights.
    """
    if inception is not None:
        return extractor_for_file(inception)
    roots = tuple(search_roots) if search_roots is not None else kaggle_input_roots()
    graph = find_file(GRAPH_FILE, roots)
    if graph is not None:
        return extractor_for_file(graph)
    caches = keras_cache_dirs()
    for folder in caches:
        candidate = folder / KERAS_WEIGHTS_FILE
        if candidate.is_file():
            return extractor_for_file(candidate)
    keras_file = find_file(KERAS_WEIGHTS_FILE, roots)
    if keras_file is not None:
        return extractor_for_file(keras_file)
    searched = ", ".join(str(root) for root in roots) or "(no folders)"
    raise DogkitError(
        f"no Inception weights found: no {GRAPH_FILE} under {searched}, no {KERAS_WEIGHTS_FILE} in "
        f"{' or '.join(str(c) for c in caches)}. On Kaggle, attach the competition's metric dataset that holds "
        f"{GRAPH_FILE} (Add Data); elsewhere, on a machine with internet, download {GRAPH_URL} (it holds "
        f"{GRAPH_FILE}) or the Keras InceptionV3 notop weights ({KERAS_WEIGHTS_URL}) and pass --inception FILE"
    )
