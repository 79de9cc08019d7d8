"""A small feature space for the synthetic dogs: FID on a CPU without Inception weights.

Trains a small Keras CNN to tell the eight breeds of ``toolkit/data/synthetic.py`` apart, plus a
ninth class of crops whose 16-pixel patches are shuffled (so that the features see shape, not only
colour and texture), and saves its penultimate layer as a ``.keras`` feature model: (N, 64, 64, 3)
float32 in 0..255 (what ``dogkit --features`` passes) to (N, 128) features.

Run directly: ``python tests/benchmarks/feature_space.py --out synthetic_features.keras``. Builds
the demo's dataset (``--photos`` synthetic photos), prepares it as ``dogkit prepare`` does, trains
for ``--minutes`` and writes the model (to a temporary name, renamed into place).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PATCH = 16  # side of the patches the ninth class shuffles
FEATURE_WIDTH = 128  # the penultimate layer: the features
SHUFFLED = "shuffled patches"  # the ninth class's name


@dataclass(frozen=True)
class FeatureModelConfig:
    seconds: float = 180.0  # training stops after this long (at the end of a batch)...
    epochs: int = 1000  # ...or after this many epochs, whichever comes first
    batch_size: int = 64
    learning_rate: float = 2e-3
    seed: int = 0


def shuffle_patches(images: np.ndarray, rng: np.random.Generator, patch: int = PATCH) -> np.ndarray:
    """Each (64, 64, 3) image with its ``patch``-pixel squares put in a random order of its own."""
    n, size, _, channels = images.shape
    grid = size // patch
    patches = images.reshape(n, grid, patch, grid, patch, channels).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(n, grid * grid, patch, patch, channels)
    order = np.argsort(rng.random((n, grid * grid)), axis=1)
    shuffled = np.take_along_axis(patches, order[:, :, None, None, None], axis=1)
    shuffled = shuffled.reshape(n, grid, grid, patch, patch, channels).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(shuffled.reshape(n, size, size, channels))


def label_indices(labels: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Class indices of ``labels`` (sorted names) and the class names, the shuffled class last."""
    names = sorted({str(label) for label in labels})
    index = {name: k for k, name in enumerate(names)}
    return np.array([index[str(label)] for label in labels], dtype=np.int32), [*names, SHUFFLED]


def _networks(classes: int, learning_rate: float):
    """The classifier and, sharing its layers, the feature model (its penultimate layer)."""
    from toolkit.backend import keras

    layers = keras.layers
    inputs = keras.Input((64, 64, 3), dtype="float32")  # 0..255, as --features receives images
    x = layers.Rescaling(1 / 255)(inputs)
    for width in (16, 32, 64, 128):  # 64 -> 32 -> 16 -> 8 -> 4 pixels
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)  # keeps where things are: a shuffled dog is not a dog
    features = layers.Dense(FEATURE_WIDTH, activation="relu", name="features")(x)
    logits = layers.Dense(classes, name="logits")(features)
    classifier = keras.Model(inputs, logits)
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return classifier, keras.Model(inputs, features, name="synthetic_dog_features")


def _epoch_data(crops: np.ndarray, classes: np.ndarray, shuffled_class: int, rng: np.random.Generator):
    """One epoch's images and labels: every crop, mirrored at random, and one breed's worth of
    crops with shuffled patches (new ones each epoch)."""
    flip = rng.random(len(crops)) < 0.5
    images = np.where(flip[:, None, None, None], crops[:, :, ::-1], crops)
    count = max(1, len(crops) // max(1, shuffled_class))
    shuffled = shuffle_patches(images[rng.choice(len(crops), count, replace=len(crops) < count)], rng)
    x = np.concatenate([images, shuffled]).astype(np.float32)
    y = np.concatenate([classes, np.full(count, shuffled_class, dtype=np.int32)])
    return x, y


def build_feature_model(
    crops: np.ndarray,
    labels: np.ndarray,
    out: str | os.PathLike,
    config: FeatureModelConfig = FeatureModelConfig(),
    say=print,
) -> Path:
    """Train the classifier on ``crops`` (n, 64, 64, 3) uint8 with breed ``labels`` (n,) and save
    its feature model at ``out`` (a ``.keras`` file, written to a temporary name and renamed).

    Deterministic given ``config.seed`` as far as TensorFlow's CPU kernels are, and as long as the
    epochs, not the seconds, end training.

    Raises:
        ValueError: crops not (n, 64, 64, 3) uint8 with n >= 2, labels not n long, or ``out``
            not ending in ``.keras``.
    """
    from toolkit.backend import keras

    out = Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"{out}: the feature model is saved as a .keras file; name it NAME.keras")
    crops = np.asarray(crops)
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (64, 64, 3) or len(crops) < 2:
        raise ValueError(f"crops must be (n >= 2, 64, 64, 3) uint8, got {crops.shape} {crops.dtype}")
    if len(labels) != len(crops):
        raise ValueError(f"labels must have one entry per crop: {len(labels)} labels, {len(crops)} crops")
    if not (config.seconds > 0 and config.epochs >= 1):
        raise ValueError(f"training needs seconds > 0 and epochs >= 1, got {config.seconds} and {config.epochs}")
    classes, names = label_indices(labels)
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    classifier, features = _networks(len(names), config.learning_rate)
    started = time.monotonic()

    class Deadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if time.monotonic() - started >= config.seconds:
                self.model.stop_training = True

    epoch, said = 0, started
    while epoch < config.epochs and time.monotonic() - started < config.seconds:
        x, y = _epoch_data(crops, classes, len(names) - 1, rng)
        history = classifier.fit(
            x, y, batch_size=config.batch_size, epochs=1, shuffle=True, verbose=0, callbacks=[Deadline()]
        )
        epoch += 1
        if time.monotonic() - said >= 20 or epoch == config.epochs:
            said = time.monotonic()
            logs = {key: values[-1] for key, values in history.history.items()}
            accuracy = logs["accuracy"]
            say(f"  epoch {epoch}: loss {logs['loss']:.3f}, training accuracy {accuracy:.3f} ({said - started:.0f} s)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as folder:
        tmp = Path(folder) / out.name  # Keras insists on the .keras suffix, so the temporary name is a folder
        features.save(tmp)
        os.replace(tmp, out)
    say(f"wrote {out}: {FEATURE_WIDTH}-d features, {len(names)} classes ({', '.join(names)}), {epoch} epochs")
    return out


def _write_photos(root: Path, first: int, count: int, seed: int) -> int:
    """Photos ``first`` .. ``first + count - 1`` of a synthetic dataset, written under ``root``."""
    from toolkit.data.synthetic import BREEDS, make_photo, write_dataset

    rng = np.random.default_rng([seed, first])
    photos = [make_photo(rng, k, breed_index=k % len(BREEDS)) for k in range(first, first + count)]
    write_dataset(root, photos, layout="nested")
    return count


def synthetic_crops(photos: int, seed: int, work: Path, workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A dataset like the demo's (``make_photos``: breeds in turn, one or two dogs a photo) of
    ``photos`` photos, drawn in chunks by ``workers`` processes (0: one per core) and prepared as
    ``dogkit prepare`` does: its crops (n, 64, 64, 3) uint8 and each crop's breed (n,) str."""
    from concurrent.futures import ProcessPoolExecutor

    from toolkit.data.crops import load_crops
    from toolkit.data.prepare import PrepareConfig, prepare

    workers = workers or os.cpu_count() or 1
    root = work / f"photos-{seed}"
    chunk = 250
    starts = range(0, photos, chunk)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_photos, [root] * len(starts), starts, [min(chunk, photos - s) for s in starts],
                      [seed] * len(starts)))  # fmt: skip
    arrays = load_crops(prepare(PrepareConfig(src=root, out=work / f"crops-{seed}.npz", workers=workers)).out)
    return arrays["images"], arrays["breeds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the feature model to write (NAME.keras)")
    parser.add_argument("--photos", type=int, default=2000, help="synthetic photos to train on (about 1.1 crops each)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training time")
    parser.add_argument("--epochs", type=int, default=1000, help="at most this many epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.suffix != ".keras":
        parser.error(f"--out {args.out}: the feature model is saved as a .keras file; name it NAME.keras")
    if args.photos < 8 or not (math.isfinite(args.minutes) and args.minutes > 0):
        parser.error("--photos must be at least 8 and --minutes a positive number")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="feature-space-") as work:
        crops, breeds = synthetic_crops(args.photos, args.seed, Path(work))
    print(f"{len(crops)} crops from {args.photos} synthetic photos in {time.monotonic() - started:.0f} s")
    build_feature_model(crops, breeds, args.out, FeatureModelConfig(args.minutes * 60, args.epochs, seed=args.seed))
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
