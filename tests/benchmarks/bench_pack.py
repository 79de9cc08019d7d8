"""Benchmark: writing a 10,000-image submission zip, dogkit's writer against the notebook way.

Run directly: ``python tests/benchmarks/bench_pack.py``. Prints seconds for each and the ratio.
The baseline is how public notebooks write the zip: save each image as a PNG file with Pillow,
add the file to the zip, delete the file. Goal on 2 cores: dogkit <= 3 s and >= 2x faster.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from submission import validate_zip, write_images_zip  # noqa: E402
from tests.conftest import varied_images  # noqa: E402


def baseline_write(images, path: Path) -> None:
    workdir = path.parent
    with zipfile.ZipFile(path, "w") as archive:
        for k, image in enumerate(images):
            name = f"{k}.png"
            file = workdir / name
            Image.fromarray(image).save(file, "PNG")
            archive.write(file, arcname=name)
            os.remove(file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each method")
    args = parser.parse_args()

    images = varied_images(args.count, seed=42)
    timings = {"dogkit": [], "baseline": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for _ in range(args.repeats):
            start = time.perf_counter()
            write_images_zip(images, tmp / "dogkit.zip", count=args.count)
            timings["dogkit"].append(time.perf_counter() - start)
            start = time.perf_counter()
            baseline_write(images, tmp / "baseline.zip")
            timings["baseline"].append(time.perf_counter() - start)
        report = validate_zip(tmp / "dogkit.zip", count=args.count)
        assert report.ok, report.problems[:3]
        with zipfile.ZipFile(tmp / "dogkit.zip") as ours, zipfile.ZipFile(tmp / "baseline.zip") as theirs:
            first, last = ours.namelist()[0], ours.namelist()[-1]
            assert np.array_equal(np.asarray(Image.open(ours.open(first))), images[0])
            assert np.array_equal(np.asarray(Image.open(ours.open(last))), images[-1])
            sizes = (sum(i.file_size for i in ours.infolist()), sum(i.file_size for i in theirs.infolist()))

    best = {name: min(values) for name, values in timings.items()}
    print(f"images: {args.count} varied 64x64 RGB, cores: {os.cpu_count()}, best of {args.repeats}")
    print(f"dogkit writer : {best['dogkit']:.2f} s  ({sizes[0] / 2**20:.1f} MiB of PNG)")
    print(f"baseline      : {best['baseline']:.2f} s  ({sizes[1] / 2**20:.1f} MiB of PNG)")
    print(f"ratio         : {best['baseline'] / best['dogkit']:.1f}x faster")


if __name__ == "__main__":
    main()
