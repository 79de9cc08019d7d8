"""MiFID, the competition's metric: FID divided by a thresholded memorization distance.

With f_g the features of the generated images and f_r those of the reference (training) images,
each 2048-d Inception ``pool_3`` outputs (any width works here)::

    FID   = ||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2))     (covariances S with ddof 1)
    d     = mean over generated rows g of  min over reference rows r of  1 - |cos(f_g, f_r)|
            (rows, in either set, whose feature sum is zero are left out)
    d'    = d if d < eps else 1                                         (eps = 0.1)
    MiFID = FID / (d' + 1e-14)

Provenance: the competition's scoring code (a pytorch-fid style ``calculate_frechet_distance``
with ``scipy.linalg.sqrtm`` and a dense ``1 - |F_g F_r^T|`` distance matrix); torchmetrics'
``MemorizationInformedFrechetInceptionDistance`` is the same formula, with its min over real images.

Two deliberate deviations in *how*, not *what*, is computed (the values agree with the straight
transcription to round-off; ``tests/test_mifid.py`` and ``tests/benchmarks/bench_mifid.py`` check it):

* Tr((S_g S_r)^(1/2)) is the sum of the square roots of the eigenvalues of S_g S_r. Those equal the
  eigenvalues of the symmetric positive semi-definite F^T S_r F where S_g = F F^T (Cholesky, or
  eigh clipped at 0 when S_g is singular), so one ``eigvalsh`` replaces ``sqrtm`` of a non-symmetric
  product: ~0.7 s instead of ~11 s at 2048-d on 2 cores, and no complex arithmetic.
* The distance never builds the dense (n_g, n_r) float64 matrix. A float32 product finds, per
  generated row, every reference row whose |cos| could be the maximum (a rigorous float32 error
  bound, see ``float32_cosine_error_bound``), and only those are recomputed in float64.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_EPS = 0.1  # memorization threshold: d >= eps counts as "no memorization", d' = 1
DIVISION_OFFSET = 1e-14  # added to d' before dividing, as in the competition's code
SQRTM_RETRY_OFFSET = 1e-6  # added to both covariances' diagonals when the trace term is not finite

# A product eigenvalue below -NEGATIVE_EIGENVALUE_RTOL * max|eigenvalue| means an input is not a
# covariance. Why 1e-4: on the square-root scale the trace is summed in, the part that gets clipped
# (what sqrtm would return as an imaginary component, which the competition drops with ``.real``)
# is then at most 1% of the largest root. Float64 round-off gives ~1e-13 and covariances stored in
# float32 ~1e-7, both far below; a matrix that is not a covariance (wrong sign, wrong array) gives
# O(1). pytorch-fid's absolute 1e-3 on sqrtm's imaginary diagonal is the same idea, but scale-bound.
NEGATIVE_EIGENVALUE_RTOL = 1e-4

# A generated row with more float32 candidates than this (duplicated or constant reference rows)
# is compared densely in float64 against all reference rows instead of pair by pair.
_MAX_CANDIDATES_PER_ROW = 1024
_PAIR_BATCH = 4096  # candidate pairs recomputed in float64 at once: <= 2 x 4096 x n x 8 bytes gathered
_STATS_BLOCK = 4096  # rows converted to float64 at once for the covariance and the norms


@dataclass(frozen=True)
class MiFIDResult:
    fid: float  # Frechet distance between generated and reference features
    distance: float  # memorization distance d, in [0, 1]
    distance_thresholded: float  # d' = d if d < eps else 1
    mifid: float  # fid / (d' + 1e-14): the leaderboard score, lower is better
    eps: float  # the threshold used
    n_generated: int  # generated rows (all used for FID; zero-sum rows not for d)
    n_reference: int  # reference rows (likewise)


# ---------------------------------------------------------------------------------------------
# Frechet distance


def _as_matrix(value, name: str) -> np.ndarray:
    """``value`` as a finite float64 2-D array, else ValueError naming ``name``."""
    array = np.atleast_2d(np.asarray(value, dtype=np.float64))
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D covariance matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _product_eigenvalues(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """Eigenvalues of sigma1 @ sigma2 (ascending), through symmetric factorizations only.

    With sigma1 = F F^T, sigma1 sigma2 = F (F^T sigma2) is similar to F^T sigma2 F (same
    eigenvalues), which is symmetric, so ``eigvalsh`` applies. F is the Cholesky factor when
    sigma1 is numerically positive definite, else V sqrt(max(w, 0)) from ``eigh``.
    Raises ValueError when sigma1 has a clearly negative eigenvalue, LinAlgError when LAPACK fails.
    """
    try:
        factor = np.linalg.cholesky(sigma1)  # (n, n) lower triangular
    except np.linalg.LinAlgError:  # singular (fewer samples than features) or not PSD
        w, v = np.linalg.eigh(sigma1)
        _check_psd(w, "sigma1")
        factor = v * np.sqrt(np.clip(w, 0.0, None))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as non-finite eigenvalues
        product = factor.T @ sigma2 @ factor  # symmetric up to round-off; eigvalsh reads one triangle
    return np.linalg.eigvalsh(product)


def _check_psd(eigenvalues: np.ndarray, what: str) -> None:
    """Raise ValueError when an eigenvalue is negative beyond round-off (see NEGATIVE_EIGENVALUE_RTOL)."""
    scale = float(np.abs(eigenvalues).max(initial=0.0))
    lowest = float(eigenvalues.min(initial=0.0))
    if lowest < -NEGATIVE_EIGENVALUE_RTOL * scale:
        raise ValueError(
            f"{what} has eigenvalue {lowest:.3g} (largest magnitude {scale:.3g}, ratio {lowest / scale:.2g}, "
            f"tolerance {-NEGATIVE_EIGENVALUE_RTOL:g}): the inputs are not covariance matrices "
            f"(sqrtm would return an imaginary component of about {math.sqrt(-lowest):.3g})"
        )


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))``, the trace of the
    square root taken as the sum of the square roots of the product's eigenvalues (see the module
    docstring). Round-off negatives are clipped to 0, which is what keeping the real part of
    ``sqrtm`` does to them. Symmetric in its two distributions up to round-off.

    Args:
        mu1, mu2: (n,) means.
        sigma1, sigma2: (n, n) symmetric positive semi-definite covariances.

    Returns:
        The distance as a Python float. Not clipped at 0: identical inputs give about +-1e-12.

    Raises:
        ValueError: shapes disagree, values are not finite, a covariance is not symmetric, the
            product has an eigenvalue below -1e-4 times its largest (not covariances), or the
            trace term stays non-finite after the retry with 1e-6 added to both diagonals.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = _as_matrix(sigma1, "sigma1")
    sigma2 = _as_matrix(sigma2, "sigma2")
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if mu.ndim != 1:
            raise ValueError(f"{name} must be a 1-D mean vector, got shape {mu.shape}")
        if not np.isfinite(mu).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 have different lengths: {mu1.shape[0]} and {mu2.shape[0]}")
    n = mu1.shape[0]
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (n, n):
            raise ValueError(f"{name} must have shape ({n}, {n}) to match the means, got {sigma.shape}")
        asymmetry = float(np.abs(sigma - sigma.T).max())
        if asymmetry > 1e-6 * float(np.abs(sigma).max()):
            raise ValueError(f"{name} is not symmetric (largest |{name} - {name}.T| is {asymmetry:.3g})")
    return _frechet_distance(mu1, sigma1, mu2, sigma2)


def _frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``frechet_distance`` without the argument checks, for statistics this module computed itself."""
    n = mu1.shape[0]
    try:
        eigenvalues = _product_eigenvalues(sigma1, sigma2)
        finite = bool(np.isfinite(eigenvalues).all())
    except np.linalg.LinAlgError:
        finite = False
    if not finite:
        # pytorch-fid's retry for a singular product; with eigvalsh this needs overflow or a
        # LAPACK failure, so it is rare, but it keeps the competition code's behaviour.
        logger.warning(
            "FID: eigenvalues of sigma1 @ sigma2 are not finite; adding %g to both covariances' diagonals",
            SQRTM_RETRY_OFFSET,
        )
        offset = SQRTM_RETRY_OFFSET * np.eye(n)
        try:
            eigenvalues = _product_eigenvalues(sigma1 + offset, sigma2 + offset)
        except np.linalg.LinAlgError as exc:
            raise ValueError(f"FID: eigenvalues of sigma1 @ sigma2 failed even with the offset: {exc}") from None
        if not np.isfinite(eigenvalues).all():
            raise ValueError("FID: eigenvalues of sigma1 @ sigma2 are not finite even with the offset")
    _check_psd(eigenvalues, "sigma1 @ sigma2")
    tr_covmean = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())

    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _as_features(features, name: str) -> np.ndarray:
    """``features`` as a (rows, width) float32 or float64 array, else TypeError/ValueError naming ``name``."""
    array = np.asarray(features)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (images, features) array, got shape {array.shape}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof 1, like ``np.cov(features, rowvar=False)``) of feature rows.

    Float64 throughout, centred before multiplying; blocks of rows at a time, so a float32 input
    is never copied whole to float64 (20,000 x 2048 takes ~0.7 s on 2 cores).

    Args:
        features: (rows, n) array, at least 2 rows.

    Returns:
        (mu, sigma): (n,) and (n, n) float64.

    Raises:
        TypeError: not real numbers. ValueError: not 2-D, fewer than 2 rows, NaN or infinite values.
    """
    return _statistics(_as_features(features, "features"), "features")


def _statistics(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``feature_statistics`` of an array already checked by ``_as_features``; errors name ``name``."""
    rows, width = x.shape
    if rows < 2:
        raise ValueError(f"{name} must have at least 2 rows for a covariance, got {rows}")
    mu = x.mean(axis=0, dtype=np.float64)
    if not np.isfinite(mu).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    gram = np.zeros((width, width))
    for start in range(0, rows, _STATS_BLOCK):
        centred = np.subtract(x[start : start + _STATS_BLOCK], mu, dtype=np.float64)
        gram += centred.T @ centred  # numpy uses syrk for A.T @ A: half the flops, exactly symmetric
    gram /= rows - 1
    return mu, gram


# ---------------------------------------------------------------------------------------------
# Memorization distance


def float32_cosine_error_bound(n: int) -> float:
    """Largest possible |float32 cosine - exact cosine| for rows normalized as this module does.

    Each row is normalized in float64 (relative error per element <= (n + 4) * 2^-53, a generous
    bound for a length-n sum of squares, sqrt and divide) and rounded to float32 (<= 2^-24), so
    every element carries a relative error theta <= 2^-24 + (n + 4) * 2^-53, and the rounded
    inputs move the exact dot product by at most (2 theta + theta^2) * sum|g_i r_i| <= 2 theta + theta^2
    (Cauchy-Schwarz, unit rows). A float32 dot product of length n, in any summation order and with
    or without FMA, errs by at most gamma_n * sum|g_i r_i| with gamma_n = n u / (1 - n u), u = 2^-24
    (Higham, Accuracy and Stability, 3.1). Gradual underflow adds at most 2^-150 per rounded element
    and per product, 4 n 2^-150 in all. For n = 2048 the bound is 1.222e-4; measured errors on
    random non-negative rows are ~7e-8 typical, ~5e-7 at most.
    """
    u = 2.0**-24
    theta = u + (n + 4) * 2.0**-53
    gamma = n * u / (1.0 - n * u)
    return gamma * (1.0 + theta) ** 2 + 2.0 * theta + theta**2 + 4.0 * n * 2.0**-150


def _nonzero_rows(features: np.ndarray, name: str) -> np.ndarray:
    """The rows whose sum (in float64) is not zero; ValueError when none is left or values are not finite."""
    sums = features.sum(axis=1, dtype=np.float64)
    if not np.isfinite(sums).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    keep = sums != 0
    if not keep.any():
        raise ValueError(f"{name} has no row with a non-zero feature sum ({features.shape[0]} rows)")
    return features if keep.all() else features[keep]


def _unit_rows(block: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows divided by their L2 norms, norms), both float64; ValueError when a norm is 0 or inf."""
    block = block.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    if not (np.isfinite(norms).all() and (norms > 0).all()):
        raise ValueError(f"{name} has rows too small or too large to normalize in float64")
    block /= norms[:, None]
    return block, norms


@dataclass(frozen=True)
class _UnitReference:
    """The reference rows in the three forms the distance needs."""

    features: np.ndarray  # (n_ref, n) the rows with a non-zero sum, as given
    unit32: np.ndarray  # (n_ref, n) float32: rows normalized in float64, then rounded
    norms: np.ndarray  # (n_ref,) float64 L2 norms, to rebuild float64 unit rows on demand
    nonnegative: bool  # unit32 has no negative entry

    @classmethod
    def build(cls, features: np.ndarray, name: str) -> _UnitReference:
        unit32 = np.empty(features.shape, dtype=np.float32)
        norms = np.empty(features.shape[0])
        for start in range(0, features.shape[0], _STATS_BLOCK):
            stop = start + _STATS_BLOCK
            unit32[start:stop], norms[start:stop] = _unit_rows(features[start:stop], name)
        return cls(features, unit32, norms, bool(unit32.min() >= 0))

    def unit64(self, rows: np.ndarray | slice) -> np.ndarray:
        """Float64 unit rows, as ``_unit_rows`` gives them."""
        return self.features[rows].astype(np.float64) / self.norms[rows, None]


def _candidates(
    cos: np.ndarray, window: float, nonnegative: bool, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries whose |cos| is within ``window`` of their row's maximum: (rows, columns, dense).

    ``cos`` is a float32 block, overwritten with its absolute value unless ``nonnegative`` says
    both factors had no negative entry (then every product and every partial sum, hence every
    entry, is >= 0 exactly, and the pass is skipped). ``mask`` is a bool buffer of its shape.
    The float32 threshold is rounded down, so no entry within the window is lost to the
    comparison's own rounding. Rows with more than ``_MAX_CANDIDATES_PER_ROW`` candidates are
    flagged in ``dense`` (bool per row) and left out of the row-major (rows, columns) pairs.
    """
    abs_cos = cos if nonnegative else np.abs(cos, out=cos)
    threshold = abs_cos.max(axis=1).astype(np.float64) - window
    threshold = np.nextafter(threshold.astype(np.float32), np.float32(-np.inf))
    np.greater_equal(abs_cos, threshold[:, None], out=mask)
    dense = np.zeros(cos.shape[0], dtype=bool)
    if np.count_nonzero(mask) > cos.shape[0] - 1 + _MAX_CANDIDATES_PER_ROW:  # some row might be over
        dense = np.count_nonzero(mask, axis=1) > _MAX_CANDIDATES_PER_ROW
        mask[dense] = False
    # flatnonzero + divmod: ~15x faster than a 2-D np.nonzero on a (1024, 20000) mask.
    rows, cols = np.divmod(np.flatnonzero(mask), cos.shape[1])
    return rows, cols, dense


def _dense_max_abs_cos(gen64: np.ndarray, ref: _UnitReference) -> tuple[np.ndarray, np.ndarray]:
    """Per generated row, the float64 max over all reference rows of |cos| and its first argmax
    (for degenerate rows)."""
    best = np.zeros(gen64.shape[0])
    index = np.zeros(gen64.shape[0], dtype=np.int64)
    for start in range(0, ref.features.shape[0], _STATS_BLOCK):
        block = np.abs(gen64 @ ref.unit64(slice(start, start + _STATS_BLOCK)).T)
        block_best = block.max(axis=1)
        better = block_best > best
        index[better] = start + block.argmax(axis=1)[better]
        np.maximum(best, block_best, out=best)
    return best, index


def _chunk_nearest(
    gen64: np.ndarray, ref: _UnitReference, window: float, product: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """min over reference rows of 1 - |cos|, in float64, for each row of the normalized ``gen64``,
    and the (first) reference row reaching it: (distances, indices into ``ref``'s rows).

    ``product`` (float32) and ``mask`` (bool) are (>= rows, n_ref) scratch buffers reused across
    chunks, so that no chunk faults in 100 MB of fresh pages.
    """
    m = gen64.shape[0]
    gen32 = gen64.astype(np.float32)
    nonnegative = ref.nonnegative and bool(gen32.min() >= 0)
    cos32 = np.matmul(gen32, ref.unit32.T, out=product[:m])  # (m, n_ref) float32: the one big product
    # Every row not flagged dense has >= 1 pair: its own float32 maximum.
    rows, cols, dense = _candidates(cos32, window, nonnegative, mask[:m])

    best = np.empty(m)  # max |cos| per row, float64
    index = np.empty(m, dtype=np.int64)
    if dense.any():
        best[dense], index[dense] = _dense_max_abs_cos(gen64[dense], ref)
    cos64 = np.empty(rows.shape[0])
    for start in range(0, rows.shape[0], _PAIR_BATCH):
        r = rows[start : start + _PAIR_BATCH]
        c = cols[start : start + _PAIR_BATCH]
        # float64 unit row . float32 raw row, then / norm: 4x faster than building float64 unit rows.
        cos64[start : start + _PAIR_BATCH] = np.einsum("ij,ij->i", gen64[r], ref.features[c]) / ref.norms[c]
    if rows.shape[0]:
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # rows come sorted from flatnonzero
        abs64 = np.abs(cos64)
        row_best = np.maximum.reduceat(abs64, starts)
        best[rows[starts]] = row_best
        # the first candidate of each row equal to its row's maximum (columns are ascending per row)
        segment = np.repeat(np.arange(starts.shape[0]), np.diff(np.r_[starts, rows.shape[0]]))
        hits = np.flatnonzero(abs64 == row_best[segment])
        first = hits[np.r_[True, segment[hits[1:]] != segment[hits[:-1]]]]
        index[rows[first]] = cols[first]
    return 1.0 - best, index


def _check_chunk_size(chunk_size) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def memorization_distance(gen_features, ref_features, chunk_size: int = 1024) -> float:
    """Mean over generated rows of the min over reference rows of 1 - |cos|, zero-sum rows left out.

    The min runs per *generated* row (torchmetrics' runs per real row: not the same number).
    The value is the float64 one: a float32 product of float32-rounded unit rows finds, per
    generated row, all reference rows whose |cos| is within 2 x ``float32_cosine_error_bound``
    of the row's float32 maximum (so the true maximum is among them), and only those are
    recomputed in float64. Near-copies (d ~ 1e-6) come out as a dense float64 matrix gives them;
    float32 alone errs by ~1e-7 (up to ~5e-7) in each 2048-d cosine, a good part of such a d.
    Memory: about 4 x width bytes per reference row, plus a ``chunk_size`` x n_ref float32 block
    (80 MB at the defaults and 20,000 reference rows).

    A row is dropped when its feature sum, taken in float64, is zero (the competition's rule; for
    non-negative features that means all zeros).

    Args:
        gen_features: (n_gen, n) generated images' features.
        ref_features: (n_ref, n) reference (training) images' features.
        chunk_size: generated rows per float32 block.

    Returns:
        d in [0, 1], a Python float.

    Raises:
        TypeError: non-numeric features. ValueError: not 2-D, different widths, no non-zero row,
            NaN or infinite values, chunk_size < 1.
    """
    distances, indices = nearest_reference(gen_features, ref_features, chunk_size)
    return float(distances[indices >= 0].mean())


def nearest_reference(gen_features, ref_features, chunk_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per generated row, its memorization distance (min over reference rows of 1 - |cos|) and
    the reference row reaching it: what ``memorization_distance`` averages, with the same numerics.

    Args and Raises: as ``memorization_distance``.

    Returns:
        (distances, indices): (n_gen,) float64 and (n_gen,) int64, indices into ``ref_features``'
        rows (the first of equally near ones). A generated row whose feature sum is zero (left
        out of d) has distance NaN and index -1; zero-sum reference rows are never nearest.
    """
    gen = _as_features(gen_features, "gen_features")
    ref = _as_features(ref_features, "ref_features")
    if gen.shape[1] != ref.shape[1]:
        raise ValueError(
            f"gen_features and ref_features must have the same feature width, got {gen.shape[1]} and {ref.shape[1]}"
        )
    _check_chunk_size(chunk_size)
    gen_kept = _nonzero_rows(gen, "gen_features")
    ref_kept = _nonzero_rows(ref, "ref_features")

    unit_ref = _UnitReference.build(ref_kept, "ref_features")
    window = 2.0 * float32_cosine_error_bound(gen.shape[1])

    rows = min(chunk_size, gen_kept.shape[0])
    product = np.empty((rows, ref_kept.shape[0]), dtype=np.float32)
    mask = np.empty((rows, ref_kept.shape[0]), dtype=bool)
    distances = np.empty(gen_kept.shape[0])
    indices = np.empty(gen_kept.shape[0], dtype=np.int64)
    for start in range(0, gen_kept.shape[0], chunk_size):
        stop = start + chunk_size
        gen64, _ = _unit_rows(gen_kept[start:stop], "gen_features")
        distances[start:stop], indices[start:stop] = _chunk_nearest(gen64, unit_ref, window, product, mask)
    if ref_kept.shape[0] != ref.shape[0]:  # back to the caller's reference row numbers
        indices = _kept_rows(ref)[indices]
    if gen_kept.shape[0] == gen.shape[0]:
        return distances, indices
    kept = _kept_rows(gen)
    all_distances = np.full(gen.shape[0], np.nan)
    all_indices = np.full(gen.shape[0], -1, dtype=np.int64)
    all_distances[kept], all_indices[kept] = distances, indices
    return all_distances, all_indices


def _kept_rows(features: np.ndarray) -> np.ndarray:
    """Row numbers of the rows ``_nonzero_rows`` keeps."""
    return np.flatnonzero(features.sum(axis=1, dtype=np.float64) != 0)


# ---------------------------------------------------------------------------------------------
# MiFID


def mifid(
    gen_features,
    ref_features,
    eps: float = DEFAULT_EPS,
    ref_stats: tuple[np.ndarray, np.ndarray] | None = None,
    chunk_size: int = 1024,
) -> MiFIDResult:
    """The competition's MiFID of generated features against reference features.

    Args:
        gen_features: (n_gen, n) features of the generated images (all rows count for FID).
        ref_features: (n_ref, n) features of the reference (training) images.
        eps: memorization threshold; d >= eps is replaced by 1.
        ref_stats: (mu, sigma) of ``ref_features`` from ``feature_statistics``, when cached;
            the distance still needs the features themselves.
        chunk_size: passed to ``memorization_distance``.

    Returns:
        MiFIDResult with fid, distance, distance_thresholded and mifid = fid / (d' + 1e-14).

    Raises:
        ValueError/TypeError: from the functions above, or eps not a positive finite number.
    """
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    _check_chunk_size(chunk_size)
    gen = _as_features(gen_features, "gen_features")
    ref = _as_features(ref_features, "ref_features")
    if gen.shape[1] != ref.shape[1]:
        raise ValueError(
            f"gen_features and ref_features must have the same feature width, got {gen.shape[1]} and {ref.shape[1]}"
        )
    mu_gen, sigma_gen = _statistics(gen, "gen_features")
    if ref_stats is None:  # both sides are ours (finite, symmetric, matching): skip the checks
        fid = _frechet_distance(mu_gen, sigma_gen, *_statistics(ref, "ref_features"))
    else:
        if len(ref_stats) != 2:
            raise ValueError(f"ref_stats must be a (mu, sigma) pair, got {len(ref_stats)} items")
        mu_ref, sigma_ref = ref_stats
        if np.shape(mu_ref) != (ref.shape[1],):
            raise ValueError(
                f"ref_stats mu must have shape ({ref.shape[1]},) to match ref_features, got {np.shape(mu_ref)}"
            )
        fid = frechet_distance(mu_gen, sigma_gen, mu_ref, sigma_ref)
    distance = memorization_distance(gen, ref, chunk_size=chunk_size)
    thresholded = distance if distance < eps else 1.0
    return MiFIDResult(
        fid=fid,
        distance=distance,
        distance_thresholded=thresholded,
        mifid=fid / (thresholded + DIVISION_OFFSET),
        eps=float(eps),
        n_generated=gen.shape[0],
        n_reference=ref.shape[0],
    )
