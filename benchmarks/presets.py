"""Noise, noise power spectrum and MTF of every reconstruction preset (docs/kernels.md; speed: simulate.py).

The object is a 300 mm water cylinder holding two 15 mm-radius discs, one 50 HU above water (low
contrast) and one 1000 HU above (high contrast, bone-like), scanned `--realizations` times with
independent noise at the default dose. The ensemble mean of the realizations is each preset's
noise-free response, and a realization minus that mean is its noise (scaled by sqrt(n / (n - 1))):
an iterative reconstruction is not linear, so its "noise-free" image is not the reconstruction of a
noise-free sinogram.

- noise: standard deviation of the noise in a 40 mm-radius disc at the centre (uniform water);
- NPS: 2-D noise power spectrum of 64 x 64 px squares in uniform water, radially averaged (HU^2 mm^2);
  its mean frequency f_av says whether the noise is fine-grained (high f_av) or blotchy (low f_av);
- MTF at each contrast: the circular-edge method on the ensemble mean: the radial edge profile
  binned at 1/10 px, differentiated, Fourier transformed and normalized at zero frequency.
  An FBP image's MTF is the same at both contrasts; a regularized iterative one's is not.

    .venv/bin/python benchmarks/presets.py [--size 512] [--realizations 8] [--json out.json]
        [--figure docs/presets_nps_mtf.png]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from radiomicgan.config import SimulationConfig
from radiomicgan.simulate.phantom import PHANTOM_FOV_MM
from radiomicgan.simulate.simulator import reconstruct_slice

PRESETS = ("smooth", "sharp", "smooth+ir1", "smooth+ir3", "smooth+ir5")
CONTRASTS_HU = {"low": 50.0, "high": 1000.0}
INSERT_RADIUS_MM = 15.0
INSERT_OFFSET_MM = 70.0  # inserts left and right of the centre, the uniform region between them
NPS_SQUARE_PX = 64
FloatImage = NDArray[np.float64]


def _grid_mm(size: int, pixel_mm: float) -> tuple[FloatImage, FloatImage]:
    c = (np.arange(size) - (size - 1) / 2.0) * pixel_mm
    return np.meshgrid(c, c)


def cylinder(size: int, pixel_mm: float) -> NDArray[np.float32]:
    """Water (0 HU) in a 300 mm cylinder in air, with the low-contrast insert left, high-contrast right."""
    x, y = _grid_mm(size, pixel_mm)
    hu = np.where(x**2 + y**2 < 150.0**2, 0.0, -1000.0)
    for sign, contrast in zip((-1.0, 1.0), CONTRASTS_HU.values(), strict=True):
        hu[(x - sign * INSERT_OFFSET_MM) ** 2 + y**2 < INSERT_RADIUS_MM**2] = contrast
    return hu.astype(np.float32)


def _centre(size: int, pixel_mm: float) -> NDArray[np.bool_]:
    x, y = _grid_mm(size, pixel_mm)
    return np.asarray(x**2 + y**2 < 40.0**2)


def noise_sd(noise: FloatImage, size: int, pixel_mm: float) -> float:
    return float(noise[:, _centre(size, pixel_mm)].std())


def nps(noise: FloatImage, size: int, pixel_mm: float) -> tuple[FloatImage, FloatImage]:
    """Radially averaged NPS (HU^2 mm^2) of squares above and below the centre, by frequency (1/mm)."""
    half, centre = NPS_SQUARE_PX // 2, size // 2
    offset = round(60.0 / pixel_mm)  # 60 mm above and below: uniform water, away from the inserts
    squares = [
        realization[row - half : row + half, centre - half : centre + half]
        for realization in noise
        for row in (centre - offset, centre, centre + offset)
    ]
    spectra = [np.abs(np.fft.fftshift(np.fft.fft2(s - s.mean()))) ** 2 for s in squares]
    power = np.mean(spectra, axis=0) * pixel_mm**2 / NPS_SQUARE_PX**2
    f = np.fft.fftshift(np.fft.fftfreq(NPS_SQUARE_PX, d=pixel_mm))
    radius = np.hypot(*np.meshgrid(f, f))
    step = f[1] - f[0]
    bins = np.rint(radius / step).astype(int)
    counts = np.bincount(bins.ravel())
    radial = np.bincount(bins.ravel(), power.ravel()) / np.maximum(counts, 1)
    keep = np.arange(len(radial)) * step <= 0.5 / pixel_mm
    return np.arange(len(radial))[keep] * step, radial[keep]


def mtf(mean_image: FloatImage, size: int, pixel_mm: float, sign: float) -> tuple[FloatImage, FloatImage]:
    """MTF by frequency (1/mm) of the insert's circular edge in the ensemble-mean image.

    The edge profile is binned at 1/4 px along the radius (all angles pooled), and its derivative is
    tapered by a Hann window 10 px either side of the edge: what noise is left in the ensemble mean
    would otherwise dominate the spectrum of a 50 HU edge.
    """
    x, y = _grid_mm(size, pixel_mm)
    r_px = np.hypot(x - sign * INSERT_OFFSET_MM, y) / pixel_mm
    edge_px = INSERT_RADIUS_MM / pixel_mm
    near = r_px < edge_px + 12
    step = 0.25
    bins = np.rint(r_px[near] / step).astype(int)
    counts = np.bincount(bins)
    valid = counts > 0
    r = np.arange(len(counts))[valid] * step
    esf = (np.bincount(bins, mean_image[near]) / np.maximum(counts, 1))[valid]
    grid = np.arange(0.0, r[-1], step)
    lsf = -np.gradient(np.interp(grid, r, esf))
    taper = np.clip(1.0 - np.abs(grid - edge_px) / 10.0, 0.0, 1.0)
    lsf *= 0.5 - 0.5 * np.cos(np.pi * taper)
    spectrum = np.abs(np.fft.rfft(lsf, n=4 * len(lsf)))
    freq = np.fft.rfftfreq(4 * len(lsf), d=step * pixel_mm)
    keep = freq <= 0.5 / pixel_mm
    return freq[keep].astype(np.float64), (spectrum[keep] / spectrum[0]).astype(np.float64)


def crossing(freq: FloatImage, curve: FloatImage, level: float) -> float:
    below = np.nonzero(curve < level)[0]
    if len(below) == 0:
        return float(freq[-1])
    i = below[0]
    return float(np.interp(level, [curve[i], curve[i - 1]], [freq[i], freq[i - 1]]))


Curves = dict[str, dict[str, tuple[FloatImage, FloatImage]]]  # preset -> "nps" / "mtf_<contrast>" -> (f, y)


def measure(
    presets: tuple[str, ...], size: int, realizations: int, photons: float
) -> tuple[dict[str, dict[str, object]], Curves]:
    pixel_mm = PHANTOM_FOV_MM / size
    hu = cylinder(size, pixel_mm)
    images = np.stack(
        [
            reconstruct_slice(hu, pixel_mm=pixel_mm, kernels=presets, photons_per_ray=photons, slice_index=r)
            for r in range(realizations)
        ],
        axis=1,
    ).astype(np.float64)  # [presets, realizations, y, x]
    figures: dict[str, dict[str, object]] = {}
    curves: Curves = {}
    for preset, stack in zip(presets, images, strict=True):
        mean = stack.mean(axis=0)
        noise = (stack - mean) * np.sqrt(realizations / (realizations - 1))
        f_nps, power = nps(noise, size, pixel_mm)
        entry: dict[str, object] = {
            "noise_sd_hu": round(noise_sd(noise, size, pixel_mm), 1),
            "nps_mean_frequency_per_mm": round(float(np.sum(f_nps * power) / np.sum(power)), 3),
            "nps_peak_frequency_per_mm": round(float(f_nps[np.argmax(power)]), 3),
            "mean_hu_water": round(float(mean[_centre(size, pixel_mm)].mean()), 1),
        }
        curves[preset] = {"nps": (f_nps, power)}
        for (name, _), sign in zip(CONTRASTS_HU.items(), (-1.0, 1.0), strict=True):
            f_mtf, m = mtf(mean, size, pixel_mm, sign)
            entry[f"mtf50_{name}_contrast_per_mm"] = round(crossing(f_mtf, m, 0.5), 3)
            entry[f"mtf10_{name}_contrast_per_mm"] = round(crossing(f_mtf, m, 0.1), 3)
            curves[preset][f"mtf_{name}"] = (f_mtf, m)
        figures[preset] = entry
    return figures, curves


def plot(curves: Curves, path: Path) -> None:
    figure = Figure(figsize=(13, 4), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    for preset, curve in curves.items():
        f, power = curve["nps"]
        axes[0].plot(f, power, label=preset)
        for ax, name in zip(axes[1:], CONTRASTS_HU, strict=True):
            ax.plot(*curve[f"mtf_{name}"], label=preset)
    axes[0].set(title="noise power spectrum", xlabel="frequency (1/mm)", ylabel="HU² mm²")
    for ax, (name, contrast) in zip(axes[1:], CONTRASTS_HU.items(), strict=True):
        ax.set(title=f"MTF, {name} contrast (+{contrast:.0f} HU)", xlabel="frequency (1/mm)", ylim=(0, 1.2))
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=512, help="slice size in pixels (default 512)")
    parser.add_argument("--realizations", type=int, default=8, help="noise realizations (default 8)")
    parser.add_argument(
        "--presets", default=",".join(PRESETS), help=f"comma-separated (default {','.join(PRESETS)})"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--figure", type=Path, help="write the NPS and MTF curves to this PNG")
    args = parser.parse_args()
    torch.set_num_threads(1)
    photons = SimulationConfig().photons_per_ray
    presets = tuple(args.presets.split(","))
    figures, curves = measure(presets, args.size, args.realizations, photons)
    pixel_mm = PHANTOM_FOV_MM / args.size
    result = {
        "presets": figures,
        "size_px": args.size,
        "pixel_mm": round(pixel_mm, 4),
        "realizations": args.realizations,
        "photons_per_ray": photons,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, python {platform.python_version()}",
        "command": " ".join([".venv/bin/python", "benchmarks/presets.py", *sys.argv[1:]]),
    }
    if args.figure:
        plot(curves, args.figure)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
