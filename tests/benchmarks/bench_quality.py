"""Benchmark: each model's FID over time at a fixed CPU budget, beside baselines that need no learning.

Run directly: ``python tests/benchmarks/bench_quality.py``. Makes a synthetic dataset like the
demo's (dog-like figures of eight breeds on textured backgrounds, prepared as ``dogkit prepare``
does), builds (or takes, ``--space``) the synthetic feature model of ``feature_space.py`` (a breed
classifier's penultimate layer), then trains each model with ``dogkit train --budget B --features
SPACE --eval-every E`` and reads its evaluations from history.csv: FID and MiFID of
``--eval-images`` generated images against the training crops, in that feature space, over time.
Beside them, the same figures for two baselines that need no learning: 70/30 pixel blends of two
training crops, and training crops blurred with sigma 2. Prints a table and writes one PNG of the
curves (FID against minutes of the budget, the baselines as flat lines) and a sheet of samples.

``--variant NAME:MODEL:opt=value,opt=value`` adds a run with other options, to compare a change
at the same budget (for example ``--variant dcgan-b05:dcgan:beta_1=0.5``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_feature_space import BASELINE_BLUR, blends, blurred, cpu_description  # noqa: E402
from tests.benchmarks.feature_space import FeatureModelConfig, build_feature_model, synthetic_crops  # noqa: E402

MODELS = {  # name -> (model, options): the defaults, but for the budget ending the DCGAN, not its epochs
    "memorizer": ("memorizer", []),
    "dcgan": ("dcgan", ["--option", "epochs=100000"]),
    "biggan": ("biggan", []),  # width from --width
}
COLOURS = ((200, 60, 40), (40, 90, 200), (40, 150, 60), (150, 60, 170), (220, 140, 20), (20, 160, 170))


def dogkit(*args: object) -> str:
    done = subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dogkit {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def evaluations(run: Path) -> list[dict[str, float]]:
    """The run's evaluations (history.csv rows whose phase is eval): minutes, steps, FID, d, MiFID."""
    from toolkit.train.evaluation import evaluation_rows
    from toolkit.train.runs import RunFolder

    return [
        {
            "minutes": row["elapsed"] / 60,
            "steps": row["steps"],
            "fid": row["eval_fid"],
            "d": row["eval_distance"],
            "mifid": row["eval_mifid"],
        }  # fmt: skip
        for row in evaluation_rows(RunFolder(run).read_history())
    ]


def baseline_figures(space: Path, crops: np.ndarray, count: int) -> dict[str, dict[str, float]]:
    """FID, d and MiFID of the no-learning baselines against the crops, as the runs' evaluations
    compute them (the same reference choice, the same numerics)."""
    from toolkit.metric.features import features_extractor
    from toolkit.metric.mifid import feature_statistics, mifid
    from toolkit.train.evaluation import EVAL_BATCH, REFERENCE_CROPS, reference_choice

    extractor = features_extractor(space)
    reference = extractor.extract(reference_choice(crops, REFERENCE_CROPS), EVAL_BATCH)
    stats = feature_statistics(reference)
    rng = np.random.default_rng(1)
    picked = crops[rng.integers(len(crops), size=count)]
    figures = {}
    for name, images in (
        ("70/30 blends of two crops", blends(crops, count, rng)),
        (f"crops blurred (sigma {BASELINE_BLUR:g})", blurred(picked, BASELINE_BLUR)),
    ):
        result = mifid(extractor.extract(images, EVAL_BATCH), reference, ref_stats=stats)
        figures[name] = {"fid": result.fid, "d": result.distance, "mifid": result.mifid}
    return figures


def curve_plot(curves: dict[str, list[dict]], baselines: dict[str, dict], key: str, title: str, path: Path) -> None:
    """``key`` (fid or mifid) against minutes, one line per run, a dashed flat line per baseline."""
    from PIL import Image, ImageDraw, ImageFont

    width, height, left, right, top, bottom = 900, 480, 70, 250, 30, 40
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    values = [p[key] for points in curves.values() for p in points] + [b[key] for b in baselines.values()]
    finite = [v for v in values if np.isfinite(v)]
    low, high = 0.0, max(finite) * 1.05
    t_high = max([p["minutes"] for points in curves.values() for p in points] + [1.0])
    x0, x1, y0, y1 = left, width - right, top, height - bottom

    def at(t: float, v: float) -> tuple[float, float]:
        return x0 + (x1 - x0) * t / t_high, y1 - (y1 - y0) * (min(v, high) - low) / (high - low)

    draw.rectangle((x0, y0, x1, y1), outline=(160, 160, 160))
    draw.text((x0, 8), title, fill="black", font=font)
    for k in range(5):
        v = low + (high - low) * k / 4
        draw.text((8, at(0, v)[1] - 6), f"{v:.3g}", fill=(90, 90, 90), font=font)
    for k in range(5):
        t = t_high * k / 4
        draw.text((at(t, low)[0] - 10, y1 + 8), f"{t:.1f} min", fill=(90, 90, 90), font=font)
    legend = y0
    for (name, figure), colour in zip(baselines.items(), ((120, 120, 120), (60, 60, 60))):
        y = at(0, figure[key])[1]
        for x in range(int(x0), int(x1), 12):
            draw.line((x, y, min(x + 6, x1), y), fill=colour, width=2)
        draw.text((x1 + 10, legend), f"- - {name}: {figure[key]:.3g}", fill=colour, font=font)
        legend += 16
    for (name, points), colour in zip(curves.items(), COLOURS):
        xy = [at(p["minutes"], p[key]) for p in points if np.isfinite(p[key])]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
        best = min((p[key] for p in points), default=float("nan"))
        draw.text((x1 + 10, legend), f"--- {name}: best {best:.3g}", fill=colour, font=font)
        legend += 16
    canvas.save(path)


def sample_sheet(runs: dict[str, Path], crops: np.ndarray, path: Path, count: int = 16) -> None:
    """``count`` training crops, then ``count`` images of each run at the end of its budget (its latest
    checkpoint), as `dogkit pack --snapshot latest` makes them."""
    from PIL import Image, ImageDraw

    from toolkit.pack.from_run import load_sampler
    from toolkit.train.sampling import generated_images
    from toolkit.visuals import image_grid

    panels = [("training crops", crops[np.random.default_rng(0).permutation(len(crops))[:count]])]
    for name, run in runs.items():
        loaded = load_sampler(run, snapshot="latest")
        panels.append((name, np.stack(list(generated_images(loaded.sampler, count, 0, {})))))
    tiles = []
    for title, images in panels:
        grid = Image.fromarray(image_grid(images, columns=int(np.ceil(np.sqrt(count)))))
        tile = Image.new("RGB", (grid.width, grid.height + 22), "white")
        tile.paste(grid, (0, 22))
        ImageDraw.Draw(tile).text((6, 5), title, fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for tile in tiles:
        sheet.paste(tile, (x, 0))
        x += tile.width + 8
    sheet.save(path)


def parse_variant(text: str) -> tuple[str, str, list[str]]:
    name, model, options = (text.split(":", 2) + [""])[:3]
    flags = [flag for option in options.split(",") if option for flag in ("--option", option)]
    return name, model, flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m", help="each run's `dogkit train --budget`")
    parser.add_argument("--photos", type=int, default=2000, help="synthetic photos (about 1.1 crops each)")
    parser.add_argument("--space", type=Path, help="a feature model from feature_space.py (default: build one)")
    parser.add_argument("--space-minutes", type=float, default=3.0, help="the feature model's training time")
    parser.add_argument("--eval-every", default="1m", help="each run's --eval-every")
    parser.add_argument("--eval-images", type=int, default=1000, help="each run's --eval-images")
    parser.add_argument("--width", type=int, default=16, help="the BigGAN's width option")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, from " + ", ".join(MODELS))
    parser.add_argument("--variant", action="append", default=[], help="NAME:MODEL:opt=value,opt=value")
    parser.add_argument("--out", type=Path, default=Path("quality-curve.png"), help="the FID curves")
    parser.add_argument("--samples", type=Path, default=Path("quality-samples.png"), help="the sample sheet")
    args = parser.parse_args()

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    print(f"CPU: {cpu_description()}; work in {work}")
    crops, breeds = synthetic_crops(args.photos, 0, work)
    cache = next(work.glob("crops-*.npz"))
    print(f"{len(crops)} crops from {args.photos} synthetic photos ({time.monotonic() - started:.0f} s)")
    space = args.space
    if space is None:
        space = build_feature_model(crops, breeds, work / "space.keras", FeatureModelConfig(args.space_minutes * 60))
    baselines = baseline_figures(space, crops, args.eval_images)

    runs = [(name, *MODELS[name]) for name in args.models.split(",") if name]
    runs += [parse_variant(text) for text in args.variant]
    curves, folders = {}, {}
    for name, model, options in runs:
        run = work / f"run-{name}"
        extra = ["--option", f"width={args.width}"] if model == "biggan" and "width=" not in " ".join(options) else []
        tick = time.monotonic()
        dogkit("train", "--model", model, "--data", cache, "--run", run, "--budget", args.budget, "--features", space,
               "--eval-every", args.eval_every, "--eval-images", args.eval_images, *options, *extra)  # fmt: skip
        curves[name], folders[name] = evaluations(run), run
        print(f"  {name}: {len(curves[name])} evaluations in {time.monotonic() - tick:.0f} s")

    print(f"\nFID in the synthetic feature space ({space.name}), {args.eval_images} images against the crops")
    print(f"{'run':<28} {'minutes':>8} {'steps':>8} {'FID':>9} {'d':>7} {'MiFID':>9}")
    for name, points in curves.items():
        for p in points:
            print(f"{name:<28} {p['minutes']:>8.2f} {p['steps']:>8} {p['fid']:>9.3f} {p['d']:>7.4f} {p['mifid']:>9.3f}")
    for name, figure in baselines.items():
        print(f"{name:<28} {'-':>8} {'-':>8} {figure['fid']:>9.3f} {figure['d']:>7.4f} {figure['mifid']:>9.3f}")
    print("\nbest FID of each run over the baselines' (below 1: better than the baseline):")
    for name, points in curves.items():
        best = min((p["fid"] for p in points), default=float("nan"))
        ratios = ", ".join(f"{best / figure['fid']:.2f} of {base}" for base, figure in baselines.items())
        print(f"  {name}: {best:.3f} ({ratios})")
    title = f"FID over a {args.budget} budget on 2 CPU cores, synthetic feature space ({args.eval_images} images)"
    curve_plot(curves, baselines, "fid", title, args.out)
    sample_sheet(folders, crops, args.samples)
    print(f"wrote {args.out} and {args.samples} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
