"""The report's figures: the magnified box, the case-study panel and the CCC heat map's families."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg

from radiomicgan.evaluate.report.figures import (
    family_means,
    filter_label,
    plot_case_study,
    plot_ccc_heatmap,
    zoom_box,
)

Phantom = Callable[..., np.ndarray]


def test_zoom_box_finds_the_structure_inside_the_body() -> None:
    image = np.full((96, 96), -1000.0)
    image[10:86, 10:86] = 40.0  # the body
    image[60:70, 20:30] = 700.0  # a small bright nodule: the only structure
    y0, x0 = zoom_box(image, 24)
    assert y0 <= 60 and y0 + 24 >= 70 and x0 <= 20 and x0 + 24 >= 30
    assert y0 >= 10 and y0 + 24 <= 86  # inside the body


def test_case_study_panel(make_chest: Phantom, tmp_path: Path) -> None:
    reference = make_chest(slices=1, size=96)[0].astype(np.float64)
    candidates = {"shifted": reference + 30.0, "same": reference.copy()}
    info = plot_case_study(reference, candidates, tmp_path / "case.png")
    assert info["difference_limit_hu"] == 30.0
    y0, x0, side = info["box"]  # type: ignore[misc]
    assert side == 24 and 0 <= y0 <= 96 - side and 0 <= x0 <= 96 - side
    pixels = mpimg.imread(tmp_path / "case.png")
    assert pixels.shape[1] > pixels.shape[0] * 0.8  # three columns side by side


def test_family_means_group_by_class_and_filter(tmp_path: Path) -> None:
    names = [
        "original_shape2D_Elongation",
        "original_firstorder_Mean",
        "original_firstorder_Median",
        "wavelet-LH_firstorder_Mean",
        "wavelet-LH_glcm_Contrast",
    ]
    mean_ccc = pd.DataFrame([[1.0, 0.2, 0.4, np.nan, 0.9]], index=["input"], columns=names)
    (table,) = family_means(mean_ccc).values()
    assert list(table.index) == ["shape2D", "firstorder", "glcm"]
    assert list(table.columns) == ["original", "wavelet-LH"]
    assert table.loc["firstorder", "original"] == pytest.approx(0.3)
    assert np.isnan(table.loc["firstorder", "wavelet-LH"]) and np.isnan(table.loc["shape2D", "wavelet-LH"])
    plot_ccc_heatmap(family_means(mean_ccc), tmp_path / "heat.png")
    assert mpimg.imread(tmp_path / "heat.png").shape[0] > 100


def test_filter_labels() -> None:
    assert filter_label("log-sigma-1-0-mm-3D") == "LoG 1.0 mm"
    assert filter_label("lbp-2D") == "lbp"
    assert filter_label("wavelet-HH") == "wavelet-HH"
