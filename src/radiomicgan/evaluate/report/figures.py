"""The report's figures: the case-study panel (paper Fig. 3) and the CCC heat map per feature family.

Figures are drawn on `matplotlib.figure.Figure` objects, not through pyplot: no display is needed and
importing the evaluation never switches the backend of a notebook that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.evaluate.features import split_feature_name
from radiomicgan.evaluate.rois import body_mask, valid_corners

DISPLAY_WINDOW_HU = (-800.0, 800.0)  # the paper's Fig. 3 display window
CLASS_ORDER = ("shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def zoom_box(slice_hu: NDArray[np.floating], side_px: int) -> tuple[int, int]:
    """Top-left corner of the square inside the body with the most structure to magnify.

    The paper magnifies a tumour; without annotations, the box (90 % in the body) whose reference HU,
    clipped to the display window, varies most is the most informative stand-in. It is chosen from
    the reference alone, so no candidate is favoured.
    """
    clipped = np.clip(np.asarray(slice_hu, dtype=np.float64), *DISPLAY_WINDOW_HU)
    allowed = valid_corners(body_mask(slice_hu), side_px, 0.9)
    if not allowed.any():
        rows, cols = clipped.shape
        return max(0, (rows - side_px) // 2), max(0, (cols - side_px) // 2)
    mean = ndimage.uniform_filter(clipped, side_px, mode="constant")
    mean_sq = ndimage.uniform_filter(clipped**2, side_px, mode="constant")
    variance = mean_sq - mean**2  # centred at each pixel; shift to top-left corners below
    half = side_px // 2
    corners = variance[half : half + allowed.shape[0], half : half + allowed.shape[1]]
    y0, x0 = np.unravel_index(int(np.argmax(np.where(allowed, corners, -np.inf))), allowed.shape)
    return int(y0), int(x0)


def plot_case_study(
    reference: NDArray[np.floating], candidates: Mapping[str, NDArray[np.floating]], path: Path
) -> dict[str, object]:
    """One slice of the reference and every candidate, a magnified region, and candidate − reference.

    Args:
        reference: [y, x] reference slice in HU. candidates: name -> [y, x] slice in HU.
        path: the PNG to write.

    Returns:
        {"box": (y0, x0, side), "difference_limit_hu": L}: the magnified box and the ± range of the
        difference maps (the 99th percentile of |difference| over all candidates, at least 10 HU).
    """
    side = max(16, min(reference.shape) // 4)
    y0, x0 = zoom_box(reference, side)
    box = (slice(y0, y0 + side), slice(x0, x0 + side))
    images = {"reference": reference, **candidates}
    differences = {name: np.asarray(v, np.float64) - reference for name, v in candidates.items()}
    pooled = np.concatenate([np.abs(d).ravel() for d in differences.values()])
    limit = float(max(10.0, np.ceil(np.percentile(pooled, 99))))
    fig = Figure(figsize=(2.2 * len(images) + 1.0, 7.0), layout="constrained")
    axes = fig.subplots(3, len(images), squeeze=False)
    for column, (name, image) in enumerate(images.items()):
        top, middle, bottom = axes[:, column]
        top.imshow(image, cmap="gray", vmin=DISPLAY_WINDOW_HU[0], vmax=DISPLAY_WINDOW_HU[1])
        top.add_patch(
            Rectangle((x0 - 0.5, y0 - 0.5), side, side, fill=False, edgecolor="lime", linewidth=1.2)
        )
        top.set_title(name, fontsize=9)
        middle.imshow(image[box], cmap="gray", vmin=DISPLAY_WINDOW_HU[0], vmax=DISPLAY_WINDOW_HU[1])
        if name in differences:
            shown = bottom.imshow(differences[name], cmap="RdBu_r", vmin=-limit, vmax=limit)
        for ax in (top, middle, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[2, 0].axis("off")
    axes[2, 0].text(0.5, 0.5, "difference maps:\ncandidate − reference", ha="center", va="center", fontsize=8)
    axes[1, 0].set_ylabel("magnified", fontsize=8)
    if differences:
        fig.colorbar(shown, ax=axes[2, :].tolist(), shrink=0.9, label="candidate − reference (HU)")
    fig.suptitle(f"display window [{DISPLAY_WINDOW_HU[0]:g}, {DISPLAY_WINDOW_HU[1]:g}] HU", fontsize=9)
    fig.savefig(path, dpi=100)
    return {"box": (y0, x0, side), "difference_limit_hu": limit}


def family_means(mean_ccc: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Mean CCC per feature class (rows) × image filter (columns), one table per candidate.

    Args:
        mean_ccc: one row per candidate, one column per feature (CCC already averaged over the
            HU ranges and repeats); undefined CCCs (NaN) are left out of the means.
    """
    parts = [split_feature_name(name) for name in mean_ccc.columns]
    filters = list(dict.fromkeys(image for image, _, _ in parts))
    classes = [c for c in CLASS_ORDER if any(cls == c for _, cls, _ in parts)]
    classes += sorted({cls for _, cls, _ in parts} - set(classes))
    index = pd.MultiIndex.from_tuples([(cls, image) for image, cls, _ in parts], names=["class", "filter"])
    tables = {}
    for candidate, row in mean_ccc.iterrows():
        grouped = pd.Series(row.to_numpy(dtype=np.float64), index=index).groupby(level=[0, 1]).mean()
        tables[str(candidate)] = grouped.unstack("filter").reindex(index=classes, columns=filters)
    return tables


def filter_label(image_type: str) -> str:
    """A short axis label for a PyRadiomics image type, e.g. "log-sigma-1-0-mm-3D" -> "LoG 1.0 mm"."""
    match = re.fullmatch(r"log-sigma-(\d+)-(\d+)-mm-3D", image_type)
    if match:
        return f"LoG {match.group(1)}.{match.group(2)} mm"
    return image_type.removesuffix("-2D")


def plot_ccc_heatmap(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    """A heat map of mean CCC (class × filter) per candidate, stacked vertically, with values."""
    fig = Figure(figsize=(11, 2.9 * len(tables)))
    axes = fig.subplots(len(tables), 1, squeeze=False)
    for ax, (candidate, table) in zip(axes[:, 0], tables.items(), strict=True):
        values = table.to_numpy(dtype=np.float64)
        shown = ax.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6)
        ax.set_yticks(range(len(table.index)), list(table.index), fontsize=7)
        ax.set_xticks(range(len(table.columns)), [filter_label(c) for c in table.columns], fontsize=7)
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_title(f"{candidate}: mean CCC per feature class and image filter", fontsize=9)
        fig.colorbar(shown, ax=ax, fraction=0.025, label="CCC")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
