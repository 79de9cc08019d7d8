"""Benchmark: what `--model biggan` makes against `--model dcgan` given the same time on this machine.

Run directly: ``python tests/benchmarks/bench_quality.py``. Builds the demo's dataset (synthetic
dog-like figures on textured backgrounds, VOC annotations, eight breeds), prepares it, trains
each model with ``dogkit train --budget`` (10 minutes by default; the same for both), samples 64
images from each run as ``dogkit pack`` would, and writes one PNG: the training crops, the DCGAN's
samples and the BigGAN's, side by side and labelled. Prints the steps each model ran and where
the picture is.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from toolkit.data.synthetic import make_photos, write_dataset  # noqa: E402

MODELS = {
    "dcgan": ["--batch-size", "32", "--option", "epochs=100000"],  # the budget, not the epochs, ends it
    "biggan": ["--batch-size", "32"],  # width from --width
}


def dogkit(*args: object) -> str:
    done = subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dogkit {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return done.stdout


def samples(run: Path, count: int = 64) -> np.ndarray:
    """``count`` images from the run's newest checkpoint, as `dogkit pack --run` makes them."""
    from toolkit.pack.from_run import generated_images, load_sampler

    loaded = load_sampler(run)
    return np.stack(list(generated_images(loaded.sampler, count, loaded.seed, {})))


def panel(images: np.ndarray, title: str):
    from PIL import Image, ImageDraw

    from toolkit.visuals import image_grid

    grid = Image.fromarray(image_grid(images[:64], columns=8))
    canvas = Image.new("RGB", (grid.width, grid.height + 22), "white")
    canvas.paste(grid, (0, 22))
    ImageDraw.Draw(canvas).text((6, 5), title, fill="black")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m", help="training budget of each model")
    parser.add_argument("--width", type=int, default=16, help="the BigGAN's width option")
    parser.add_argument("--photos", type=int, default=400, help="synthetic photos (the demo's count)")
    parser.add_argument("--out", type=Path, default=Path("quality.png"))
    args = parser.parse_args()
    from PIL import Image

    from toolkit.data.crops import load_crops

    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    write_dataset(work / "data", make_photos(args.photos, seed=0), layout="zips")
    dogkit("prepare", "--src", work / "data", "--out", work / "crops.npz")
    crops = load_crops(work / "crops.npz")["images"]
    print(f"{len(crops)} crops from {args.photos} synthetic photos; budget {args.budget} per model; work in {work}")
    panels = [panel(crops[np.random.default_rng(0).permutation(len(crops))[:64]], "training crops")]
    for model, options in MODELS.items():
        run = work / model
        extra = ["--option", f"width={args.width}"] if model == "biggan" else []
        start = time.monotonic()
        dogkit("train", "--model", model, "--data", work / "crops.npz", "--run", run, "--budget", args.budget,
               *options, *extra)  # fmt: skip
        with open(run / "history.csv") as handle:
            rows = list(csv.DictReader(handle))
        steps = sum(int(r["steps"]) for r in rows)
        label = f"{model}{f' width {args.width}' if extra else ''}: {len(rows)} epochs, {steps}+ steps"
        print(f"  {label} in {time.monotonic() - start:.0f} s")
        panels.append(panel(samples(run), f"{label}, {args.budget}"))
    sheet = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), panels[0].height), "white")
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + 8
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
