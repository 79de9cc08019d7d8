"""``dogkit bundle``: dogkit's code as one self-contained kernel script, plus its metadata.

The bundler runs here, not on Kaggle, so it lives in ``toolkit`` and reads ``kernel/``'s entry point
as files: the ``kernel`` package imports ``toolkit``, never the other way round.

The script carries the modules the kernel needs (the import closure of ``kernel.main``, found
by reading their ``import`` statements, plus the models that ``toolkit.models`` names in its
registry) in a zip, base64-encoded in the script's text. At run time it writes that zip to a
temporary folder (not the working folder), puts it first on ``sys.path`` and lets the standard
library's ``zipimport`` load the modules: nothing is installed, nothing is downloaded. The
script is deterministic: the same sources and settings give the same bytes.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.kaggle.metadata import DEFAULT_ACCELERATOR, kernel_metadata
from toolkit.models import DEFAULT_MODEL

PACKAGES = ("toolkit", "submission", "kernel")
ENTRY = "kernel.main"
CODE_FILE = "dogkit_kernel.py"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BundleConfig:
    out: Path = Path("build/kernel")  # folder receiving the script and kernel-metadata.json
    kernel_id: str = ""  # owner/slug on Kaggle
    budget: str = "8h30m"  # the whole kernel run: Kaggle stops kernels at 9 hours
    accelerator: str = DEFAULT_ACCELERATOR  # none | gpu | gpu-t4x2 | tpu (see toolkit.kaggle.metadata.ACCELERATORS)
    model: str = DEFAULT_MODEL
    model_options: dict[str, Any] = field(default_factory=dict)
    metric_dataset: str | None = None  # owner/slug of a dataset holding classify_image_graph_def.pb
    score: bool = True  # score inside the kernel when the metric's weights are attached


@dataclass(frozen=True)
class BundleResult:
    script: Path
    metadata: Path
    modules: tuple[str, ...]  # the modules embedded
    size: int  # bytes of the script


def source_root() -> Path:
    """The folder holding the ``toolkit``, ``submission`` and ``kernel`` packages."""
    return Path(__file__).resolve().parents[2]


def _module_path(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(module: str, path: Path) -> set[str]:
    """Names of the project's modules that ``module`` imports anywhere in its code."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if name.split(".")[0] in PACKAGES}


def module_closure(entries: list[str], root: Path | None = None) -> list[str]:
    """Every project module reachable by imports from ``entries``, with their parent packages."""
    root = root or source_root()
    seen: set[str] = set()
    queue = list(entries)
    while queue:
        module = queue.pop()
        path = _module_path(root, module)
        if module in seen or path is None:
            continue
        seen.add(module)
        parents = [".".join(module.split(".")[:k]) for k in range(1, module.count(".") + 1)]
        queue += parents + sorted(_imports(module, path))
    return sorted(seen)


def dynamic_modules() -> list[str]:
    """Modules the kernel loads by name rather than by an import statement: every model in the registry."""
    from toolkit.models import MODELS

    return sorted({module for entry in MODELS.values() for module in entry.modules})


def bundle_zip(modules: list[str], root: Path | None = None) -> bytes:
    """The modules' sources in a zip with fixed timestamps, in name order."""
    root = root or source_root()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in modules:
            path = _module_path(root, module)
            info = zipfile.ZipInfo(str(path.relative_to(root).as_posix()), date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


_TEMPLATE = '''\
#!/usr/bin/env python3
"""dogkit {version}: a kernel for Kaggle's Generative Dog Images, written by `dogkit bundle`.

Runs dogkit's pipeline (prepare, train, pack{score}) on the competition's data within {budget}
and writes /kaggle/working/images.zip. dogkit's own code travels inside this file, in the zip
below; the script needs only packages of Kaggle's Python image (TensorFlow with Keras 3, NumPy,
Pillow, tqdm; h5py to read a metric model saved as .h5; tested on the versions pinned in dogkit's
kernel/kaggle-image.txt) and no internet. Do not edit: run `dogkit bundle` again instead.
"""

import time

STARTED = time.monotonic()  # the budget counts from here

import atexit  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

SETTINGS = json.loads({settings!r})

CODE = """
{code}
"""


def install_code():
    """Write the embedded zip to a temporary folder and import dogkit from it (zipimport)."""
    folder = tempfile.mkdtemp(prefix="dogkit-code-")
    atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, "dogkit-{version}.zip")
    with open(path, "wb") as handle:
        handle.write(base64.b64decode(CODE))
    sys.path.insert(0, path)
    for name in list(sys.modules):  # an installed dogkit must not shadow the embedded one
        if name.split(".")[0] in {packages!r}:
            del sys.modules[name]


install_code()

if __name__ == "__main__":
    from kernel.main import run_kernel

    sys.exit(run_kernel(SETTINGS, started=STARTED))
'''


def render_script(settings: dict[str, Any], code: bytes) -> str:
    from toolkit import __version__

    return _TEMPLATE.format(
        version=__version__,
        score=", score" if settings.get("score") else "",
        budget=settings["budget"],
        settings=json.dumps(settings, sort_keys=True),
        code="\n".join(textwrap.wrap(base64.b64encode(code).decode(), 100)),
        packages=PACKAGES,
    )


def write_bundle(config: BundleConfig) -> BundleResult:
    """Write ``dogkit_kernel.py`` and ``kernel-metadata.json`` into ``config.out``.

    Raises:
        ValueError: a kernel id or metric dataset that Kaggle would not accept.
    """
    from submission import atomic_path
    from toolkit.kaggle.kernels import BUNDLE_SETTINGS
    from toolkit.train.budget import parse_budget

    budget_s = parse_budget(config.budget)  # fail now, not on Kaggle
    metadata = kernel_metadata(
        config.kernel_id, CODE_FILE, accelerator=config.accelerator, metric_dataset=config.metric_dataset
    )
    modules = sorted(set(module_closure([ENTRY] + dynamic_modules())))
    settings = {
        "budget": config.budget,
        "model": config.model,
        "model_options": config.model_options,
        "score": config.score,
        "accelerator": config.accelerator,
    }
    script_text = render_script(settings, bundle_zip(modules))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    script = out / CODE_FILE
    with atomic_path(script) as tmp:
        tmp.write_text(script_text)
    metadata_path = out / "kernel-metadata.json"
    with atomic_path(metadata_path) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    with atomic_path(out / BUNDLE_SETTINGS) as tmp:  # what `dogkit push` needs that the metadata cannot hold
        tmp.write_text(json.dumps({**settings, "budget_s": budget_s}, indent=2) + "\n")
    return BundleResult(script=script, metadata=metadata_path, modules=tuple(modules), size=len(script_text))
