"""Benchmark: MiFID of 10,000 generated against 20,000 reference 2048-d features, dogkit against the competition code.

Run directly: ``python tests/benchmarks/bench_mifid.py``. For each case prints seconds for dogkit and
for the baseline, their ratio, and FID, distance and MiFID from both with relative differences.
The baseline is a straight float64 transcription of the competition's scoring code: ``np.cov``,
``scipy.linalg.sqrtm`` of the covariance product (real part) and the dense 10,000 x 20,000
``1 - |cos|`` matrix (1.6 GB). Cases: "far" (independent sets, d ~ 0.2, no penalty) and
"near-copy" (generated = reference rows times 1 + 1e-3 noise, d ~ 5e-7, the penalty applies).
Features are |correlated Gaussians| in float32, like ReLU/avg-pool outputs, with a full-rank
covariance. Goal on 2 cores: dogkit <= 5 s per case, >= 3x faster, results equal to 1e-6 relative.

``--extract N`` (default 64; 0 skips) also prints the feature-extraction speed, in images/s, of the
Keras InceptionV3 extractor (random weights from a temporary file: same cost as the real ones) on
N 64x64 images, after one warm-up batch. Informational, no goal: on CPU it bounds ``dogkit score``
(10,000 generated images, plus ~20,000 reference photos once).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from toolkit.metric.mifid import feature_statistics, mifid  # noqa: E402


def realistic_features(rows: int, mixing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(rows, n) float32, non-negative: |z @ mixing| for standard normal z."""
    z = rng.standard_normal((rows, mixing.shape[0]), dtype=np.float32)
    return np.abs(z @ mixing)


def mixing_matrix(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random rotation with singular values decaying like k^-1/2: correlated but full rank."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    scales = np.arange(1, n + 1) ** -0.5
    return (q * scales).T.astype(np.float32) @ q.T.astype(np.float32)


def baseline_mifid(gen: np.ndarray, ref: np.ndarray, eps: float = 0.1) -> tuple[float, float, float]:
    """The competition's computation, transcribed: (fid, distance, mifid)."""
    gen = gen.astype(np.float64)
    ref = ref.astype(np.float64)
    mu1, sigma1 = gen.mean(axis=0), np.cov(gen, rowvar=False)
    mu2, sigma2 = ref.mean(axis=0), np.cov(ref, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    diff = mu1 - mu2
    fid = float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))

    def normalize_rows(x):
        return np.nan_to_num(x / np.linalg.norm(x, ord=2, axis=1, keepdims=True))

    g = normalize_rows(gen[np.sum(gen, axis=1) != 0])
    r = normalize_rows(ref[np.sum(ref, axis=1) != 0])
    d = 1.0 - np.abs(np.matmul(g, r.T))
    distance = float(np.mean(np.min(d, axis=1)))
    thresholded = distance if distance < eps else 1.0
    return fid, distance, fid / (thresholded + 1e-14)


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def run_case(name: str, gen: np.ndarray, ref: np.ndarray, repeats: int) -> bool:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ours = mifid(gen, ref)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    ref_stats = feature_statistics(ref)
    stats_s = time.perf_counter() - start
    start = time.perf_counter()
    cached = mifid(gen, ref, ref_stats=ref_stats)
    cached_s = time.perf_counter() - start
    assert cached.mifid == ours.mifid
    start = time.perf_counter()
    fid, distance, score = baseline_mifid(gen, ref)
    base_s = time.perf_counter() - start

    best = min(times)
    diffs = {
        "fid": relative(ours.fid, fid),
        "distance": relative(ours.distance, distance),
        "mifid": relative(ours.mifid, score),
    }
    print(f"[{name}] {gen.shape[0]} generated x {ref.shape[0]} reference x {gen.shape[1]} features")
    print(f"  dogkit   {best:7.2f} s (best of {repeats})   baseline {base_s:7.2f} s   ratio {base_s / best:5.1f}x")
    print(f"  reference statistics {stats_s:.2f} s; metric with cached reference statistics {cached_s:.2f} s")
    print(f"  FID      dogkit {ours.fid:.12g}  baseline {fid:.12g}  rel diff {diffs['fid']:.2e}")
    print(f"  distance dogkit {ours.distance:.12g}  baseline {distance:.12g}  rel diff {diffs['distance']:.2e}")
    print(f"  MiFID    dogkit {ours.mifid:.12g}  baseline {score:.12g}  rel diff {diffs['mifid']:.2e}")
    ok = best <= 5.0 and base_s / best >= 3.0 and max(diffs.values()) <= 1e-6
    print(f"  goals (<= 5 s, >= 3x, <= 1e-6 relative): {'met' if ok else 'NOT met'}")
    return ok


def keras_extraction_rate(images: int, batch_size: int) -> float:
    """Images per second of ``KerasExtractor.extract`` on ``images`` random 64x64 images, after a warm-up."""
    import tempfile

    from toolkit.backend import keras
    from toolkit.metric.features import KerasExtractor

    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "inception.weights.h5"
        keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg").save_weights(weights)
        extractor = KerasExtractor(weights)
        batch = np.random.default_rng(0).integers(0, 256, (images, 64, 64, 3), dtype=np.uint8)
        extractor.extract(batch[:batch_size], batch_size)  # loads the model and traces the function
        start = time.perf_counter()
        extractor.extract(batch, batch_size)
        return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=10_000)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2, help="best of N for dogkit")
    parser.add_argument("--case", choices=["far", "near", "both", "none"], default="both")
    parser.add_argument("--extract", type=int, default=64, help="images for the Keras extraction speed (0: skip)")
    parser.add_argument("--extract-batch", type=int, default=32)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    mixing = mixing_matrix(args.features, rng)
    ref = realistic_features(args.reference, mixing, rng)
    ok = True
    if args.case in ("far", "both"):
        gen = realistic_features(args.generated, mixing, rng)
        ok &= run_case("far", gen, ref, args.repeats)
        del gen
    if args.case in ("near", "both"):
        rows = rng.choice(args.reference, size=args.generated, replace=False)
        noise = 1.0 + 1e-3 * rng.standard_normal((args.generated, args.features), dtype=np.float32)
        gen = ref[rows] * noise
        ok &= run_case("near-copy", gen, ref, args.repeats)
    if args.extract > 0:
        rate = keras_extraction_rate(args.extract, args.extract_batch)
        print(
            f"[extract] Keras InceptionV3 features (64 -> 299 bilinear), CPU: {rate:.1f} images/s "
            f"({args.extract} images, batches of {args.extract_batch}); 10,000 images take {10_000 / rate / 60:.1f} min"
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
