"""Benchmark: `dogkit train` as a user waits for it, end to end, against the reference formulation.

Run directly: ``python tests/benchmarks/bench_train.py``. On synthetic crops (10,000 by default):

1. ``dogkit train --budget 4m`` in a subprocess, as a user runs it (start-up, data loading,
   compiling, checkpoints, sample grids, disk and memory included). Per phase, from the run's
   timing.json: wall seconds per epoch, seconds in the steps per epoch, the share of the wall
   spent saving; for the process: bytes it wrote (all of them, rewrites included), the run
   folder's size at the end, peak resident memory.
2. The reference formulation (one-hot codes through Dense layers, as the original notebook)
   in the same run: seconds per memorize epoch and per coach epoch.
3. ``dogkit train`` then ``dogkit pack``, twice, in the smallest budget dogkit accepts here (the one
   the refusal of ``--budget 1s`` names: a minute of training): the two processes' wall together.
4. With ``--big N`` (e.g. 21700): ``--option memorize=all`` on N crops, train then pack, and the
   peak resident memory of each process.

Goals on 2 cores: memorize phase wall <= 1.15x its steps; coach saving <= 3% of its wall; a
4-minute run writes <= 3 GB; the memorize phase >= 50x the reference in wall time; train + pack
within that budget plus 5%; ``memorize=all`` on ~21,700 crops within 6 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import smallest_budget, write_crop_cache  # noqa: E402
from toolkit.train.budget import parse_budget  # noqa: E402

GIB = 2**30


def dogkit(*args: object) -> tuple[float, int, int, str]:
    """Run ``dogkit ARGS`` as a user would; (wall seconds, bytes it wrote, its peak RSS in bytes, stderr).

    Peak RSS is the child's VmHWM, polled: ``ru_maxrss`` would count the benchmark process itself,
    which the child is forked from.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "toolkit", *map(str, args)], stdout=out, stderr=err)
        peak = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _high_water_mark(process.pid))
            time.sleep(0.05)
        wall = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(
            f"dogkit {' '.join(map(str, args))} failed ({process.returncode}):\n{stdout}\n{stderr[-3000:]}"
        )
    # wait4 gives this very child's resource use: ru_oublock counts the 512-byte blocks it wrote
    return wall, usage.ru_oublock * 512, peak, stderr


def _high_water_mark(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def reference_seconds_per_epoch(cache: Path, memorize_epochs: int = 2) -> tuple[float, float]:
    """The reference formulation's memorize and coach seconds per epoch (the first epoch, compiling, not timed)."""
    from tests.benchmarks.bench_memorizer import BATCH, batches_for, reference_coach, reference_memory
    from toolkit.backend import keras
    from toolkit.data.crops import load_crops
    from toolkit.models.memorizer.networks import PIXELS, build_generator

    crops = load_crops(cache)["images"]
    n = len(crops)
    flat = crops.reshape(n, PIXELS) / np.float32(255)
    eye = np.eye(n, dtype=np.float32)
    init = np.random.default_rng(0).uniform(-0.02, 0.02, (n, PIXELS)).astype(np.float32)
    memory = reference_memory(init)
    epochs = batches_for(memorize_epochs, n, seed=1)
    times = []
    for epoch in epochs:
        start = time.perf_counter()
        for rows in epoch:
            memory.train_on_batch(eye[rows], flat[rows])
        times.append(time.perf_counter() - start)
    memorize = float(np.mean(times[1:] or times))

    keras.utils.set_random_seed(3)
    coach = reference_coach(build_generator(n, 2048), memory.get_layer("memory").kernel.numpy())
    zeros = np.zeros((BATCH, 64, 64, 3), np.float32)
    [epoch] = batches_for(1, n, seed=2)
    coach.train_on_batch(eye[epoch[0]], zeros[: len(epoch[0])])  # compiles
    timed = epoch[1:9]
    start = time.perf_counter()
    for rows in timed:
        coach.train_on_batch(eye[rows], zeros[: len(rows)])
    coach_epoch = (time.perf_counter() - start) / len(timed) * len(epoch)
    return memorize, coach_epoch


def measured_run(cache: Path, run: Path, budget: str, with_reference: bool) -> None:
    wall, written, rss, _ = dogkit("train", "--data", cache, "--run", run, "--budget", budget)
    timing = json.loads((run / "timing.json").read_text())
    print(f"\ndogkit train --budget {budget}: {wall:.1f} s wall")
    print(
        f"  {'phase':9s} {'epochs':>6s} {'wall s/epoch':>13s} {'steps s/epoch':>14s} {'wall/steps':>10s} {'saving':>7s}"
    )
    for phase, t in timing.items():
        if phase == "pack":  # the trial pack's estimate, not a phase
            continue
        epochs = max(t["epochs"], 1)
        print(
            f"  {phase:9s} {t['epochs']:6d} {t['wall_s'] / epochs:13.3f} {t['step_s'] / epochs:14.3f} "
            f"{t['wall_s'] / t['step_s']:9.2f}x {100 * t['save_s'] / t['wall_s']:6.1f}%"
        )
    print(
        f"  bytes written {written / GIB:.2f} GiB; run folder at the end {folder_bytes(run) / GIB:.2f} GiB; "
        f"peak resident memory {rss / GIB:.2f} GiB"
    )

    if with_reference:
        memorize_ref, coach_ref = reference_seconds_per_epoch(cache)
        memorize = timing["memorize"]
        coach = timing.get("coach")
        ours = memorize["wall_s"] / max(memorize["epochs"], 1)
        print(f"\nreference formulation: memorize {memorize_ref:.2f} s/epoch, coach {coach_ref:.2f} s/epoch")
        print(f"  memorize phase, wall: dogkit {ours:.3f} s/epoch, {memorize_ref / ours:.1f}x the reference")
        if coach and coach["epochs"]:
            ours = coach["wall_s"] / coach["epochs"]
            print(f"  coach phase, wall:    dogkit {ours:.3f} s/epoch, {coach_ref / ours:.2f}x the reference")


def train_and_pack_in_the_smallest_budget(cache: Path, tmp: Path) -> None:
    """The budget a refusal names as enough for a minute of training here, then train and pack in it."""
    budget = smallest_budget("--data", cache, "--run", tmp / "refused")
    seconds = parse_budget(budget)
    print(f"\ndogkit train --budget {budget} (named by the refusal of 1s), then dogkit pack (start-up included)")
    for attempt in (1, 2):
        run = tmp / f"run-smallest-{attempt}"
        train_wall, _, _, _ = dogkit("train", "--data", cache, "--run", run, "--budget", budget)
        pack_wall, _, _, _ = dogkit("pack", "--run", run, "--out", tmp / f"images-{attempt}.zip")
        total = train_wall + pack_wall
        print(
            f"  run {attempt}: train {train_wall:.1f} s + pack {pack_wall:.1f} s = {total:.1f} s "
            f"({total / seconds:.3f}x the budget)"
        )


def memorize_all(tmp: Path, crops: int) -> None:
    big = write_crop_cache(tmp / "big.npz", crops, seed=12)
    run = tmp / "run-big"
    wall, written, rss, _ = dogkit("train", "--data", big, "--run", run, "--budget", "8m", "--option", "memorize=all")
    timing = json.loads((run / "timing.json").read_text())
    phases = ", ".join(f"{p} {t['epochs']} epochs" for p, t in timing.items() if p != "pack")
    print(f"\nmemorize=all on {crops} crops: train {wall:.1f} s ({phases}), peak resident {rss / GIB:.2f} GiB")
    wall, _, rss, _ = dogkit("pack", "--run", run, "--out", tmp / "images-big.zip")
    print(f"  pack {wall:.1f} s, peak resident {rss / GIB:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=10_000)
    parser.add_argument("--budget", default="4m", help="budget of the measured run")
    parser.add_argument("--big", type=int, default=21_700, help="crops of the memorize=all run")
    parser.add_argument(
        "--parts",
        default="run,reference,smallest,big",
        help="what to run, comma-separated: run, reference, smallest, big",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    cache = write_crop_cache(tmp / "crops.npz", args.crops, seed=11)
    print(f"{args.crops} synthetic crops, {os.cpu_count()} cores; work in {tmp}")

    if "run" in parts:
        measured_run(cache, tmp / "run", args.budget, "reference" in parts)
    if "smallest" in parts:
        train_and_pack_in_the_smallest_budget(cache, tmp)
    if "big" in parts:
        memorize_all(tmp, args.big)


if __name__ == "__main__":
    main()
