"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable transformations go on real and fake images before the
discriminator sees them, in its steps and in the generator's, so that D cannot memorise the ~20k
training crops while G still gets gradients through the augmentation. On images (B, H, W, C) in
[-1, 1], with the paper's settings:

- color: brightness + (r - 0.5), saturation (x - mean_c) * 2r + mean_c, contrast (x - mean) * (r + 0.5)
  + mean (mean_c over channels, mean over the image; r ~ U[0, 1) each). No clipping: values leave
  [-1, 1] by up to these amounts, for real and fake alike, as in the paper.
- translation: each image shifted by up to 1/8 of its side in y and x (whole pixels), zeros shifted in.
- cutout: a square of half the side zeroed, centred anywhere in [0, side] (clipped at the border).

The random parameters come from NumPy (``draw_parameters``, one row per image), so that they follow
the training loop's seeded generator; the transformations themselves are TensorFlow ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from toolkit.backend import tf

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
# the columns of a parameter row
BRIGHTNESS, SATURATION, CONTRAST, SHIFT_Y, SHIFT_X, CUTOUT_Y, CUTOUT_X = range(7)
PARAMETERS = 7


def translation_limit(size: int) -> int:
    """The largest shift, in pixels, of a side of ``size`` (8 for 64)."""
    return int(size * TRANSLATION_RATIO + 0.5)


def cutout_size(size: int) -> int:
    """The side of the cutout square, in pixels (32 for 64)."""
    return int(size * CUTOUT_RATIO + 0.5)


def draw_parameters(rng: np.random.Generator, count: int, size: int = 64) -> np.ndarray:
    """Random DiffAugment parameters for ``count`` images of side ``size``.

    Args:
        rng: The generator to draw from.
        count: Images.
        size: Their height and width.

    Returns:
        (count, PARAMETERS) float32: three U[0, 1) colour factors, shifts in [-size/8, size/8] and
        cutout centres in [0, size], the last four whole numbers.
    """
    shift = translation_limit(size)
    cut = cutout_size(size)
    params = np.empty((count, PARAMETERS), np.float32)
    params[:, BRIGHTNESS : CONTRAST + 1] = rng.random((count, 3))
    params[:, SHIFT_Y : SHIFT_X + 1] = rng.integers(-shift, shift + 1, (count, 2))
    params[:, CUTOUT_Y : CUTOUT_X + 1] = rng.integers(0, size + (1 - cut % 2), (count, 2))  # as the paper's code
    return params


def _per_image(values):
    return values[:, None, None, None]


def brightness(x, r):
    """x + (r - 0.5) per image; ``r`` (B,) in [0, 1)."""
    return x + _per_image(r - 0.5)


def saturation(x, r):
    """Each pixel's distance from its channel mean scaled by 2r."""
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    return (x - mean) * _per_image(2.0 * r) + mean


def contrast(x, r):
    """Each value's distance from the image mean scaled by r + 0.5."""
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _per_image(r + 0.5) + mean


def translate(x, shift_y, shift_x):
    """out[b, i, j] = x[b, i + shift_y[b], j + shift_x[b]], zero where that falls outside the image.

    Args:
        x: (B, H, W, C).
        shift_y, shift_x: (B,) int32.
    """
    h, w = x.shape[1], x.shape[2]
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])  # indices clipped to the pad read zeros
    rows = tf.clip_by_value(tf.range(h)[None, :] + shift_y[:, None] + 1, 0, h + 1)  # (B, H)
    cols = tf.clip_by_value(tf.range(w)[None, :] + shift_x[:, None] + 1, 0, w + 1)  # (B, W)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)  # (B, H, W + 2, C)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def cutout(x, centre_y, centre_x):
    """Zero the square of side ``cutout_size(H)`` whose top-left corner is centre - side // 2.

    Args:
        x: (B, H, W, C).
        centre_y, centre_x: (B,) int32.
    """
    h, w = x.shape[1], x.shape[2]
    side = cutout_size(h)
    top, left = centre_y - side // 2, centre_x - side // 2
    ys, xs = tf.range(h)[None, :], tf.range(w)[None, :]
    in_rows = (ys >= top[:, None]) & (ys < top[:, None] + side)  # (B, H)
    in_cols = (xs >= left[:, None]) & (xs < left[:, None] + side)  # (B, W)
    keep = 1.0 - tf.cast(in_rows[:, :, None] & in_cols[:, None, :], x.dtype)  # (B, H, W)
    return x * keep[..., None]


def diff_augment(images, params, operations: Sequence[str]):
    """Apply the DiffAugment ``operations`` in their order.

    Args:
        images: (B, H, W, C) float, in [-1, 1].
        params: (B, PARAMETERS) float32, from ``draw_parameters``.
        operations: Names among "color", "translation", "cutout"; empty: the images unchanged.

    Returns:
        (B, H, W, C), differentiable in ``images``.

    Raises:
        ValueError: an operation that is not one of the three.
    """
    x = images
    for name in operations:
        if name == "color":
            x = brightness(x, params[:, BRIGHTNESS])
            x = saturation(x, params[:, SATURATION])
            x = contrast(x, params[:, CONTRAST])
        elif name == "translation":
            shifts = tf.cast(params[:, SHIFT_Y : SHIFT_X + 1], tf.int32)
            x = translate(x, shifts[:, 0], shifts[:, 1])
        elif name == "cutout":
            centres = tf.cast(params[:, CUTOUT_Y : CUTOUT_X + 1], tf.int32)
            x = cutout(x, centres[:, 0], centres[:, 1])
        else:
            raise ValueError(f"DiffAugment operations are color, translation and cutout, got {name!r}")
    return x
