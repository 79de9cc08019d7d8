"""Benchmark: cropping Kaggle-shaped photos to 64x64, ``dogkit prepare`` against a plain loop.

Run directly: ``python tests/benchmarks/bench_prepare.py``. Builds about 2,000 synthetic photos
(around 500x375, every 100th above 2000 px) with VOC boxes, then measures crops/s for
``dogkit prepare`` and for a baseline in the same run: one process, each photo opened, fully
decoded, each box cropped and Lanczos-resized, one photo at a time. Goal on 2 cores: >= 4x.
Prints the mean absolute pixel difference between the two sets of crops, and the same figures
for smaller draft margins (decoding smaller, upsampling the smallest crops): the speed that
accuracy would buy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from toolkit.data.crops import load_crops  # noqa: E402
from toolkit.data.discovery import find_competition_data  # noqa: E402
from toolkit.data.prepare import PrepareConfig, parse_annotation, prepare, square_from_box  # noqa: E402
from toolkit.data.synthetic import make_photos, write_dataset  # noqa: E402


def baseline(src: Path) -> tuple[np.ndarray, list[tuple[str, tuple[int, int, int, int]]]]:
    data = find_competition_data(src)
    annotations = {name.split("/")[-1]: data.annotations.root / name for name in data.annotations.names}
    crops, keys = [], []
    for name in data.photos.names:
        photo_id = Path(name).stem
        boxes = parse_annotation(annotations[photo_id].read_bytes())
        with Image.open(data.photos.root / name) as image:
            image.load()
            image = image.convert("RGB")
            for box in boxes:
                square, _ = square_from_box(box, *image.size)
                if square is None:
                    continue
                crops.append(np.asarray(image.crop(square).resize((64, 64), Image.Resampling.LANCZOS)))
                keys.append((Path(name).name, square))
    return np.stack(crops), keys


def entropy_decoding_floor(src: Path) -> float:
    """Seconds to decode every photo at 1/8 scale, one process: what no JPEG decoder can skip."""
    data = find_competition_data(src)
    start = time.perf_counter()
    for name in data.photos.names:
        with Image.open(data.photos.root / name) as image:
            image.draft("RGB", (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
            image.load()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=0, help="dogkit's worker processes (0: one per core)")
    parser.add_argument("--trade-margins", type=float, nargs="*", default=[0.75, 0.5], help="draft margins to compare")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        photos = make_photos(args.photos, seed=7, large_every=100)
        src = write_dataset(tmp / "generative-dog-images", photos, "nested")
        sizes = np.array([(p.width, p.height) for p in photos])
        print(
            f"{len(photos)} photos, {sum(len(p.boxes) for p in photos)} boxes, median size "
            f"{int(np.median(sizes[:, 0]))}x{int(np.median(sizes[:, 1]))}, {int((sizes[:, 0] > 2000).sum())} above "
            f"2000 px; built in {time.perf_counter() - start:.0f} s; cores: {os.cpu_count()}"
        )
        # warm the page cache so neither side pays for the first read
        for path in src.rglob("*"):
            if path.is_file():
                path.read_bytes()

        def run_prepare(margin: float, workers: int = args.workers) -> tuple[float, dict]:
            config = PrepareConfig(src=src, out=tmp / "out" / "dogs64.npz", workers=workers, draft_margin=margin)
            start = time.perf_counter()
            result = prepare(config)
            seconds = time.perf_counter() - start
            cache = load_crops(result.out)
            crops = zip(cache["sources"], cache["boxes"], cache["images"])
            return seconds, {(s, tuple(int(v) for v in b)): im for s, b, im in crops}

        def differences(crops: dict) -> np.ndarray:
            assert len(crops) == len(keys) == len(reference)
            return np.array([np.abs(crops[key].astype(np.int16) - ref).mean() for key, ref in zip(keys, reference)])

        ours_s, ours = run_prepare(1.0)
        start = time.perf_counter()
        reference, keys = baseline(src)
        base_s = time.perf_counter() - start

        floor_s = entropy_decoding_floor(src)
        one_worker_s, _ = run_prepare(1.0, workers=1)
        cores = os.cpu_count() or 1
        diffs = differences(ours)
        n = len(reference)
        print(f"dogkit prepare : {n / ours_s:7.0f} crops/s  ({ours_s:.2f} s, includes writing the cache)")
        print(f"baseline       : {n / base_s:7.0f} crops/s  ({base_s:.2f} s)")
        print(f"ratio          : {base_s / ours_s:.1f}x faster")
        print(
            f"floor          : decoding every photo at 1/8 scale takes {floor_s:.2f} s in one process "
            f"({floor_s / base_s:.0%} of the baseline); ratio ceiling on {cores} cores "
            f"~{base_s / (floor_s / cores):.1f}x"
        )
        print(
            f"one worker     : dogkit prepare takes {one_worker_s:.2f} s ({one_worker_s / base_s:.0%} of the baseline: "
            f"decode at reduced scale + Lanczos); perfect scaling on {cores} cores would give "
            f"{base_s / (one_worker_s / cores):.1f}x"
        )
        print(
            f"crops vs baseline: mean absolute difference {diffs.mean():.3f} levels of 255 "
            f"(worst crop {diffs.max():.3f}; {int((diffs == 0).sum())} of {n} identical)"
        )
        for margin in args.trade_margins:
            seconds, crops = run_prepare(margin)
            print(
                f"draft margin {margin:4.2f}: {n / seconds:7.0f} crops/s, ratio {base_s / seconds:.1f}x, "
                f"mean absolute difference {differences(crops).mean():.3f} levels (smallest crops upsampled "
                f"from {margin * 64:.0f} px)"
            )


if __name__ == "__main__":
    main()
