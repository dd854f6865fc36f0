"""What clipping the output to what CT stores, instead of to the input's own HU range, changes (issue 15).

`harmonize` used to clip its output to the input series' min and max; a sharper kernel's overshoot at
edges beyond the smoother input's extremes could then never be produced. It now clips to [-1024, 3071].
Inside the window the old output is exactly the new one clipped to the input's range (both round
first, and the pasted-back pixels lie in that range), so one harmonization gives both. Scored on the
lung quality benchmark's test slices (benchmarks/quality.py's --work folder and its runs) by PSNR/SSIM
on [-1024, 1000] HU and, on the same ROIs for both, the reproducible-feature counts.

    .venv/bin/python benchmarks/clipping.py --work /tmp/rg-q --runs prefilter wiener \
        --json benchmarks/results/clipping_lung1.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from benchkit import command_line, cpu_model, emit
from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate import (
    Extraction,
    ReproducibilityProtocol,
    Scan,
    image_quality,
    roi_reproducibility,
)
from radiomicgan.evaluate.protocol import range_label
from radiomicgan.evaluate.roi_level import shared_seed
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import read_volume
from radiomicgan.spacing import pixel_spacing


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    split = Path(args.work) / "split" / "test"
    source, reference = read_volume(split / "smooth"), read_volume(split / "sharp")
    low, high = float(source.hu.min()), float(source.hu.max())
    candidates: dict[str, np.ndarray] = {}
    changed: dict[str, dict[str, Any]] = {}
    for run in args.runs:
        harmonizer = Harmonizer.load(
            Path(args.work) / "runs" / run, HarmonizeConfig(device="cpu", batch_size=2)
        )
        new = harmonizer(source).hu
        old = np.clip(new, low, high)
        candidates[f"{run}, clipped to the input's range (before)"] = old
        candidates[f"{run}, clipped to [-1024, 3071] (now)"] = new
        differs = new != old
        changed[run] = {
            "pixels_changed_fraction": float(differs.mean()),
            "max_change_hu": float(np.abs(new - old).max()),
            "output_range_hu": [float(new.min()), float(new.max())],
        }
    scan = Scan.from_volumes(reference.hu, candidates, pixel_spacing(reference.spacing_zyx_mm))
    protocol = ReproducibilityProtocol.from_config(EvaluationConfig(n_rois=args.rois, repeats=args.repeats))
    # shared_seed: the ROIs benchmarks/results/clipping_lung1.json was measured on
    counts = roi_reproducibility([scan], protocol, Extraction(jobs=args.jobs), seed_of=shared_seed).summary()
    quality = image_quality([scan])
    ranges = [range_label(r) for r in EvaluationConfig().hu_ranges]
    figures: dict[str, Any] = {
        "command": command_line(__file__, argv),
        "machine": cpu_model(),
        "input_range_hu": [low, high],
        "reference_range_hu": [float(reference.hu.min()), float(reference.hu.max())],
        "changed": changed,
        "candidates": {
            name: {"reproducible": {r: counts[name][r] for r in ranges}, **quality[name]}
            for name in candidates
        },
    }
    emit(figures, Path(args.json) if args.json else None)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default="/tmp/rg-q", help="benchmarks/quality.py's --work folder")
    parser.add_argument("--runs", nargs="+", default=["prefilter", "wiener"], help="runs under WORK/runs")
    parser.add_argument("--rois", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--json", help="write the figures here too")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
