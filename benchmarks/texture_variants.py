"""What the residual texture's soft-tissue gap to a repeat scan is made of (issue 17).

On the lung CT's iterative pairs the default with its residual texture reproduces as many features
as a repeat scan in lung and bone and about 6 % fewer in soft tissue (README, Iterative
reconstruction). This script scores one finished run's texture variants on quality.py's test slices
and ROIs (its feature cache, so the input, filter and retest rows are not extracted again):

- `none`: the network's output alone (harmonize --no-texture);
- `texture`: the run's texture as harmonize draws it (SD per class of local mean, radial spectrum),
  added to the network's output;
- `2d-spectrum`: the same SDs and gain, the spectrum measured on a 32 x 32 grid of 2D frequency
  on the run's held-out pairs (as training measures the radial one) instead of rings. CT noise is
  anisotropic: it streaks along the body's longest paths;
- `oracle-level`: the texture's local SD taken from the true local noise (standard minus retest,
  over sqrt 2, RMS in a 6 px Gaussian window), normalized to keep each class's SD: an upper bound
  for a texture that follows the noise's position, which no harmonizer has (it needs a repeat scan);
- `oracle-noise` (with `--noise-pair`): a true noise realization of the standard series, independent
  of the test slices' own: the difference of a standard series and its retest simulated from the
  lung CT with another seed (below), over sqrt 2, less its local mean, scaled per class to the
  texture's SD. It has the real noise's position-dependent level, orientation and spectrum: an upper
  bound for a texture synthesized from a noise model.

Each variant at every `--gains` value ("run" is the run's own). It prints quality.py's table and,
per feature group (image filter : feature class), how many features of `--range` the retest and
each variant reproduce, the groups where they differ most first.

    .venv/bin/python benchmarks/texture_variants.py --work /tmp/rg-quality-ir --scenario iterative \\
        --run resunet16-budget-e100 --gains run 1.0 [--noise-pair /tmp/rg-noise-seed1] \\
        --json benchmarks/results/texture_variants.json

`--noise-pair DIR` simulates (once) the lung CT's standard series and its retest with seed 1 into
DIR, as quality.py simulates seed 0 (48 slices of 512 px), and takes its test slices.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import SimulationConfig
from radiomicgan.evaluate.agreement import CCC_THRESHOLD
from radiomicgan.evaluate.roi_level import ReproducibilityResult
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.inference.slices import size_multiple
from radiomicgan.io import read_volume, write_volume
from radiomicgan.modelfile import load_model, load_texture
from radiomicgan.residual_texture import (
    ResidualTexture,
    _classes,
    _local_mean,
    shaped_noise,
    slice_seed,
    whitened_residual,
)
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.train import resume_config
from radiomicgan.training.texture import residual_pairs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality
from benchkit import command_line
from texture_run import rebuilt_split

GRID = 32  # 2D frequency bins per axis, -0.5 to 0.5 cycles per pixel
NOISE_WINDOW_PX = 6.0  # the oracle's local noise RMS: a Gaussian window of this sigma


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    work = Path(args.work)
    source, _ = quality.SCENARIOS[args.scenario]
    split = work / "split"
    test = {name: read_volume(split / "test" / name) for name in (source, quality.TARGET, quality.RETEST)}
    run = work / "runs" / args.run
    plain = Harmonizer.load(run, HarmonizeConfig(device="cpu", batch_size=2, texture=False))
    texture = load_texture(run, plain.metadata)
    if texture is None:
        raise SystemExit(f"{run}: its model file holds no residual texture (benchmarks/texture_run.py)")
    harmonized = plain(test[source]).hu.astype(np.float32)
    seeds = [slice_seed(one) for one in test[source].hu]
    sd = texture.sd_map(harmonized)
    unit = _unit_texture(texture).synthesize(harmonized, seeds)  # the run's noise, as harmonize draws it
    # variant: (unit-SD noise, its SD in HU before the gain)
    variants = {
        "texture": (unit, sd),
        "2d-spectrum": (_shaped_noise(_grid_amplitude_of_run(run), harmonized.shape, seeds), sd),
        "oracle-level": (unit, sd * _oracle_ratio(test, harmonized)),
    }
    if args.noise_pair:
        variants["oracle-noise"] = (_noise_realization(Path(args.noise_pair), harmonized, args.jobs), sd)
    candidates: dict[str, np.ndarray] = {
        "input": test[source].hu,
        "wiener": quality._wiener(split, source, test[source]),
        "none": harmonized,
    }
    for gain in args.gains:
        value = texture.gain if gain == "run" else float(gain)
        for name, (noise, level) in variants.items():
            candidates[f"{name} x{value:g}"] = harmonized + noise * level * np.float32(value)
    candidates["retest"] = test[quality.RETEST].hu
    scoring = quality.Scoring(
        rois=args.rois, repeats=args.repeats, jobs=args.jobs, cache_dir=work / "features"
    )
    scores, result = quality.score_with_result(test[quality.TARGET], candidates, scoring)
    groups = _groups(result, args.range)
    report = {"command": command_line(__file__, argv), "run": str(run), **scores, "groups": groups}
    print(quality._markdown(scores))
    print(pd.DataFrame(groups).T.to_string())
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", required=True, help="a quality.py work folder (its split and runs)")
    parser.add_argument("--scenario", choices=tuple(quality.SCENARIOS), default="iterative")
    parser.add_argument("--run", required=True, help="a run of WORK/runs whose model holds a texture")
    parser.add_argument("--gains", nargs="+", default=["run"], help="'run' (its own) or numbers")
    parser.add_argument("--range", default="[-100, 250]", help="the HU range of the per-group counts")
    parser.add_argument("--rois", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=0, help="feature processes (0: all cores)")
    parser.add_argument("--noise-pair", help="a folder for the seed-1 standard series and retest")
    parser.add_argument("--json", help="write the figures here too")
    return parser.parse_args(argv)


def _grid_amplitude_of_run(run: Path) -> NDArray[np.float64]:
    """The 2D amplitude spectrum of the run's held-out residual, measured as training measures the
    radial one (`training.texture.fit_texture`) and whitened by the same class SDs, so the two spectra
    differ by the ring averaging alone."""
    config = resume_config(run)
    device = torch.device("cpu")
    generator, _ = load_model(run, device)
    standard, harmonized32, inside = residual_pairs(
        generator,
        rebuilt_split(config, device),
        config.window.full_range_hu,
        size_multiple(generator),
        device,
    )
    whitened, _ = whitened_residual(standard, harmonized32, inside)
    return _grid_amplitude(whitened)


def _grid_amplitude(whitened: NDArray[np.float64]) -> NDArray[np.float64]:
    """sqrt of the mean periodogram power per 2D frequency bin, f and -f pooled."""
    power = np.mean(np.abs(np.fft.fft2(whitened - whitened.mean(axis=(-2, -1), keepdims=True))) ** 2, 0)
    rows, columns = (_bin(np.fft.fftfreq(n).astype(np.float64)) for n in whitened.shape[-2:])
    bins = (rows[:, None] * GRID + columns[None, :]).ravel()
    total = np.bincount(bins, power.ravel(), minlength=GRID * GRID).reshape(GRID, GRID)
    count = np.bincount(bins, minlength=GRID * GRID).reshape(GRID, GRID)
    total, count = total + total[::-1, ::-1], count + count[::-1, ::-1]
    amplitude: NDArray[np.float64] = np.sqrt(total / np.maximum(count, 1))
    return amplitude


def _bin(frequency: NDArray[np.float64]) -> NDArray[np.intp]:
    index: NDArray[np.intp] = np.clip(np.floor((frequency + 0.5) * GRID), 0, GRID - 1).astype(np.intp)
    return index


def _shaped_noise(
    amplitude: NDArray[np.float64], shape: tuple[int, ...], seeds: list[int]
) -> NDArray[np.float32]:
    """Unit-SD noise per slice with the grid's spectrum (bilinear between bin centres), drawn as
    `ResidualTexture.synthesize` draws it (`residual_texture.shaped_noise`)."""
    height, width = shape[-2:]
    coordinates = np.meshgrid(
        (np.fft.fftfreq(height) + 0.5) * GRID - 0.5,
        (np.fft.rfftfreq(width) + 0.5) * GRID - 0.5,
        indexing="ij",
    )
    half_shape = ndimage.map_coordinates(amplitude, coordinates, order=1, mode="nearest").astype(np.float32)
    return shaped_noise(half_shape, shape, seeds)


def _oracle_ratio(test: dict[str, Any], harmonized: NDArray[np.float32]) -> NDArray[np.float32]:
    """The true local noise SD over its class's RMS (clipped to [0.25, 4]): the position's share."""
    noise = (test[quality.TARGET].hu.astype(np.float64) - test[quality.RETEST].hu) / np.sqrt(2)
    local = np.sqrt(ndimage.gaussian_filter(noise**2, (0, NOISE_WINDOW_PX, NOISE_WINDOW_PX)))
    ratio = _per_class_unit_rms(local, harmonized)
    clipped: NDArray[np.float32] = np.clip(ratio, 0.25, 4.0).astype(np.float32)
    return clipped


def _noise_realization(folder: Path, harmonized: NDArray[np.float32], jobs: int) -> NDArray[np.float32]:
    """Unit-SD-per-class noise of the standard series, independent of the test slices' (seed 1)."""
    if not (folder / quality.RETEST).is_dir():
        config = SimulationConfig(
            kernels=(quality.TARGET,), slices=48, size_px=512, retest=True, seed=1, jobs=jobs
        )
        result = simulate_to_folder(quality.LUNG_CT, folder / "sim", config, overwrite=True)
        for name, series in result.series_dirs.items():
            volume = read_volume(series).subset(list(quality.TEST_SLICES))
            write_volume(volume, folder / name, overwrite=True)
    pair = [read_volume(folder / name).hu.astype(np.float64) for name in (quality.TARGET, quality.RETEST)]
    noise = (pair[0] - pair[1]) / np.sqrt(2)
    noise -= _local_mean(noise)
    unit: NDArray[np.float32] = _per_class_unit_rms(noise, harmonized).astype(np.float32)
    return unit


def _per_class_unit_rms(values: NDArray[np.float64], harmonized: NDArray[np.float32]) -> NDArray[np.float64]:
    """`values` divided by their RMS within each class of the harmonized slices' local mean."""
    classes = _classes(harmonized.astype(np.float64))
    scaled = np.empty_like(values)
    for c in np.unique(classes):
        members = classes == c
        scaled[members] = values[members] / np.sqrt(np.mean(values[members] ** 2))
    return scaled


def _unit_texture(texture: ResidualTexture) -> ResidualTexture:
    """The texture with SD 1 in every class, no gain and no HU bound: its unit-SD noise alone."""
    return dataclasses.replace(texture, sd_hu=(1.0,) * len(texture.sd_hu), gain=1.0, max_hu=3071.0)


def _groups(result: ReproducibilityResult, hu_range: str) -> dict[str, dict[str, int]]:
    """Per feature group, how many features each candidate reproduces in `hu_range` (mean CCC over
    the repeats above the threshold), sorted by the retest's lead over the run's texture."""
    ccc = result.mean_ccc().xs(hu_range, level="range")
    groups = [_group(name) for name in ccc.columns]
    counts = (ccc > CCC_THRESHOLD).T.groupby(groups).sum()
    textured = next(name for name in counts.columns if name.startswith("texture"))
    order = (counts["retest"] - counts[textured]).sort_values(ascending=False).index
    return {group: {name: int(counts.loc[group, name]) for name in counts.columns} for group in order}


def _group(feature: str) -> str:
    """'wavelet-HH_glcm_Contrast' -> 'wavelet-HH:glcm'."""
    parts = feature.split("_", 2)
    return f"{parts[0]}:{parts[1]}" if len(parts) == 3 else feature


if __name__ == "__main__":
    raise SystemExit(main())
