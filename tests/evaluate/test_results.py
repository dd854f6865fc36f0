"""results.json pieces: range keys, rows with unscored ranges, ComBat rows' image quality, strict JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiomicgan.evaluate.agreement import COUNT_COLUMNS
from radiomicgan.evaluate.results import candidate_rows, range_key, write_json
from radiomicgan.evaluate.roi_level import ReproducibilityResult

RANGES = [(-800.0, -300.0), (300.0, 800.0)]


def test_range_keys_show_integers_when_integral() -> None:
    assert range_key((-800.0, -300.0)) == "-800,-300"
    assert range_key((-0.5, 10.25)) == "-0.5,10.25"


def _result() -> ReproducibilityResult:
    rows = []
    for candidate in ("input", "input+ComBat"):
        rows += [(candidate, "[-800, -300]", r, 5, 0, 90, 40 + r) for r in range(2)]
        rows += [(candidate, "[300, 800]", r, 2, 30, 0, pd.NA) for r in range(2)]  # too few ROIs
    counts = pd.DataFrame(rows, columns=COUNT_COLUMNS)
    counts["n_reproducible"] = counts["n_reproducible"].astype("Int64")
    return ReproducibilityResult(["f"], counts, pd.DataFrame(), pd.DataFrame(), 0.85)


def test_rows_keep_their_shape_when_a_range_was_never_scored() -> None:
    quality = {"input": {"psnr": {"mean": 30.0, "sd": 1.0}, "ssim": {"mean": 0.9, "sd": 0.01}}}
    rows = candidate_rows(_result(), quality, RANGES)
    assert list(rows) == ["input", "input+ComBat"]
    assert rows["input"]["reproducible"] == {
        "-800,-300": {"mean": 40.5, "sd": pytest.approx(np.sqrt(0.5))},
        "300,800": {"mean": None, "sd": None},
    }
    assert rows["input+ComBat"]["psnr"] == rows["input"]["psnr"] == {"mean": 30.0, "sd": 1.0}


def test_json_refuses_nan(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json(tmp_path / "r.json", {"x": float("nan")})
    write_json(tmp_path / "r.json", {"x": None})
    assert (tmp_path / "r.json").read_text() == '{\n  "x": null\n}\n'
