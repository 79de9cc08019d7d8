"""``kernel-metadata.json``: what Kaggle needs to know about the kernel that ``dogkit bundle`` writes."""

from __future__ import annotations

from typing import Any

from toolkit.competition import COMPETITION, check_dataset_id, check_kernel_id

# --accelerator -> (machine_shape, enable_gpu, enable_tpu). machine_shape takes the values the installed
# kaggle client documents (NvidiaTeslaT4: two T4s; TpuV5E8: a TPU v5e-8); the booleans are deprecated
# there but kept in agreement for older servers. "gpu" names no shape: Kaggle picks its default GPU.
ACCELERATORS = {
    "none": (None, False, False),
    "gpu": (None, True, False),
    "gpu-t4x2": ("NvidiaTeslaT4", True, False),
    "tpu": ("TpuV5E8", False, True),
}
DEFAULT_ACCELERATOR = "gpu-t4x2"


def kernel_metadata(
    kernel_id: str,
    code_file: str,
    accelerator: str = DEFAULT_ACCELERATOR,
    metric_dataset: str | None = None,
) -> dict[str, Any]:
    """The metadata of a private, offline script kernel on the competition's data.

    The title is the slug with spaces for dashes: Kaggle derives a kernel's slug from its title,
    and the two must agree.
    """
    _, slug, _ = check_kernel_id(kernel_id, new=True)
    if accelerator not in ACCELERATORS:
        raise ValueError(f"accelerator must be one of {', '.join(ACCELERATORS)}, got {accelerator!r}")
    if metric_dataset is not None:
        check_dataset_id(metric_dataset)
    machine_shape, gpu, tpu = ACCELERATORS[accelerator]
    metadata = {
        "id": kernel_id,
        "title": slug.replace("-", " "),
        "code_file": code_file,
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": gpu,
        "enable_tpu": tpu,
        "enable_internet": False,
        "competition_sources": [COMPETITION],
        "dataset_sources": [metric_dataset] if metric_dataset else [],
        "kernel_sources": [],
        "model_sources": [],
    }
    if machine_shape:
        metadata["machine_shape"] = machine_shape
    return metadata
