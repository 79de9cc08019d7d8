"""A sampler's images as ``dogkit pack`` writes them: uint8 pixels, and never NaN or inf."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from toolkit.errors import DogkitError
from toolkit.visuals import to_uint8


def generated_images(sampler, count: int, seed: int, options: dict[str, Any]) -> Iterator[np.ndarray]:
    """Each generated image as (64, 64, 3) uint8; NaN or inf from the generator is an error."""
    index = 0
    for images in sampler.sample(count, seed, **options):
        finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
        if not finite.all():
            bad = index + int(np.argmin(finite))
            raise DogkitError(
                f"the generator produced NaN or inf values (image {bad}); the model has diverged, "
                "so no images.zip was written"
            )
        yield from to_uint8(images)
        index += len(images)
