"""What neighbouring slices know about a slice's fine detail: 2.5D input's premise, measured (issue 17).

The default model misses the standard kernel's finest scale in soft tissue (the wavelet detail
bands, README: issue 17). A 2.5D generator (the slices above and below as extra input channels)
can restore it only if the neighbours carry it. On a simulated work folder of benchmarks/quality.py
(WORK/sim: all slices, contiguous) this script takes the detail of each slice (the image minus a
Gaussian blur of `--blur` px) in soft tissue (the standard image in [-100, 250] HU, eroded by 3 px,
in the slice and both neighbours) and prints, averaged over slices:

- the correlation of the standard image's detail with the retest's (the structure two scans share
  at that scale), with the next slice's standard image, and with the input of the slice and of the
  next slice;
- the share of the standard image's detail variance (R2) a least-squares fit explains from the
  input's detail at the same pixel, and from it and both neighbours' (the 2.5D gain at that scale).

    .venv/bin/python benchmarks/interslice_detail.py --work /tmp/rg-quality-ir --scenario iterative \
        [--blur 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.io import read_volume

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # the scenarios and the series' names
from benchkit import command_line
from texture_level import highpass

TISSUE_HU = (-100.0, 250.0)  # the soft-tissue range of the quality tables
ERODE_PX = 3  # keeps the detail of organ borders out of the tissue's
MIN_PIXELS = 2000  # slices with less soft tissue (in all three) are skipped

Image = NDArray[np.float64]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", required=True, help="a quality.py work folder (WORK/sim is read)")
    parser.add_argument("--scenario", choices=tuple(quality.SCENARIOS), default="iterative")
    parser.add_argument("--blur", nargs="+", type=float, default=[1.0, 2.0], help="Gaussian SDs, px")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    sim = Path(args.work) / "sim"
    source_kernel, _ = quality.SCENARIOS[args.scenario]
    kernels = {"standard": quality.TARGET, "retest": quality.RETEST, "input": source_kernel}
    series = {name: read_volume(sim / kernel).hu.astype(np.float64) for name, kernel in kernels.items()}
    figures = {f"blur {blur:g} px": slice_statistics(series, blur) for blur in args.blur}
    result = {
        "scenario": args.scenario,
        "work": str(sim),
        "figures": figures,
        "command": command_line(__file__, argv),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def slice_statistics(series: dict[str, Image], blur: float) -> dict[str, float]:
    """The statistics of the module's docstring, each a mean over the slices with enough tissue."""
    standard = series["standard"]
    detail = {name: highpass(volume, blur) for name, volume in series.items()}
    rows: dict[str, list[float]] = {}
    for k in range(1, standard.shape[0] - 1):
        mask = tissue_in_all(standard[k - 1 : k + 2])
        if mask.sum() < MIN_PIXELS:
            continue
        target = detail["standard"][k][mask]
        here = detail["input"][k][mask]
        neighbours = [detail["input"][k - 1][mask], detail["input"][k + 1][mask]]
        for name, value in (
            ("standard ~ retest", correlation(target, detail["retest"][k][mask])),
            ("standard ~ next slice's standard", correlation(target, detail["standard"][k + 1][mask])),
            ("standard ~ input", correlation(target, here)),
            ("standard ~ next slice's input", correlation(target, neighbours[1])),
            ("R2 from the input", explained(target, [here])),
            ("R2 from the input and both neighbours", explained(target, [here, *neighbours])),
        ):
            rows.setdefault(name, []).append(value)
    return {name: round(float(np.mean(values)), 4) for name, values in rows.items()} | {
        "slices": len(next(iter(rows.values()), []))
    }


def tissue_in_all(slices: Image) -> NDArray[np.bool_]:
    """Pixels in soft tissue, away from its borders, in each of the three slices."""
    inside = (slices > TISSUE_HU[0]) & (slices < TISSUE_HU[1])
    eroded = [ndimage.binary_erosion(one, iterations=ERODE_PX) for one in inside]
    return np.asarray(np.logical_and.reduce(eroded), dtype=bool)


def correlation(a: Image, b: Image) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def explained(target: Image, predictors: list[Image]) -> float:
    """R² of the least-squares fit of `target` on `predictors` and a constant."""
    design = np.stack([*predictors, np.ones_like(target)], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coefficients
    return float(1.0 - residual.var() / target.var())


if __name__ == "__main__":
    sys.exit(main())
