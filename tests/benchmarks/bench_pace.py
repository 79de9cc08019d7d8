"""Benchmark: the time `dogkit train` keeps for packing, against what `dogkit pack` then takes, per model.

Run directly: ``python tests/benchmarks/bench_pace.py`` (``--slow``: every command pinned to one
core beside a busy process, about 4x slower on 2 cores). For each model, with its default options,
on synthetic crops, as a user runs the commands:

1. ``dogkit train --budget 1s``: refused (exit 2), its message names the budget that trains for a
   minute on this machine;
2. ``dogkit train`` with that budget: before training it times a trial pack and keeps time for
   generating and packing (the estimate, timing.json's ``pack`` entry; the margin is not in it);
3. ``dogkit pack --run`` in a new process, timed from its start to its exit.

Prints the estimate's parts, the actual wall time and actual / estimate. Goal: within 25% (0.75 to
1.25) for every model, on an idle machine, fast or slow. Also prints train + pack against the budget
(the promise: within the budget plus 5%).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import smallest_budget, write_crop_cache  # noqa: E402
from tests.slowdown import one_busy_core  # noqa: E402

MODELS = ("memorizer", "dcgan", "dcgan-radford", "biggan")


def dogkit(*args: object, pin=None, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True, preexec_fn=pin
    )
    wall = time.monotonic() - start
    if check and done.returncode != 0:
        raise SystemExit(f"dogkit {' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=2000)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--slow", action="store_true", help="one core, shared with a busy process")
    args = parser.parse_args()
    from toolkit.train.budget import format_seconds, parse_budget

    machine = "one core shared with a busy process" if args.slow else f"{len(os.sched_getaffinity(0))} cores"
    print(f"{args.crops} crops, {machine}")
    print(f"{'model':14s} {'budget':>7s} {'start-up':>8s} {'images/s':>8s} {'estimate':>8s} {'actual':>7s} ratio  "
          f"train+pack/budget")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, one_busy_core() if args.slow else contextlib.nullcontext() as pin:
        cache = write_crop_cache(Path(tmp) / "crops.npz", args.crops, seed=7)
        for model in args.models:
            run = Path(tmp) / model
            budget = smallest_budget("--model", model, "--data", cache, "--run", run, pin=pin)
            trained, _ = dogkit("train", "--model", model, "--data", cache, "--run", run, "--budget", budget, pin=pin)
            packed, _ = dogkit("pack", "--run", run, "--out", Path(tmp) / f"{model}.zip", pin=pin)
            pace = json.loads((run / "timing.json").read_text())["pack"]
            startup = pace["process_s"] + pace["build_s"] + pace["warmup_s"]
            rate = pace["batch"] / pace["batch_s"]
            print(
                f"{model:14s} {budget:>7s} {startup:7.1f}s {rate:8.0f} {pace['estimate_s']:7.1f}s {packed:6.1f}s "
                f"{packed / pace['estimate_s']:5.2f}  {format_seconds(trained + packed)} / {budget} = "
                f"{(trained + packed) / parse_budget(budget):.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
