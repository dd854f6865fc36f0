"""How much texture a harmonizer gives, against the standard kernel's own: noise level and error in HU.

A model that synthesizes texture (an unpaired GAN) cannot know the standard reconstruction's noise
realization, so its error against it is at best a repeat scan's, whatever its PSNR. This script tells
"the right texture, another realization" apart from "too much texture": on a few test slices of a
benchmark work folder (benchmarks/quality.py or unpaired.py) it prints, for the input, the standard
series, the retest and each run given, the SD of the high-pass residual (the image minus a Gaussian
blur of 2 px) in soft tissue (where the standard image's 9 px local mean lies in [-100, 100] HU), and
the RMS difference from the standard image over the whole slice.

    .venv/bin/python benchmarks/texture_level.py --work /tmp/rg-unpaired-ir --scenario iterative \
        --runs cut-seed-0 cut-seed-1 cut-seed-2 [--slices 3 7 11] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import read_volume

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # the scenarios and the series' names
from benchkit import command_line

BLUR_PX = 2.0  # the high-pass residual: what a 2 px Gaussian blur removes (noise and fine texture)
TISSUE_HU = (-100.0, 100.0)  # soft tissue, by the standard image's local mean
LOCAL_MEAN_PX = 9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", required=True, help="a quality.py or unpaired.py work folder")
    parser.add_argument("--scenario", choices=tuple(quality.SCENARIOS), default="fbp")
    parser.add_argument("--runs", nargs="*", default=[], help="run folders under WORK/runs")
    parser.add_argument("--slices", nargs="+", type=int, default=[3, 7, 11], help="test slices used")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    work = Path(args.work)
    source_kernel, _ = quality.SCENARIOS[args.scenario]
    test = work / "split" / "test"
    source = read_volume(test / source_kernel).subset(args.slices)
    standard = read_volume(test / quality.TARGET).subset(args.slices).hu
    images = {"input": source.hu, "standard": standard}
    images["retest"] = read_volume(test / quality.RETEST).subset(args.slices).hu
    for run in args.runs:
        harmonizer = Harmonizer.load(work / "runs" / run, HarmonizeConfig(device="cpu", batch_size=1))
        images[run] = harmonizer(source, progress=False).hu
    tissue = soft_tissue(standard)
    rows = {
        name: {
            "highpass_sd_hu": round(float(highpass(image)[tissue].std()), 1),
            "rms_difference_hu": round(float(np.sqrt(np.mean((image - standard) ** 2))), 1),
        }
        for name, image in images.items()
    }
    report = {
        "command": command_line(__file__, argv),
        "scenario": args.scenario,
        "slices": args.slices,
        **rows,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def highpass(hu: NDArray[np.floating], blur_px: float = BLUR_PX) -> NDArray[np.floating]:
    """Each slice less its Gaussian blur of SD `blur_px`: its noise and finest texture."""
    blurred: NDArray[np.floating] = ndimage.gaussian_filter(hu, (0, blur_px, blur_px))
    return hu - blurred


def soft_tissue(standard: NDArray[np.floating]) -> NDArray[np.bool_]:
    local_mean: NDArray[np.floating] = ndimage.uniform_filter(standard, (1, LOCAL_MEAN_PX, LOCAL_MEAN_PX))
    inside: NDArray[np.bool_] = (local_mean > TISSUE_HU[0]) & (local_mean < TISSUE_HU[1])
    return inside


if __name__ == "__main__":
    raise SystemExit(main())
