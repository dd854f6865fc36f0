"""Whole-image (DICOM) level: one sample per slice, body mask as ROI; slices pooled across scans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.protocol import Extraction, ReproducibilityProtocol
from radiomicgan.evaluate.settings import RadiomicsSettings
from radiomicgan.evaluate.whole_image import whole_image_reproducibility

Phantom = Callable[..., np.ndarray]
MakeScan = Callable[..., Scan]
PROTOCOL = ReproducibilityProtocol.from_config(EvaluationConfig())


def test_whole_slices_as_samples(make_chest: Phantom, light_settings: RadiomicsSettings) -> None:
    reference = make_chest(slices=5, size=64, seed=3)
    noisy = reference + np.random.default_rng(1).normal(0.0, 200.0, reference.shape).astype(np.float32)
    scan = Scan.from_volumes(reference, {"same": reference.copy(), "noisy": noisy}, (0.7, 0.7))
    result = whole_image_reproducibility([scan], PROTOCOL, Extraction(settings=light_settings))
    assert result.slices == [0, 1, 2, 3, 4]
    assert len(result.values) == 5 * 3 and list(result.ccc.index) == ["same", "noisy"]
    shape = [c for c in result.ccc.columns if "_shape2D_" in c]
    # The same masks: agreement by construction (NaN where a shape feature is constant across slices).
    shape_ccc = result.ccc.loc["noisy", shape].dropna()
    assert len(shape_ccc) > 0 and (shape_ccc == 1.0).all()
    defined = int(np.isfinite(result.ccc.loc["same"].drop(labels=shape)).sum())
    assert defined > 50 and result.counts["same"] == defined  # shape features are not counted
    assert result.counts["noisy"] < result.counts["same"]
    areas = result.values.groupby("slice")["original_shape2D_PixelSurface"].nunique()
    assert (areas == 1).all()  # the reference's body mask for every image


def test_needs_three_slices_with_a_body(make_chest: Phantom, light_settings: RadiomicsSettings) -> None:
    reference = make_chest(slices=3, size=48)
    reference[2] = -1000.0  # an empty slice has no body
    with pytest.raises(ValueError, match="3 slices"):
        scan = Scan.from_volumes(reference, {"same": reference}, (1.0, 1.0))
        whole_image_reproducibility([scan], PROTOCOL, Extraction(settings=light_settings))


def test_whole_image_pools_slices_across_scans(
    make_scan: MakeScan, light_settings: RadiomicsSettings
) -> None:
    scans = [make_scan(2, seed=3), make_scan(2, seed=4)]
    result = whole_image_reproducibility(scans, PROTOCOL, Extraction(settings=light_settings))
    assert result.slices == [1, 2, 1, 2]  # indices within each scan's series
    assert list(result.values.columns[:4]) == ["scan", "candidate", "slice", "n_pixels"]
    assert len(result.values) == 4 * 3 and list(result.ccc.index) == ["same", "noisy"]
    assert result.counts["noisy"] < result.counts["same"]
    capped = whole_image_reproducibility(
        scans, replace(PROTOCOL, whole_image_slices=3), Extraction(settings=light_settings)
    )
    assert len(capped.slices) == 3
    with pytest.raises(ValueError, match="3 slices"):
        whole_image_reproducibility(scans[:1], PROTOCOL, Extraction(settings=light_settings))
