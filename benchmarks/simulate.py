"""Kernel simulator throughput and noise: seconds per 512 x 512 slice, and each kernel's noise.

One slice costs one forward projection, one or two Poisson draws and one FBP back projection per
output (every kernel plus the retest). `seconds_per_slice_512` is the median over `--repeats`
slices on ONE core (torch limited to one thread, as in the worker processes), after a warm-up
slice that builds the projector. `seconds_per_slice_by_preset` times each of `PRESETS` alone on
the same slices: an iterative preset adds its PWLS (`simulate.iterative`) to its kernel's FBP.
The noise figures are the standard deviation of (noisy - noise-free) reconstructions in a disc of
20 mm radius in the phantom's uniform heart (40 HU) and in a 300 mm water cylinder's centre, at the
default photons_per_ray and 0.703 mm pixels.

    .venv/bin/python benchmarks/simulate.py [--json out.json] [--size 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from radiomicgan.config import SimulationConfig
from radiomicgan.simulate.phantom import PHANTOM_FOV_MM, make_phantom, sample_anatomy
from radiomicgan.simulate.projector import get_projector
from radiomicgan.simulate.simulator import reconstruct_slice


def _disc(size: int, pixel_mm: float, centre_mm: tuple[float, float], radius_mm: float) -> np.ndarray:
    c = (np.arange(size) - (size - 1) / 2.0) * pixel_mm
    return (c[None, :] - centre_mm[0]) ** 2 + (c[:, None] - centre_mm[1]) ** 2 < radius_mm**2


def noise_by_kernel(
    hu: np.ndarray, pixel_mm: float, region: np.ndarray, kernels: tuple[str, ...], photons: float
) -> dict[str, float]:
    """Noise std (HU) of each kernel in `region`: noisy minus noise-free reconstruction."""
    noisy = reconstruct_slice(hu, pixel_mm=pixel_mm, kernels=kernels, photons_per_ray=photons)
    clean = reconstruct_slice(hu, pixel_mm=pixel_mm, kernels=kernels, photons_per_ray=math.inf)
    return {k: round(float((n - c)[region].std()), 1) for k, n, c in zip(kernels, noisy, clean, strict=True)}


PRESETS = ("smooth", "sharp", "smooth+ir3", "sharp+ir3")


def seconds_by_preset(slices: np.ndarray, pixel: float, photons: float) -> dict[str, float]:
    """Median seconds per slice of each preset reconstructed alone (the projector already built)."""
    times: dict[str, float] = {}
    for preset in PRESETS:
        measured = []
        for index, slice_hu in enumerate(slices):
            start = time.perf_counter()
            reconstruct_slice(
                slice_hu, pixel_mm=pixel, kernels=(preset,), photons_per_ray=photons, slice_index=index
            )
            measured.append(time.perf_counter() - start)
        times[preset] = round(statistics.median(measured), 2)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--size", type=int, default=512, help="slice size in pixels (default 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed slices (default 3)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = SimulationConfig(size_px=args.size, retest=True)
    kernels = config.kernels
    phantom = make_phantom(args.size, args.repeats + 1, seed=0)
    pixel = phantom.spacing_zyx_mm[1]

    start = time.perf_counter()
    get_projector(args.size, config.angles)
    setup_s = time.perf_counter() - start
    times = []
    for index, slice_hu in enumerate(phantom.hu):
        start = time.perf_counter()
        reconstruct_slice(
            slice_hu,
            pixel_mm=pixel,
            kernels=kernels,
            retest_kernel=config.standard_kernel,
            photons_per_ray=config.photons_per_ray,
            seed=0,
            slice_index=index,
        )
        times.append(time.perf_counter() - start)

    heart_x, heart_y, _ = sample_anatomy(0).heart_centre_mm
    heart = _disc(args.size, pixel, (heart_x, heart_y), 20.0)
    water = np.where(_disc(args.size, pixel, (0.0, 0.0), 150.0), 0.0, -1000.0).astype(np.float32)
    centre = _disc(args.size, pixel, (0.0, 0.0), 40.0)
    geometry = get_projector(args.size, config.angles).geometry
    figures = {
        f"seconds_per_slice_{args.size}": round(statistics.median(times[1:]), 3),
        "seconds_per_slice_by_preset": seconds_by_preset(phantom.hu[1:], pixel, config.photons_per_ray),
        "projector_setup_s": round(setup_s, 3),
        "kernels": list(kernels),
        "outputs_per_slice": len(kernels) + 1,
        "angles": geometry.angles,
        "detector_bins": geometry.detector_bins,
        "jobs": 1,
        "torch_threads": torch.get_num_threads(),
        "pixel_mm": round(pixel, 4),
        "field_of_view_mm": PHANTOM_FOV_MM,
        "photons_per_ray": config.photons_per_ray,
        "noise_hu_phantom_heart": noise_by_kernel(
            phantom.hu[0], pixel, heart, kernels, config.photons_per_ray
        ),
        "noise_hu_water_300mm": noise_by_kernel(water, pixel, centre, kernels, config.photons_per_ray),
        "machine": f"{platform.processor() or platform.machine()}, python {platform.python_version()}",
        "command": " ".join([".venv/bin/python", "benchmarks/simulate.py", *sys.argv[1:]]),
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
