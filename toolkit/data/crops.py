"""The crop cache that ``dogkit prepare`` writes and every model trains on.

An ``.npz`` (no pickled objects): ``images`` uint8 (N, 64, 64, 3), ``breeds`` and ``sources``
str (N,), ``boxes`` int32 (N, 4).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from submission import atomic_path
from toolkit.errors import DogkitError

CROP_SIZE = 64


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write an uncompressed .npz atomically (np.savez on a file object: no name mangling)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_crops(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a crop cache written by ``prepare``; a clear error when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DogkitError(f"{path}: crop cache not found; run `dogkit prepare` first")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DogkitError(f"{path}: not a readable crop cache ({exc}); make one with `dogkit prepare`") from None
    if isinstance(loaded, np.ndarray):
        raise DogkitError(
            f"{path}: a single .npy array, not a crop cache (the .npz `dogkit prepare` writes, with 'images')"
        )
    try:
        with loaded as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DogkitError(f"{path}: a damaged crop cache ({exc}); make it again with `dogkit prepare`") from None
    images = arrays.get("images")
    if images is None or images.ndim != 4 or images.shape[1:] != (CROP_SIZE, CROP_SIZE, 3) or images.dtype != np.uint8:
        shape = None if images is None else (images.shape, images.dtype)
        raise DogkitError(f"{path}: expected 'images' as uint8 (N, 64, 64, 3), found {shape}")
    if len(images) == 0:
        raise DogkitError(f"{path}: holds no crops; prepare it again from a folder with photos")
    return arrays


def data_fingerprint(images: np.ndarray) -> str:
    """A digest of the crops, so that a run is resumed on the data it was trained on."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class TrainingData:
    """What a model trains on."""

    images: np.ndarray  # (N, 64, 64, 3) uint8
    breeds: np.ndarray  # (N,) str: each crop's breed ("unknown" where the annotation named none)
    path: Path  # the crop cache
    fingerprint: str

    def describe(self) -> dict:
        return {"path": str(self.path), "crops": int(len(self.images)), "fingerprint": self.fingerprint}


def load_training_data(path: str | os.PathLike) -> TrainingData:
    """The crop cache at ``path`` as ``TrainingData`` (a cache without breeds: every crop "unknown")."""
    arrays = load_crops(path)
    images = arrays["images"]
    breeds = arrays.get("breeds")
    if breeds is None or len(breeds) != len(images):
        breeds = np.full(len(images), "unknown")
    # absolute, as the run's config records it: `--resume` from another folder finds it again
    return TrainingData(images=images, breeds=breeds, path=Path(path).absolute(), fingerprint=data_fingerprint(images))
