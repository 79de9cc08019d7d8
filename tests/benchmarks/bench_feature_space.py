"""Benchmark: does FID in the synthetic dogs' feature space see image quality, and how noisy is it?

Run directly: ``python tests/benchmarks/bench_feature_space.py [--model FILE.keras]``. Builds the
demo-like training set (``--photos``) and a held-out set from other seeds (``--held-out-photos``),
trains the feature model of ``feature_space.py`` on the training crops (or reuses ``--model``),
then, with dogkit's own ``features_extractor``, ``feature_statistics`` and ``mifid``, prints the
FID against the training crops of ``--images`` images each: held-out crops (the floor), blurred
and noisy held-out crops, training crops themselves, and two baselines that need no learning
(70/30 blends of two training crops, blurred copies with sigma 2) and uniform noise; whether FID
rises with blur and with noise; and the spread of FID over 5 draws of 2,000 held-out crops and of
10,000 (or as many as there are), which is what an evaluation of that many images can tell apart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_space import FeatureModelConfig, build_feature_model, synthetic_crops  # noqa: E402

BLUR_SIGMAS = (1, 2, 4)
NOISE_SIGMAS = (8, 16, 32)
BASELINE_BLUR = 2.0  # the blurred-copies baseline of issue 20
DRAWS = 5
NOISE_SIZES = (2000, 10000)


def blurred(images: np.ndarray, sigma: float) -> np.ndarray:
    """Each image Gaussian-blurred (Pillow's radius is the kernel's standard deviation)."""
    from PIL import Image, ImageFilter

    return np.stack([np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(sigma))) for image in images])


def noisy(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Each pixel plus Gaussian noise of standard deviation ``sigma`` (0..255 scale), clipped."""
    return np.clip(np.rint(images + rng.normal(0, sigma, images.shape)), 0, 255).astype(np.uint8)


def blends(crops: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` pixel blends 0.7 * a + 0.3 * b of two random training crops a != b."""
    a = rng.integers(len(crops), size=count)
    b = (a + rng.integers(1, len(crops), size=count)) % len(crops)
    return np.rint(0.7 * crops[a] + 0.3 * crops[b]).astype(np.uint8)


def cpu_description() -> str:
    """The CPU's model name and whether it has AVX-512, from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU (no /proc/cpuinfo)"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return f"{model}, AVX-512 {'yes' if 'avx512f' in flags.split() else 'no'}"


def rises(values: list[float]) -> bool:
    return all(a < b for a, b in zip(values, values[1:]))


def noise_rows(pool: np.ndarray, ref_stats, sizes, draws: int, rng: np.random.Generator):
    """For each size: (size, mean FID, std FID or None, how the draws were made) over ``draws``
    draws from the feature rows ``pool`` (disjoint when the pool holds them, else overlapping)."""
    from toolkit.metric.mifid import feature_statistics, frechet_distance

    rows = []
    for size in sorted({min(size, len(pool)) for size in sizes}):
        if size == len(pool):
            picks, how = [np.arange(size)], f"the whole pool of {len(pool)}: one value"
        elif size * draws <= len(pool):
            order = rng.permutation(len(pool))
            picks, how = [order[k * size : (k + 1) * size] for k in range(draws)], "disjoint draws"
        else:
            picks = [rng.choice(len(pool), size, replace=False) for _ in range(draws)]
            how = f"overlapping draws from {len(pool)} (std understated)"
        fids = [frechet_distance(*feature_statistics(pool[p]), *ref_stats) for p in picks]
        rows.append((size, float(np.mean(fids)), float(np.std(fids, ddof=1)) if len(fids) > 1 else None, how))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, help="the feature model: reused when the file exists, else built there and kept"
    )
    parser.add_argument("--photos", type=int, default=2000, help="synthetic photos for the training crops")
    parser.add_argument("--held-out-photos", type=int, default=9200, help="synthetic photos for the held-out crops")
    parser.add_argument("--minutes", type=float, default=2.0, help="the feature model's training time")
    parser.add_argument("--images", type=int, default=2000, help="images per table row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from toolkit.metric.features import features_extractor
    from toolkit.metric.mifid import feature_statistics, mifid

    started = time.monotonic()
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory(prefix="bench-feature-space-") as work:
        crops, breeds = synthetic_crops(args.photos, args.seed, Path(work))
        held_out, _ = synthetic_crops(args.held_out_photos, args.seed + 1, Path(work))
        # prepare's crops come in file-name order, one breed after another: any first n would be a few breeds
        held_out = held_out[np.random.default_rng(args.seed).permutation(len(held_out))]
        data_s = time.monotonic() - started
        print(f"{len(crops)} training crops, {len(held_out)} held-out crops in {data_s:.0f} s")
        tick = time.monotonic()
        model = args.model or Path(work) / "synthetic_features.keras"
        if not model.exists():
            config = FeatureModelConfig(seconds=args.minutes * 60, seed=args.seed)
            build_feature_model(crops, breeds, model, config)
        extractor = features_extractor(model)
        train_s = time.monotonic() - tick
        print(f"feature model: {extractor.description} ({train_s:.0f} s)")

        tick = time.monotonic()
        rng = np.random.default_rng(args.seed)
        n = min(args.images, len(held_out))
        ref = extractor.extract(crops)
        ref_stats = feature_statistics(ref)
        pool = extractor.extract(held_out)
        floor = held_out[:n]
        sets = {"held-out crops (floor)": floor}
        sets |= {f"held-out, blur sigma {s}": blurred(floor, s) for s in BLUR_SIGMAS}
        sets |= {f"held-out, noise sigma {s}": noisy(floor, s, rng) for s in NOISE_SIGMAS}
        copies = crops[rng.choice(len(crops), min(n, len(crops)), replace=False)]
        sets["training crops themselves"] = copies
        sets["baseline: 70/30 blends"] = blends(crops, n, rng)
        sets[f"baseline: blurred copies sigma {BASELINE_BLUR:g}"] = blurred(copies, BASELINE_BLUR)
        sets["uniform noise"] = rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)

        print(f"\nFID against the {len(crops)} training crops, {n} images a row ({extractor.space}):")
        print(f"{'images':<36} {'FID':>9} {'d':>7} {'MiFID':>10}")
        fids = {}
        for name, images in sets.items():
            features = pool[:n] if images is floor else extractor.extract(images)
            result = mifid(features, ref, ref_stats=ref_stats)
            fids[name] = result.fid
            print(f"{name:<36} {result.fid:9.2f} {result.distance:7.3f} {result.mifid:10.4g}")
        blur = [fids["held-out crops (floor)"], *(fids[f"held-out, blur sigma {s}"] for s in BLUR_SIGMAS)]
        noise = [fids["held-out crops (floor)"], *(fids[f"held-out, noise sigma {s}"] for s in NOISE_SIGMAS)]
        verdicts = {
            what: "rises" if rises(values) else "does not rise" for what, values in (("blur", blur), ("noise", noise))
        }
        print(f"monotonic: {'yes' if rises(blur) and rises(noise) else 'no'} "
              f"(with blur FID {verdicts['blur']}, with noise it {verdicts['noise']})")  # fmt: skip

        print(f"\nFID noise: {DRAWS} draws of held-out crops against the training crops")
        print(f"{'images':>7} {'mean FID':>9} {'std':>7}  draws")
        for size, mean, std, how in noise_rows(pool, ref_stats, NOISE_SIZES, DRAWS, rng):
            print(f"{size:7d} {mean:9.2f} {'n/a' if std is None else f'{std:.2f}':>7}  {how}")
        print(f"\nseconds: data {data_s:.0f}, feature model {train_s:.0f}, FID table and draws "
              f"{time.monotonic() - tick:.0f}, total {time.monotonic() - started:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
