"""Pictures of data and training: image grids (NumPy only, no TensorFlow)."""

from __future__ import annotations

import numpy as np


def image_grid(images: np.ndarray, columns: int = 8, rows: int | None = None) -> np.ndarray:
    """Tile (n, h, w, 3) uint8 images into one (rows*h, columns*w, 3) image, row by row.

    Cells past the last image stay black; ``rows`` defaults to as many as the images need.
    """
    n, h, w, c = images.shape
    rows = rows or max(1, -(-n // columns))
    grid = np.zeros((rows * h, columns * w, c), np.uint8)
    for k in range(min(n, rows * columns)):
        r, col = divmod(k, columns)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = images[k]
    return grid


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float pixels in 0..255 to uint8: rounded and clipped. NaN/inf must be rejected before."""
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)
