"""The kernel's entry point: dogkit's pipeline on Kaggle's input, ``images.zip`` in the working folder.

Run by the single-file script that ``dogkit bundle`` writes. Environment variables override
the Kaggle paths and the bundled budget (the tests use them): ``DOGKIT_KAGGLE_INPUT``
(``/kaggle/input``), ``DOGKIT_KAGGLE_WORKING`` (``/kaggle/working``), ``DOGKIT_BUDGET``.
Everything large (crop cache, checkpoints) lives in a temporary folder outside the working
folder, which receives only ``images.zip``, ``samples.png`` and, when scored, ``score.json``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_INPUT = "/kaggle/input"
DEFAULT_WORKING = "/kaggle/working"


class _ElapsedFormatter(logging.Formatter):
    def __init__(self, started: float):
        super().__init__()
        self.started = started

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.started:8.1f}s] {record.getMessage()}"


def run_kernel(settings: dict[str, Any], started: float | None = None) -> int:
    """Run the bundled job; returns the process exit status (0: images.zip written)."""
    from toolkit import __version__
    from toolkit.data.discovery import DataNotFound, folder_listing
    from toolkit.errors import BudgetTooSmall, DogkitError, Interrupted
    from toolkit.models import DEFAULT_MODEL
    from toolkit.pipeline import PipelineConfig, run_pipeline
    from toolkit.train.budget import parse_budget

    started = time.monotonic() if started is None else started
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_ElapsedFormatter(started))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    log = logging.getLogger("dogkit")

    input_root = Path(os.environ.get("DOGKIT_KAGGLE_INPUT") or DEFAULT_INPUT)
    working = Path(os.environ.get("DOGKIT_KAGGLE_WORKING") or DEFAULT_WORKING)
    import toolkit

    log.info("dogkit %s kernel (code from %s)", __version__, Path(toolkit.__file__).parent)
    work = Path(tempfile.mkdtemp(prefix="dogkit-work-"))
    try:
        budget = parse_budget(os.environ.get("DOGKIT_BUDGET") or settings["budget"])
        working.mkdir(parents=True, exist_ok=True)
        result = run_pipeline(
            PipelineConfig(
                src=input_root,
                work=work,
                out=working / "images.zip",
                budget_s=budget,
                started=started,
                model=settings.get("model", DEFAULT_MODEL),
                model_options=settings.get("model_options", {}),
                score=settings.get("score", True),
                inception_roots=(input_root,),
                cache_dir=work / "cache",
            ),
            say=log.info,
        )
        if result.latest_samples() is not None:
            shutil.copyfile(result.latest_samples(), working / "samples.png")
    except DataNotFound as exc:  # no `dogkit fetch` here: say what the kernel was given instead
        log.error("dogkit: error: %s; the kernel's input holds:", exc.detail)
        for line in folder_listing(exc.root, depth=2):
            log.error("    %s", line)
        log.error("attach the competition's data to the kernel (kernel-metadata.json competition_sources)")
        return 1
    except Interrupted as exc:  # Kaggle stopping the session: the work folder, checkpoints and all, goes with it
        log.error("dogkit: stopped by %s; no images.zip written", signal.Signals(exc.signum).name)
        return exc.exit_code
    except BudgetTooSmall as exc:  # nothing trained: the budget to bundle with is named
        log.error("dogkit: error: %s (bundle again with --budget)", exc)
        return exc.exit_code
    except (DogkitError, ValueError) as exc:
        log.error("dogkit: error: %s", exc)
        return 1
    except OSError as exc:  # a full disk, most likely
        log.error("dogkit: error: %s: %s", exc.filename or "", exc.strerror or exc)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("wrote %s", working / "images.zip")
    return 0
