"""How harmonization quality changes when a series' pixels differ in size from the model's training pixels.

Issue 15's geometry measurement, on the lung quality benchmark (benchmarks/quality.py's --work folder:
its simulated split and its trained runs). A kernel's response is fixed in cycles per millimetre; a
model learns it in cycles per pixel. To see the same scanner kernels at another pixel size, the test
pair (smooth input, sharp reference) is resampled in plane, both alike, from the model's spacing s to
s x ratio (cubic B-spline, anti-aliased when coarser; the field of view is kept). The physical
response of both kernels is unchanged by that up to the new grid's Nyquist frequency; below ratio 1
the resampled images lack the detail a finer reconstruction would have, so finer-pixel figures are
optimistic for the input as much as for the model.

Each model then harmonizes the resampled input as it is (`force`) and with `resample` (to its
spacing and back); scored by PSNR/SSIM on [-1024, 1000] HU against the resampled reference. "gain" is
the model's PSNR minus the input's, "kept" the gain as a fraction of the gain at ratio 1.

    .venv/bin/python benchmarks/spacing.py --work /tmp/rg-q --runs prefilter wiener \
        --json benchmarks/results/spacing_lung1.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchkit import command_line, cpu_model, emit
from radiomicgan.config import TrainConfig, build
from radiomicgan.evaluate import Scan, image_quality
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import read_volume
from radiomicgan.spacing import pixel_spacing, resample_slices
from radiomicgan.train import train

RATIOS = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    work = Path(args.work)
    split = work / "split"
    if "wiener" in args.runs:
        _fit_wiener(split, work / "runs" / "wiener")
    source = read_volume(split / "test" / "smooth")
    reference = read_volume(split / "test" / "sharp")
    picked = list(range(0, source.shape[0], args.every))
    native = pixel_spacing(source.spacing_zyx_mm)
    rows = []
    start = time.perf_counter()
    for ratio in args.ratios:
        spacing = (native[0] * ratio, native[1] * ratio)
        moved_input = resample_slices(source.hu[picked], native, spacing)
        moved_reference = resample_slices(reference.hu[picked], native, spacing)
        rows.append(_score_ratio(ratio, spacing, moved_input, moved_reference, work, args.runs))
        print(f"ratio {ratio}: done after {time.perf_counter() - start:.0f} s", flush=True)
    figures: dict[str, Any] = {
        "command": command_line(__file__, argv),
        "machine": cpu_model(),
        "model_spacing_mm": list(native),
        "test_slices": picked,
        "rows": rows,
        "kept": _kept(rows, args.runs),
    }
    emit(figures, Path(args.json) if args.json else None)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default="/tmp/rg-q", help="benchmarks/quality.py's --work folder")
    parser.add_argument("--runs", nargs="+", default=["prefilter", "wiener"], help="runs under WORK/runs")
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS))
    parser.add_argument("--every", type=int, default=2, help="score every k-th test slice")
    parser.add_argument("--json", help="write the figures here too")
    return parser.parse_args(argv)


def _fit_wiener(split: Path, run_dir: Path) -> None:
    if (run_dir / "model.safetensors").is_file():
        return
    config = build(
        TrainConfig,
        {
            "method": "wiener",
            "source": [str(split / "train" / "smooth")],
            "target": [str(split / "train" / "sharp")],
            "out": str(run_dir),
            "device": "cpu",
        },
    )
    train(config, progress=False)


def _score_ratio(
    ratio: float,
    spacing: tuple[float, float],
    moved_input: np.ndarray,
    moved_reference: np.ndarray,
    work: Path,
    runs: list[str],
) -> dict[str, Any]:
    candidates = {"input": moved_input}
    for run in runs:
        for resample in (False, True) if ratio != 1.0 else (False,):
            harmonizer = Harmonizer.load(
                work / "runs" / run,
                HarmonizeConfig(device="cpu", batch_size=2, engine="torch", force=True, resample=resample),
            )
            name = f"{run} resampled" if resample else run
            candidates[name] = harmonizer.harmonize_slices(moved_input, spacing)
    quality = image_quality([Scan.from_volumes(moved_reference, candidates, spacing)])
    return {"ratio": ratio, "spacing_mm": round(spacing[0], 4), **quality}


def _kept(rows: list[dict[str, Any]], runs: list[str]) -> dict[str, dict[str, float]]:
    """Each model's PSNR gain over the input at each ratio, as a fraction of its gain at ratio 1."""
    by_ratio = {row["ratio"]: row for row in rows}
    if 1.0 not in by_ratio:
        return {}
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        gains = {}
        for run in runs:
            for name in (run, f"{run} resampled"):
                if name in row:
                    gain = row[name]["psnr"]["mean"] - row["input"]["psnr"]["mean"]
                    at_one = by_ratio[1.0][run]["psnr"]["mean"] - by_ratio[1.0]["input"]["psnr"]["mean"]
                    gains[name] = round(gain / at_one, 3)
        out[str(row["ratio"])] = gains
    return out


if __name__ == "__main__":
    raise SystemExit(main())
