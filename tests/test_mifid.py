"""MiFID against a plain float64 transcription of the competition's formula, closed forms and errors."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import scipy.linalg

from toolkit.metric import mifid as mifid_module
from toolkit.metric.mifid import (
    MiFIDResult,
    feature_statistics,
    float32_cosine_error_bound,
    frechet_distance,
    memorization_distance,
    mifid,
    nearest_reference,
)

RTOL = 1e-9


# --- the formula, written out plainly: np.cov, sqrtm (real part), the full distance matrix ---


def reference_fid(mu1, sigma1, mu2, sigma2) -> float:
    covmean = np.real(scipy.linalg.sqrtm(sigma1 @ sigma2))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def reference_distance(gen, ref) -> float:
    gen = np.asarray(gen, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    gen = gen[gen.sum(axis=1) != 0]
    ref = ref[ref.sum(axis=1) != 0]
    gen = gen / np.linalg.norm(gen, axis=1, keepdims=True)
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    return float(np.mean(np.min(1.0 - np.abs(gen @ ref.T), axis=1)))


def reference_mifid(gen, ref, eps=0.1) -> tuple[float, float, float]:
    gen64 = np.asarray(gen, dtype=np.float64)
    ref64 = np.asarray(ref, dtype=np.float64)
    fid = reference_fid(gen64.mean(0), np.cov(gen64, rowvar=False), ref64.mean(0), np.cov(ref64, rowvar=False))
    d = reference_distance(gen, ref)
    d_thresholded = d if d < eps else 1.0
    return fid, d, fid / (d_thresholded + 1e-14)


def features(rows: int, width: int = 64, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Non-negative, correlated features, like ReLU/avg-pool outputs."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((width, width)) / math.sqrt(width)
    return np.abs(rng.standard_normal((rows, width)) @ mixing + 0.3).astype(dtype)


def random_covariance(width: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = features(samples, width, seed)
    return x.mean(0), np.cov(x, rowvar=False)


# --- agreement with the transcription ---


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_mifid_matches_reference_transcription(dtype, seed):
    gen = features(300, seed=seed, dtype=dtype)
    ref = features(500, seed=seed + 100, dtype=dtype)
    result = mifid(gen, ref)
    fid, d, score = reference_mifid(gen, ref)
    assert isinstance(result, MiFIDResult)
    assert result.fid == pytest.approx(fid, rel=RTOL)
    assert result.distance == pytest.approx(d, rel=RTOL)
    assert result.mifid == pytest.approx(score, rel=RTOL)
    assert (result.n_generated, result.n_reference, result.eps) == (300, 500, 0.1)


def test_golden_value_by_hand():
    # mu_g = (2, 1), S_g = diag(2, 0); mu_r = (1, 2), S_r = diag(0, 2); S_g S_r = 0, so FID = 2 + 2 + 2.
    # (1,1) is a copy; (3,1) is closest to (1,1), cos = 4 / sqrt(20). d = (1 - 2/sqrt(5)) / 2 < 0.1.
    result = mifid([[1.0, 1.0], [3.0, 1.0]], [[1.0, 1.0], [1.0, 3.0]])
    d = (1 - 2 / math.sqrt(5)) / 2
    assert result.fid == pytest.approx(6.0, rel=1e-12)
    assert result.distance == pytest.approx(d, rel=1e-12)
    assert result.distance_thresholded == result.distance
    assert result.mifid == pytest.approx(6.0 / d, rel=1e-12)  # 113.67


def test_cached_reference_statistics_give_the_same_result():
    gen, ref = features(200, seed=3), features(300, seed=4)
    assert mifid(gen, ref, ref_stats=feature_statistics(ref)) == mifid(gen, ref)


def test_feature_statistics_match_numpy():
    x = features(5000, seed=5, dtype=np.float32)  # more rows than one block
    mu, sigma = feature_statistics(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mu, x64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x64, rowvar=False), rtol=1e-10, atol=1e-14)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_array_equal(sigma, sigma.T)


# --- zero rows, thresholding, the min axis ---


def test_zero_rows_are_left_out_of_the_distance_only():
    gen, ref = features(200, seed=6), features(300, seed=7)
    gen_z = np.insert(gen, [0, 50, 200], 0.0, axis=0)
    ref_z = np.insert(ref, [10, 300], 0.0, axis=0)
    assert memorization_distance(gen_z, ref_z) == pytest.approx(memorization_distance(gen, ref), rel=1e-14)
    result = mifid(gen_z, ref_z)
    fid, d, score = reference_mifid(gen_z, ref_z)  # FID keeps every row, as the competition's does
    assert result.fid == pytest.approx(fid, rel=RTOL)
    assert result.distance == pytest.approx(d, rel=RTOL)
    assert result.mifid == pytest.approx(score, rel=RTOL)


def test_near_copies_are_penalized():
    ref = features(400, seed=8)
    rng = np.random.default_rng(9)
    gen = ref[rng.choice(400, size=200, replace=False)] * (1 + 1e-3 * rng.standard_normal((200, 64)))
    result = mifid(gen, ref)
    fid, d, score = reference_mifid(gen, ref)
    assert 1e-8 < result.distance < 1e-5  # d ~ 5e-7: float32 alone could not resolve it
    assert result.distance == pytest.approx(d, rel=1e-6)  # the reference's own round-off ~1e-16 / d
    assert result.distance_thresholded == result.distance
    assert result.mifid == result.fid / (result.distance + 1e-14)
    assert result.mifid == pytest.approx(score, rel=1e-6)
    assert result.fid == pytest.approx(fid, rel=RTOL)


def test_distance_at_or_above_eps_thresholds_to_one():
    gen, ref = features(100, seed=10), features(100, seed=11)
    result = mifid(gen, ref)
    assert result.distance >= 0.1
    assert result.distance_thresholded == 1.0
    assert result.mifid == result.fid / (1.0 + 1e-14)
    assert result.mifid == pytest.approx(result.fid, rel=1e-13)
    custom = mifid(gen, ref, eps=np.float32(1.0), chunk_size=np.int64(16))  # d < eps now: the penalty applies
    assert custom.distance_thresholded == custom.distance == result.distance


def test_min_runs_per_generated_row():
    gen = np.array([[1.0, 0.0], [2.0, 0.0]])
    ref = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert memorization_distance(gen, ref) == 0.0  # every generated row has a copy
    assert memorization_distance(ref, gen) == pytest.approx(0.5)  # (0, 1) has none: 1 - 0, mean 0.5


def test_absolute_cosine_counts_negated_rows_as_copies():
    gen = np.array([[1.0, -2.0, 0.5], [0.2, 0.1, 0.9]])
    ref = np.vstack([-3 * gen, [[1.0, 1.0, 1.0]]])
    assert memorization_distance(gen, ref) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 10_000])
def test_chunking_does_not_change_the_result(chunk_size):
    gen, ref = features(150, seed=12), features(250, seed=13)
    assert memorization_distance(gen, ref, chunk_size=chunk_size) == memorization_distance(gen, ref)


def test_dense_fallback_for_many_candidates(monkeypatch):
    # Half the reference rows appear 4 times, so a near-copy of one has 4 candidates; with the
    # limit at 2 those go through the dense float64 comparison, copies of the others pair by pair.
    base = features(40, seed=14)
    ref = np.vstack([np.repeat(base[:20], 4, axis=0), base[20:]])
    rng = np.random.default_rng(15)
    gen = np.repeat(base, 2, axis=0)[rng.permutation(80)] * (1 + 1e-3 * rng.standard_normal((80, 64)))
    expected = reference_distance(gen, ref)
    dense_rows = []
    original = mifid_module._dense_max_abs_cos

    def spy(gen64, unit_ref):
        dense_rows.append(gen64.shape[0])
        return original(gen64, unit_ref)

    monkeypatch.setattr(mifid_module, "_MAX_CANDIDATES_PER_ROW", 2)
    monkeypatch.setattr(mifid_module, "_dense_max_abs_cos", spy)
    assert memorization_distance(gen, ref, chunk_size=32) == pytest.approx(expected, rel=1e-6)
    assert sum(dense_rows) == 40


def test_rows_summing_to_zero_are_dropped_even_when_not_all_zero():
    # The competition filters on the row sum, not the norm: a signed row summing to 0 is ignored.
    gen = np.array([[1.0, 0.0, 0.0], [1.0, -1.0, 0.0]])
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert memorization_distance(gen, ref) == 0.0
    assert reference_distance(gen, ref) == 0.0


def test_float32_error_bound_holds_and_is_small():
    bound = float32_cosine_error_bound(2048)
    assert 1.2e-4 < bound < 1.25e-4
    rng = np.random.default_rng(16)
    x = np.abs(rng.standard_normal((200, 2048)))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    error = np.abs(x.astype(np.float32) @ x.astype(np.float32).T - x @ x.T).max()
    assert error < bound / 10  # the bound is rigorous, so loose in practice


# --- Frechet distance: closed forms and the eigenvalue route ---


def test_identical_sets_give_zero():
    mu, sigma = random_covariance(64, 400, seed=17)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-10)
    x = features(300, seed=18)
    assert mifid(x, x).fid == pytest.approx(0.0, abs=1e-10)


def test_equal_covariances_give_squared_mean_gap():
    mu, sigma = random_covariance(64, 400, seed=19)
    shift = np.random.default_rng(20).standard_normal(64)
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(shift @ shift, rel=1e-9)


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(21)
    a, b = rng.uniform(0.1, 2.0, 32), rng.uniform(0.1, 2.0, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_is_symmetric():
    mu1, sigma1 = random_covariance(64, 300, seed=22)
    mu2, sigma2 = random_covariance(64, 500, seed=23)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        frechet_distance(mu2, sigma2, mu1, sigma1), rel=1e-12
    )


@pytest.mark.parametrize(("samples1", "samples2"), [(300, 500), (40, 500), (500, 40), (30, 50)])
def test_eigenvalue_route_agrees_with_sqrtm(samples1, samples2):
    # Fewer samples than features makes the covariance singular: Cholesky fails, eigh takes over,
    # and the product has round-off negative eigenvalues, which sqrtm turns into imaginary parts.
    mu1, sigma1 = random_covariance(64, samples1, seed=24)
    mu2, sigma2 = random_covariance(64, samples2, seed=25)
    rtol = RTOL if min(samples1, samples2) > 64 else 1e-7  # sqrtm itself is less accurate when singular
    expected = reference_fid(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=rtol)
    # torchmetrics' route: general eigenvalues of the non-symmetric product, real part of their roots.
    roots = np.sqrt(np.linalg.eigvals(sigma1 @ sigma2).astype(complex)).real.sum()
    diff = mu1 - mu2
    torchmetrics_fid = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * roots
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(torchmetrics_fid, rel=rtol)


def test_retry_with_offset_logs_a_warning(monkeypatch, caplog):
    mu1, sigma1 = random_covariance(16, 100, seed=26)
    mu2, sigma2 = random_covariance(16, 100, seed=27)
    original = mifid_module._product_eigenvalues
    calls = []

    def failing_once(s1, s2):
        calls.append((s1, s2))
        if len(calls) == 1:
            raise np.linalg.LinAlgError("forced failure")
        return original(s1, s2)

    monkeypatch.setattr(mifid_module, "_product_eigenvalues", failing_once)
    with caplog.at_level(logging.WARNING, logger="toolkit.metric.mifid"):
        value = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert "adding 1e-06" in caplog.text
    np.testing.assert_array_equal(calls[1][0], sigma1 + 1e-6 * np.eye(16))
    offset = 1e-6 * np.eye(16)  # as pytorch-fid: only the trace-of-sqrt term sees the offset
    expected = reference_fid(mu1, sigma1, mu2, sigma2) + 2 * np.trace(
        np.real(scipy.linalg.sqrtm(sigma1 @ sigma2))
        - np.real(scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset)))
    )
    assert value == pytest.approx(expected, rel=1e-9)


def test_overflow_retries_then_raises(caplog):
    huge = 1e160 * np.eye(4)  # the product overflows to inf, with or without the offset
    with caplog.at_level(logging.WARNING, logger="toolkit.metric.mifid"), pytest.raises(ValueError, match="even with"):
        frechet_distance(np.zeros(4), huge, np.zeros(4), huge)
    assert "not finite" in caplog.text


def test_clearly_negative_eigenvalue_raises():
    mu = np.zeros(3)
    valid = np.diag([1.0, 2.0, 3.0])
    invalid = np.diag([1.0, -0.5, 3.0])  # not a covariance
    with pytest.raises(ValueError, match=r"sigma1 @ sigma2 has eigenvalue -1 .*not covariance"):
        frechet_distance(mu, valid, mu, invalid)
    with pytest.raises(ValueError, match=r"sigma1 has eigenvalue -0.5"):  # eigh route: Cholesky fails first
        frechet_distance(mu, invalid, mu, valid)


def test_round_off_negative_eigenvalues_are_clipped():
    sigma = np.diag([1.0, 2.0, -1e-12])  # negative only at round-off level
    value = frechet_distance(np.zeros(3), sigma, np.zeros(3), np.diag([1.0, 2.0, 3.0]))
    assert value == pytest.approx(3.0 - 1e-12, rel=1e-9)  # the tiny eigenvalue contributes no root


# --- argument errors ---


def test_frechet_distance_argument_errors():
    mu, sigma = np.zeros(4), np.eye(4)
    with pytest.raises(ValueError, match="mu1 and mu2 have different lengths: 4 and 3"):
        frechet_distance(mu, sigma, np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(4, 4\)"):
        frechet_distance(mu, sigma, mu, np.eye(3))
    with pytest.raises(ValueError, match="mu1 must be a 1-D"):
        frechet_distance(np.zeros((2, 2)), sigma, mu, sigma)
    with pytest.raises(ValueError, match="sigma1 must be a 2-D"):
        frechet_distance(mu, np.zeros((4, 4, 1)), mu, sigma)
    with pytest.raises(ValueError, match="sigma1 contains NaN"):
        frechet_distance(mu, np.full((4, 4), np.nan), mu, sigma)
    with pytest.raises(ValueError, match="mu2 contains NaN"):
        frechet_distance(mu, sigma, np.full(4, np.inf), sigma)
    lopsided = np.eye(4)
    lopsided[0, 1] = 0.5
    with pytest.raises(ValueError, match="sigma2 is not symmetric"):
        frechet_distance(mu, sigma, mu, lopsided)


def test_memorization_distance_argument_errors():
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"gen_features must be a 2-D .* got shape \(4,\)"):
        memorization_distance(np.ones(4), x)
    with pytest.raises(ValueError, match="same feature width, got 4 and 5"):
        memorization_distance(x, np.ones((3, 5)))
    with pytest.raises(ValueError, match="ref_features has no row with a non-zero feature sum"):
        memorization_distance(x, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="gen_features contains NaN"):
        memorization_distance(np.full((3, 4), np.nan), x)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        memorization_distance(x, x, chunk_size=0)
    with pytest.raises(TypeError, match="ref_features must hold real numbers, got dtype bool"):
        memorization_distance(x, x > 0)


def test_mifid_argument_errors():
    x = features(10, width=4)
    with pytest.raises(ValueError, match="eps must be a positive finite number, got 0"):
        mifid(x, x, eps=0)
    with pytest.raises(ValueError, match="eps must be a positive finite number, got nan"):
        mifid(x, x, eps=float("nan"))
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 2.5"):
        mifid(x, x, chunk_size=2.5)
    with pytest.raises(ValueError, match="gen_features must have at least 2 rows"):
        mifid(x[:1], x)
    with pytest.raises(ValueError, match="same feature width"):
        mifid(x, features(10, width=5))
    with pytest.raises(ValueError, match=r"ref_stats mu must have shape \(4,\)"):
        mifid(x, x, ref_stats=(np.zeros(3), np.eye(3)))
    with pytest.raises(ValueError, match="features must have at least 2 rows"):
        feature_statistics(x[:1])


def test_float64_exact_where_float32_ties():
    # Five reference variants per row (elementwise noise 1e-4) and generated rows as close to one
    # of them: d ~ 5e-9, below float32 resolution (float32 alone gives about -1e-7), while the
    # float64 recomputation of the candidates matches the float64 transcription.
    rng = np.random.default_rng(30)
    base = features(60, width=2048, seed=31)
    ref = np.repeat(base, 5, axis=0) * (1 + 1e-4 * rng.standard_normal((300, 2048)))
    gen = ref[rng.choice(300, 100, replace=False)] * (1 + 1e-4 * rng.standard_normal((100, 2048)))
    expected = reference_distance(gen, ref)
    g32 = (gen / np.linalg.norm(gen, axis=1, keepdims=True)).astype(np.float32)
    r32 = (ref / np.linalg.norm(ref, axis=1, keepdims=True)).astype(np.float32)
    float32_only = float(np.mean(np.min(1 - np.abs(g32 @ r32.T), axis=1)))
    assert abs(float32_only - expected) > 1e-3 * expected
    assert memorization_distance(gen, ref) == pytest.approx(expected, rel=1e-5)


def test_signed_2048_wide_features_match_reference():
    rng = np.random.default_rng(32)
    gen = rng.standard_normal((200, 2048)).astype(np.float32)
    ref = np.vstack([gen[:50] * 1.001, rng.standard_normal((300, 2048)).astype(np.float32)])
    assert memorization_distance(gen, ref) == pytest.approx(reference_distance(gen, ref), rel=RTOL)


def dense_nearest(gen, ref):
    """Per generated row: the argmin and min of the dense float64 1 - |cos| matrix."""
    g = gen / np.linalg.norm(gen, axis=1, keepdims=True)
    r = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    distance = 1.0 - np.abs(g @ r.T)
    return distance.argmin(axis=1), distance.min(axis=1)


@pytest.mark.parametrize("nonnegative", [True, False])
def test_nearest_reference_gives_each_rows_argmin_and_the_same_d(nonnegative):
    rng = np.random.default_rng(21)
    ref = rng.standard_normal((300, 64))
    ref = np.abs(ref) if nonnegative else ref
    gen = np.vstack(
        [
            ref[[5, 250, 17]] * 1.5,
            np.abs(rng.standard_normal((50, 64))) if nonnegative else rng.standard_normal((50, 64)),
        ]
    )
    distances, indices = nearest_reference(gen, ref, chunk_size=16)
    want_index, want_distance = dense_nearest(gen, ref)
    np.testing.assert_array_equal(indices, want_index)
    np.testing.assert_allclose(distances, want_distance, atol=1e-12)
    assert list(indices[:3]) == [5, 250, 17]
    assert float(distances.mean()) == memorization_distance(gen, ref, chunk_size=16)


def test_nearest_reference_numbers_rows_as_given_when_zero_sum_rows_are_left_out(monkeypatch):
    ref = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    gen = np.array([[0.0, 2.0, 2.1], [0.0, 0.0, 0.0], [3.0, 0.1, 0.0]])
    distances, indices = nearest_reference(gen, ref)
    assert list(indices) == [3, -1, 1]
    assert np.isnan(distances[1]) and distances[0] < 1e-3 and distances[2] < 1e-3
    # the dense path (rows with too many candidates) names the same rows
    monkeypatch.setattr(mifid_module, "_MAX_CANDIDATES_PER_ROW", 0)
    assert list(nearest_reference(gen, ref)[1]) == [3, -1, 1]
