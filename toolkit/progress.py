"""Progress bars: tqdm on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def progress_bar(total: int | None, desc: str, unit: str = "it", unit_scale: bool = False) -> Iterator:
    """Yield the ``tqdm`` bar (``bar.update(n)``, ``bar.set_postfix_str(s)``)."""
    from tqdm import tqdm

    with tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        file=sys.stderr,
        disable=None,  # None: hidden when stderr is not a terminal (logs, CI, Kaggle's log)
        dynamic_ncols=True,
    ) as bar:
        yield bar
