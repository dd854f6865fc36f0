"""Image quality against the standard image: PSNR and SSIM per slice (paper Table 2).

Both are computed per slice on images clipped to [-1024, 1000] HU with data range 2024 HU, the range the
paper standardizes in (Sec. 3.1), and summarized as mean ± SD over slices.

Identical slices have an infinite PSNR. JSON has no infinity and a mean over slices would become inf, so
PSNR is capped at 100 dB: that is an RMSE of 0.02 HU at a 2024 HU range, far below the 1 HU resolution of
CT values, so any two slices that reach the cap are the same image for every practical purpose.

`image_quality` pools the slices of every scan, as the other levels pool their samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.metrics import mean_squared_error, structural_similarity

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.inputs import Scan, check_scans

PSNR_CAP_DB = 100.0
QUALITY_RANGE_HU = EvaluationConfig.quality_range_hu


def _clipped_pair(
    reference: NDArray[np.floating], candidate: NDArray[np.floating], hu_range: tuple[float, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.ndim != 3 or ref.shape != cand.shape:
        raise ValueError(f"volumes must be [z, y, x] of one shape, got {ref.shape} and {cand.shape}")
    lo, hi = hu_range
    return np.clip(ref, lo, hi), np.clip(cand, lo, hi), float(hi - lo)


def psnr_slices(
    reference: NDArray[np.floating],
    candidate: NDArray[np.floating],
    hu_range: tuple[float, float] = QUALITY_RANGE_HU,
) -> NDArray[np.float64]:
    """PSNR (dB) of each slice of `candidate` against `reference`, capped at `PSNR_CAP_DB`.

    Raises:
        ValueError: the volumes are not [z, y, x] of one shape.
    """
    ref, cand, data_range = _clipped_pair(reference, candidate, hu_range)
    floor = data_range**2 * 10.0 ** (-PSNR_CAP_DB / 10.0)  # the MSE at which PSNR reaches the cap
    mse = np.array([mean_squared_error(r, c) for r, c in zip(ref, cand, strict=True)])
    return np.asarray(10.0 * np.log10(data_range**2 / np.maximum(mse, floor)), dtype=np.float64)


def ssim_slices(
    reference: NDArray[np.floating],
    candidate: NDArray[np.floating],
    hu_range: tuple[float, float] = QUALITY_RANGE_HU,
) -> NDArray[np.float64]:
    """SSIM of each slice (scikit-image defaults: 7×7 uniform window), 1 for identical slices.

    Raises:
        ValueError: the volumes are not [z, y, x] of one shape, or slices are smaller than 7×7.
    """
    ref, cand, data_range = _clipped_pair(reference, candidate, hu_range)
    ssim = [
        structural_similarity(r, c, data_range=data_range)  # type: ignore[no-untyped-call]
        for r, c in zip(ref, cand, strict=True)
    ]
    return np.array(ssim, dtype=np.float64)


def mean_sd(values: ArrayLike) -> dict[str, float]:
    """{"mean", "sd"} of a sample; SD with n-1 in the denominator, 0 for a single value.

    Raises:
        ValueError: the sample is empty.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError("mean ± SD of an empty sample")
    sd = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return {"mean": float(array.mean()), "sd": sd}


def image_quality(
    scans: Sequence[Scan], hu_range: tuple[float, float] = QUALITY_RANGE_HU
) -> dict[str, dict[str, dict[str, float]]]:
    """PSNR and SSIM of every candidate against the reference, mean ± SD over the pooled slices.

    Args:
        scans: the scans (one or more), each holding the same candidates.
        hu_range: the clip range, its width the data range.

    Returns:
        {candidate: {"psnr": {"mean", "sd"}, "ssim": {"mean", "sd"}}}, PSNR in dB.

    Raises:
        ValueError: no scan, or scans holding different candidates.
    """
    check_scans(scans)
    out = {}
    for name in scans[0].candidates:
        psnr = np.concatenate([psnr_slices(s.reference, s.candidates[name], hu_range) for s in scans])
        ssim = np.concatenate([ssim_slices(s.reference, s.candidates[name], hu_range) for s in scans])
        out[name] = {"psnr": mean_sd(psnr), "ssim": mean_sd(ssim)}
    return out
