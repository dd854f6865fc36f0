"""`radiomicgan simulate`: paired kernel series from the phantom or a CT volume."""

from __future__ import annotations

import argparse
from pathlib import Path

from radiomicgan.commands.common import SubParsers, add_command, add_config_option, config_layers
from radiomicgan.config import SimulationConfig, build
from radiomicgan.errors import ConfigError
from radiomicgan.reconstruction import KERNELS, MAX_STRENGTH
from radiomicgan.simulate import simulate_to_folder

DESCRIPTION = """\
Simulate one CT scan reconstructed with several kernels: each slice of SOURCE is forward
projected, Poisson noise is added to the photon counts, and the SAME noisy sinogram is
reconstructed by filtered back projection with each kernel's apodized ramp filter. The series
are perfectly registered, as two reconstructions of one raw scan are: training pairs.

SOURCE is `phantom` (the built-in digital chest phantom, randomized by --seed) or a CT volume
(DICOM folder, NRRD or NIfTI). OUT_DIR gets one DICOM series per kernel, OUT_DIR/<kernel>/,
in one study and frame of reference; --retest adds OUT_DIR/<standard>_retest/, the standard
kernel from an independent noise realization (what a repeat scan gives).

Presets (--kernels, --standard): {kernels} (filtered back projection), or any of them
with +ir1 .. +ir{max_strength}: iterative reconstruction (PWLS started from that kernel's image, blended
with it at strength N as ADMIRE/SAFIRE levels are; +ir{max_strength} is the PWLS image). Its ConvolutionKernel
holds two values, e.g. smooth\\3.

--dose SERIES=FACTOR gives a series a fraction of the photons (0 < FACTOR <= 1), drawn from the
same scan's counts (binomial thinning): noise grows as 1/sqrt(FACTOR), the series stays
registered. It is written to OUT_DIR/<series>_dose<percent>/, e.g. smooth+ir3_dose25/.

Examples:
  radiomicgan simulate phantom pairs/ --seed 1 --retest
  radiomicgan simulate phantom ir_pairs/ --kernels smooth+ir3,sharp --dose smooth+ir3=0.25
  radiomicgan simulate ../shared/data/lung1_image.nrrd lung_pairs/ --slices 16 --size 512
""".format(kernels=", ".join(KERNELS), max_strength=MAX_STRENGTH)

OPTIONS = (
    "kernels",
    "standard_kernel",
    "slices",
    "size_px",
    "photons_per_ray",
    "angles",
    "seed",
    "retest",
    "jobs",
)


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "simulate", "make paired kernel series from a phantom or CT", DESCRIPTION)
    parser.add_argument("source", metavar="SOURCE", help="`phantom` or a CT volume path")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to create")
    defaults = SimulationConfig()
    parser.add_argument(
        "--kernels",
        help=f"comma-separated presets, KERNEL or KERNEL+irN (default: {','.join(defaults.kernels)})",
    )
    parser.add_argument(
        "--standard",
        dest="standard_kernel",
        help=f"the standard kernel (default: {defaults.standard_kernel})",
    )
    parser.add_argument("--slices", type=int, help=f"slices to simulate (default: {defaults.slices})")
    parser.add_argument(
        "--size", dest="size_px", type=int, help=f"matrix size in px (default: {defaults.size_px})"
    )
    parser.add_argument(
        "--photons",
        dest="photons_per_ray",
        type=float,
        help=f"photons per detector bin; fewer means noisier (default: {defaults.photons_per_ray:g})",
    )
    parser.add_argument("--angles", type=int, help="projection angles (default: enough for the size)")
    parser.add_argument(
        "--seed", type=int, help=f"random seed of phantom and noise (default: {defaults.seed})"
    )
    parser.add_argument(
        "--retest", action="store_true", default=None, help="add a repeat-scan standard series"
    )
    parser.add_argument(
        "--dose",
        action="append",
        metavar="SERIES=FACTOR",
        help="fraction of the full dose for one series, e.g. smooth+ir3=0.25 (repeatable; default: 1)",
    )
    parser.add_argument("--jobs", type=int, help="worker processes (default: all cores)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT_DIR if it holds only radiomicgan's output"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    layers = config_layers(args, OPTIONS)
    config = build(SimulationConfig, *layers, {"doses": named_doses(args.dose)})
    result = simulate_to_folder(
        args.source, args.out_dir, config, overwrite=args.overwrite, progress=not args.quiet
    )
    print(result.describe())
    return 0


def named_doses(values: list[str] | None) -> dict[str, float] | None:
    """--dose SERIES=FACTOR arguments as a mapping; None when none is given (the file's doses stay).

    Raises:
        ConfigError: a value that is not SERIES=FACTOR with a number, or a series given twice.
    """
    if not values:
        return None
    doses: dict[str, float] = {}
    for value in values:
        name, _, factor = value.partition("=")
        try:
            number = float(factor)
        except ValueError:
            raise ConfigError(f"--dose expects SERIES=FACTOR (e.g. smooth+ir3=0.25), got {value!r}") from None
        if name.strip() in doses:
            raise ConfigError(f"--dose: the series {name.strip()!r} is given twice")
        doses[name.strip()] = number
    return doses
