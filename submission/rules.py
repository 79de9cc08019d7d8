"""The competition's contract for ``images.zip``."""

IMAGE_COUNT = 10_000  # images in a submission, exactly
IMAGE_SIZE = 64  # width and height in pixels
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)  # (H, W, C) uint8 RGB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
