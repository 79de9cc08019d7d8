"""The competition's contract for ``images.zip``: write it and validate it.

Imports only numpy and Pillow, so checking a zip is instant.
"""

from .files import atomic_path, check_writable, target_problem
from .png import encode_png
from .rules import IMAGE_COUNT, IMAGE_SHAPE, IMAGE_SIZE
from .validator import Problem, ValidationReport, validate_zip
from .writer import SubmissionError, check_image, member_name, write_images_zip

__all__ = [
    "target_problem",
    "IMAGE_COUNT",
    "IMAGE_SHAPE",
    "IMAGE_SIZE",
    "Problem",
    "SubmissionError",
    "ValidationReport",
    "atomic_path",
    "check_writable",
    "check_image",
    "encode_png",
    "member_name",
    "validate_zip",
    "write_images_zip",
]
