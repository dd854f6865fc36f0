"""PyRadiomics in 2-D: the full feature list on a real ROI, determinism, sensitivity, batches."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.evaluate.features import (
    FeatureTask,
    describe_settings,
    extract_features,
    extract_many,
    feature_names,
    split_feature_name,
)
from radiomicgan.evaluate.settings import RadiomicsSettings

SPACING = (0.7, 0.7)


def _textured_roi(seed: int, smoothing: float) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (80, 80)), smoothing)
    image = (image / image.std() * 120.0 + 30.0).astype(np.float32)
    mask = np.zeros((80, 80), dtype=bool)
    mask[8:72, 8:72] = image[8:72, 8:72] > -60.0  # an irregular range-style mask inside a 64 px box
    return image, mask


def test_full_feature_set_on_a_real_roi() -> None:
    image, mask = _textured_roi(0, 1.5)
    values = extract_features(image, mask, SPACING)
    names = feature_names()
    assert list(values) == names
    assert len(names) >= 1401  # the paper's count (Sec. 3.1)
    assert len(names) == 1497  # 9 shape2D + 93 x 16 images with the shipped settings
    assert all(np.isfinite(v) for v in values.values())
    assert not any(n.startswith("diagnostics") for n in names)
    images = Counter(split_feature_name(n)[0] for n in names)
    assert len(images) == 16 and images["original"] == 93 + 9
    assert {"wavelet-LH", "wavelet-LL", "log-sigma-5-0-mm-3D", "lbp-2D", "gradient", "exponential"} <= set(
        images
    )
    classes = Counter(split_feature_name(n)[1] for n in names)
    assert classes == {
        "firstorder": 288,
        "shape2D": 9,
        "glcm": 384,
        "glrlm": 256,
        "glszm": 256,
        "gldm": 224,
        "ngtdm": 80,
    }
    assert describe_settings()["n_features"] == 1497


def test_identical_images_give_identical_features_and_texture_matters() -> None:
    image, mask = _textured_roi(1, 1.0)
    first = extract_features(image, mask, SPACING)
    assert extract_features(image.copy(), mask.copy(), SPACING) == first
    coarse, _ = _textured_roi(1, 3.0)  # same mask, coarser texture
    other = extract_features(coarse, mask, SPACING)
    assert (
        other["original_shape2D_PixelSurface"] == first["original_shape2D_PixelSurface"]
    )  # shape: mask only
    for name in (
        "original_glcm_Contrast",
        "original_glrlm_RunLengthNonUniformity",
        "log-sigma-1-0-mm-3D_ngtdm_Busyness",
    ):
        assert other[name] != pytest.approx(first[name], rel=0.05), name


def test_shipped_settings_keep_soft_tissue_features_informative() -> None:
    # binWidth 25 on the square/exponential maps put a whole soft-tissue ROI in one bin (101 constant
    # features); the shipped per-filter bin counts leave almost none.
    table = []
    for seed in range(4):
        image, _ = _textured_roi(seed, 1.0 + seed)
        image = image * 0.5 + 40.0  # soft tissue, about [-200, 280] HU
        image[:, :4] = -1000.0  # air in the filter context, as next to a lung: sets the maps' scale
        mask = np.zeros(image.shape, dtype=bool)
        mask[8:72, 8:72] = (image[8:72, 8:72] >= -100) & (image[8:72, 8:72] <= 250)
        table.append(list(extract_features(image, mask, SPACING).values()))
    spread = np.ptp(np.array(table), axis=0)
    constant = [name for name, width in zip(feature_names(), spread, strict=True) if width == 0]
    # left: LBP's intrinsic constants, and the diameter of masks that reach the box's corners
    assert len(constant) <= 10, constant
    assert all(name.startswith(("lbp-2D", "original_shape2D")) for name in constant), constant


def test_bad_inputs_are_refused(light_settings: RadiomicsSettings) -> None:
    image, mask = _textured_roi(2, 1.0)
    row = np.zeros_like(mask)
    row[10, 5:40] = True
    with pytest.raises(ValueError, match="two rows"):
        extract_features(image, row, SPACING, light_settings)
    with pytest.raises(ValueError, match="shape"):
        extract_features(image, mask[:-1], SPACING, light_settings)
    with pytest.raises(ValueError, match="LoG"):
        extract_features(image[:5, :5], np.ones((5, 5), dtype=bool), SPACING)  # sigma 5 mm needs 9 px


def test_pyradiomics_is_quiet_without_touching_root_logger() -> None:
    script = """
import logging, numpy as np
root = logging.getLogger()
before = (root.level, list(root.handlers))
from radiomicgan.evaluate.features import extract_features
image = np.random.default_rng(0).normal(0, 100, (40, 40)).astype(np.float32)
mask = np.zeros((40, 40), dtype=bool)
mask[10:30, 10:30] = True
extract_features(image, mask, (0.7, 0.7))
assert (root.level, list(root.handlers)) == before
assert logging.getLogger("radiomics").level == logging.ERROR
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no PyRadiomics or scikit-image chatter


def test_batch_matches_single_extraction_and_workers(light_settings: RadiomicsSettings) -> None:
    rois = [_textured_roi(seed, 1.5) for seed in range(3)]
    tasks = [FeatureTask(image, mask, SPACING) for image, mask in rois]
    tasks.append(tasks[0])  # a duplicate is extracted once and returned twice
    table = extract_many(tasks, jobs=1, settings=light_settings)
    assert list(table.columns) == feature_names(light_settings) and table.shape[0] == 4
    single = extract_features(rois[1][0], rois[1][1], SPACING, light_settings)
    np.testing.assert_array_equal(table.iloc[1].to_numpy(), np.fromiter(single.values(), dtype=np.float64))
    np.testing.assert_array_equal(table.iloc[3].to_numpy(), table.iloc[0].to_numpy())
    in_workers = extract_many(tasks, jobs=2, progress=True, settings=light_settings)
    np.testing.assert_array_equal(in_workers.to_numpy(), table.to_numpy())


def test_split_feature_name() -> None:
    assert split_feature_name("wavelet-LH_glcm_Contrast") == ("wavelet-LH", "glcm", "Contrast")
    assert split_feature_name("log-sigma-1-0-mm-3D_firstorder_10Percentile")[0] == "log-sigma-1-0-mm-3D"
