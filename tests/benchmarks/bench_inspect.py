"""Benchmark: `dogkit inspect`'s nearest-neighbour step against a full distance matrix.

Run directly: ``python tests/benchmarks/bench_inspect.py``. 10,000 generated against 20,000 training
features of Inception's width (2048), random like ReLU/avg-pool outputs (bench_mifid's). For each
case prints seconds for ``nearest_reference`` (what inspect runs: per image, the nearest crop and
its float64 cosine distance) and for the baseline, a whole float64 ``1 - |G R^T|`` matrix (1.6 GB)
with its row argmin and min, their ratio, how many nearest indices differ and the largest distance
difference. Cases: "far" (independent sets) and "near-copy" (generated = training rows times
1 + 1e-3 noise, so each image's nearest crop is known).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_mifid import mixing_matrix, realistic_features  # noqa: E402
from toolkit.metric.mifid import nearest_reference  # noqa: E402


def dense_nearest(gen: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The straight computation: the full float64 distance matrix, its row argmin and min."""
    g = gen.astype(np.float64)
    r = ref.astype(np.float64)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    distance = 1.0 - np.abs(g @ r.T)
    return distance.argmin(axis=1), distance.min(axis=1)


def run_case(name: str, gen: np.ndarray, ref: np.ndarray, expected: np.ndarray | None) -> None:
    started = time.perf_counter()
    distances, indices = nearest_reference(gen, ref)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    want_indices, want_distances = dense_nearest(gen, ref)
    dense = time.perf_counter() - started
    differ = int(np.count_nonzero(indices != want_indices))
    gap = float(np.abs(distances - want_distances).max())
    print(
        f"{name:>9}: nearest_reference {ours:6.2f} s, full matrix {dense:6.2f} s, ratio {dense / ours:4.1f}x; "
        f"nearest indices differing {differ}, largest distance difference {gap:.1e}, mean d {distances.mean():.6g}"
    )
    if expected is not None:
        print(f"{'':>9}  nearest crop is the copied one for {int(np.count_nonzero(indices == expected))} of {len(gen)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=10_000)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    mixing = mixing_matrix(args.features, rng)
    ref = realistic_features(args.reference, mixing, rng)
    run_case("far", realistic_features(args.generated, mixing, rng), ref, None)
    copied = rng.choice(args.reference, args.generated, replace=False)
    noise = 1 + 1e-3 * rng.standard_normal((args.generated, args.features), dtype=np.float32)
    run_case("near-copy", ref[copied] * noise, ref, copied)


if __name__ == "__main__":
    main()
