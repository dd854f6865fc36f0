"""The HTML report: tables laid out like the paper's, figures beside it, settings echoed.

The page is one self-contained HTML file with PNG figures in the same folder, referenced by relative
paths, so it works from file:// and can be moved or zipped as a folder. A small inline script marks
on <body> how many images loaded (data-images-loaded / data-images-total), so a headless browser
can confirm that the page renders completely.
"""

from __future__ import annotations

import datetime
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from radiomicgan.errors import InputError
from radiomicgan.evaluate.combat import COMBAT_SUFFIX
from radiomicgan.evaluate.report.figures import (
    DISPLAY_WINDOW_HU,
    family_means,
    plot_case_study,
    plot_ccc_heatmap,
)
from radiomicgan.run_folder import RunFolder

logger = logging.getLogger(__name__)

TEMPLATE = "template.html"


@dataclass(frozen=True)
class ReportInputs:
    """What the report shows.

    Attributes:
        results: the results.json document.
        mean_ccc: CCC per feature averaged over ranges and repeats; one row per candidate row.
        case_reference: [y, x] reference slice for the case study (HU).
        case_candidates: name -> the same slice of each candidate (HU).
        case_label: which scan and slice the case study shows, e.g. "scan 1, slice 3".
        training_runs: candidate name -> its training run folder.
        notes: the choices the evaluation made, one sentence each.
    """

    results: Mapping[str, Any]
    mean_ccc: pd.DataFrame
    case_reference: NDArray[np.floating]
    case_candidates: Mapping[str, NDArray[np.floating]]
    case_label: str
    training_runs: Mapping[str, Path] = field(default_factory=dict)
    notes: Sequence[str] = ()


def training_figures(run_dir: Path) -> dict[str, Path]:
    """The window schedule (paper Fig. 5a) and the last epoch's CAM (Fig. 5b) of a training run.

    Returns:
        {"window": path, "cam": path} for the figures the run has (a run stopped early may have none).

    Raises:
        InputError: the run folder does not exist.
    """
    found = _find_training_figures(run_dir)
    if len(found) < 2:
        logger.warning(
            "training run %s lacks %s", run_dir, " and ".join(sorted({"window", "cam"} - set(found)))
        )
    return found


def _find_training_figures(run_dir: Path) -> dict[str, Path]:
    # Silent: `training_figures` warns once, when the run is first looked at; the report copies quietly.
    if not run_dir.is_dir():
        raise InputError(run_dir, "training run folder not found")
    folder = RunFolder(run_dir)
    found: dict[str, Path] = {}
    if folder.window_figure.is_file():
        found["window"] = folder.window_figure
    cams = folder.cam_figures()
    if cams:
        found["cam"] = cams[max(cams)]
    return found


def write_report(folder: Path, inputs: ReportInputs) -> Path:
    """Write report.html and its PNG figures into `folder`.

    Returns:
        The report's path.

    Raises:
        InputError: a training run folder does not exist.
    """
    case = plot_case_study(inputs.case_reference, inputs.case_candidates, folder / "case_study.png")
    plot_ccc_heatmap(family_means(inputs.mean_ccc), folder / "ccc_heatmap.png")
    training = _copy_training_figures(folder, inputs.training_runs)
    results = inputs.results
    context = {
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "results": results,
        "ranges": [f"[{lo}, {hi}]" for lo, hi in results["hu_ranges"]],
        "table1": _table1(results),
        "table2": _table2(results),
        "whole": _whole_rows(results),
        "lesions": _lesion_rows(results.get("lesions")),
        "case": {**case, "label": inputs.case_label, "window": DISPLAY_WINDOW_HU},
        "training": training,
        "settings": _settings_rows(results["radiomics_settings"]),
        "provenance": _provenance_rows(results),
        "notes": inputs.notes,
    }
    path = folder / "report.html"
    path.write_text(_template().render(**context), encoding="utf-8")
    return path


def _template() -> jinja2.Template:
    text = resources.files("radiomicgan.evaluate.report").joinpath(TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True)
    return environment.from_string(text)


def _copy_training_figures(folder: Path, runs: Mapping[str, Path]) -> list[dict[str, str]]:
    copied = []
    for index, (name, run_dir) in enumerate(runs.items(), start=1):
        for kind, source in _find_training_figures(Path(run_dir)).items():
            target = f"training_{index}_{kind}.png"  # numbered: candidate names need not be file names
            shutil.copyfile(source, folder / target)
            copied.append({"candidate": name, "kind": kind, "file": target, "source": source.name})
    return copied


def mean_sd_text(cell: Mapping[str, Any], digits: int) -> str:
    """ "mean ± SD" with `digits` decimals, or "n/a" when the cell has no value."""
    if cell.get("mean") is None:
        return "n/a"
    return f"{cell['mean']:.{digits}f} ± {cell['sd']:.{digits}f}"


def interval_text(mean: float | None, interval: Sequence[float] | None) -> str:
    """ "mean (95 % CI lo–hi)" rounded to integers, or "n/a" when there is no value."""
    if mean is None or interval is None:
        return "n/a"
    return f"{mean:.0f} (95 % CI {interval[0]:.0f}–{interval[1]:.0f})"


def _table1(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    keys = [f"{lo},{hi}" for lo, hi in results["hu_ranges"]]
    intervals = results.get("reproducible_ci95")
    flagged = _trained_on_evaluated(results)
    rows = []
    for name, row in results["candidates"].items():
        if intervals is None:
            cells = [mean_sd_text(row["reproducible"][key], 0) for key in keys]
        else:
            cells = [interval_text(row["reproducible"][key]["mean"], intervals[name][key]) for key in keys]
        source = name.removesuffix(COMBAT_SUFFIX)
        rows.append({"name": name, "cells": cells, "trained_on": flagged.get(source, "")})
    return rows


def _trained_on_evaluated(results: Mapping[str, Any]) -> dict[str, str]:
    """candidate -> a short mark when its model was trained on an evaluated image."""
    marks = {}
    for name, run in results.get("training_runs", {}).items():
        seen = run["trained_on_evaluated"]
        if seen:
            where = ", ".join(f"scan {m['scan']} {m['image']} (same {m['match']})" for m in seen)
            marks[name] = f"its model was trained on evaluated data: {where}"
    return marks


def _provenance_rows(results: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for name, run in results.get("training_runs", {}).items():
        p = run["provenance"]
        budget = p.get("budget") or {}
        window = p.get("final_window_hu")
        rows.append(
            {
                "name": name,
                "model_id": p.get("model_id", "n/a (no model file)"),
                "method": p.get("method", "n/a"),
                "prefilter": p.get("prefilter", "n/a"),
                "budget": _budget_text(budget, p.get("epochs_trained")),
                "window": f"[{window[0]}, {window[1]}] HU" if window else "n/a",
                "derived": "; ".join(run["derived_series"]),
                "trained_on": "unknown (no config.yaml)"
                if not run["training_data_checked"]
                else ("yes" if run["trained_on_evaluated"] else "no"),
            }
        )
    return rows


def _budget_text(budget: Mapping[str, Any], epochs_trained: int | None) -> str:
    if not budget:
        return "n/a"
    text = (
        f"{budget.get('epochs')} epochs × {budget.get('steps_per_epoch')} steps × "
        f"{budget.get('batch_size')} crops of {budget.get('crop_px')} px"
    )
    return text + (f"; {epochs_trained} epoch(s) trained" if epochs_trained is not None else "")


def _table2(results: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"name": name, "psnr": mean_sd_text(row["psnr"], 2), "ssim": mean_sd_text(row["ssim"], 4)}
        for name, row in results["candidates"].items()
        if name not in results["combat"]  # ComBat changes features, not images
    ]


def _whole_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    whole = results["whole_image"]
    if whole is None:
        return []
    intervals = whole.get("reproducible_ci95", {})
    return [
        {"name": name, "count": interval_text(count, intervals.get(name)) if intervals else count}
        for name, count in whole["reproducible"].items()
    ]


def _lesion_rows(lesions: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The lesion section's tables: reproducible features per class and per filter, per candidate."""
    if lesions is None:
        return None
    candidates = lesions["candidates"]
    classes = list(dict.fromkeys(c for row in candidates.values() for c in row["by_class"]))
    filters = list(dict.fromkeys(f for row in candidates.values() for f in row["by_filter"]))
    return {
        "threshold": lesions["ccc_threshold"],
        "n_lesions": lesions["n_lesions"],
        "n_cases": lesions["n_cases"],
        "counted": lesions["features_counted"],
        "excluded": len(lesions["excluded"]),
        "classes": classes,
        "filters": filters,
        "by_class": [
            {
                "name": name,
                "total": row["reproducible"],
                "cells": [row["by_class"].get(c, 0) for c in classes],
            }
            for name, row in candidates.items()
        ],
        "by_filter": [
            {"name": name, "cells": [row["by_filter"].get(f, 0) for f in filters]}
            for name, row in candidates.items()
        ],
    }


def _settings_rows(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    def show(value: Any) -> str:
        if isinstance(value, Mapping):
            return "; ".join(f"{k}: {show(v)}" if v not in ({}, None) else str(k) for k, v in value.items())
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return str(value)

    order = ("source", "pyradiomics_version", "n_features", "setting", "imageType", "featureClass")
    return [(key, show(settings[key])) for key in order if key in settings]
