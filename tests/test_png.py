import io

import numpy as np
import pytest
from PIL import Image

from submission import encode_png
from tests.conftest import varied_images


@pytest.mark.parametrize("shape", [(64, 64, 3), (1, 1, 3), (7, 13, 3), (200, 31, 3)])
def test_png_round_trips_through_pillow(shape):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(encode_png(image)))
    assert decoded.format == "PNG" and decoded.mode == "RGB"
    assert decoded.size == (shape[1], shape[0])
    np.testing.assert_array_equal(np.asarray(decoded), image)


def test_png_round_trips_smooth_images_and_extremes():
    extremes = [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)]
    for image in varied_images(8) + extremes:
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(image)))), image)


def test_png_is_deterministic():
    image = varied_images(1)[0]
    assert encode_png(image) == encode_png(image.copy())


def test_png_rejects_non_rgb_uint8():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        encode_png(np.zeros((64, 64, 4), np.uint8))
