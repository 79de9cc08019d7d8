"""``kernel-metadata.json``: what Kaggle needs to know about the kernel that ``dogkit bundle`` writes."""

from __future__ import annotations

import re
from typing import Any

COMPETITION = "generative-dog-images"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{3,48}[a-z0-9]$")


def check_kernel_id(kernel_id: str) -> tuple[str, str]:
    """(owner, slug) of ``owner/slug``; ValueError when it cannot be a Kaggle kernel id."""
    owner, _, slug = kernel_id.partition("/")
    if not owner or not slug or "/" in slug:
        raise ValueError(f"kernel id must look like owner/slug, got {kernel_id!r}")
    if not _SLUG.match(slug):
        raise ValueError(
            f"kernel slug {slug!r} must be 5 to 50 lowercase letters, digits and dashes, "
            "starting and ending with a letter or digit"
        )
    return owner, slug


def kernel_metadata(
    kernel_id: str,
    code_file: str,
    gpu: bool = True,
    metric_dataset: str | None = None,
) -> dict[str, Any]:
    """The metadata of a private, offline script kernel on the competition's data.

    The title is the slug with spaces for dashes: Kaggle derives a kernel's slug from its title,
    and the two must agree.
    """
    _, slug = check_kernel_id(kernel_id)
    if metric_dataset is not None and metric_dataset.count("/") != 1:
        raise ValueError(f"metric dataset must look like owner/slug, got {metric_dataset!r}")
    return {
        "id": kernel_id,
        "title": slug.replace("-", " "),
        "code_file": code_file,
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": gpu,
        "enable_tpu": False,
        "enable_internet": False,
        "competition_sources": [COMPETITION],
        "dataset_sources": [metric_dataset] if metric_dataset else [],
        "kernel_sources": [],
        "model_sources": [],
    }
