"""`radiomicgan evaluate`: reproducible radiomic features and image quality of candidates, as a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from radiomicgan.commands.common import SubParsers, add_command, add_config_option, config_layers
from radiomicgan.config import BACKENDS, EvaluationConfig, build
from radiomicgan.errors import ConfigError
from radiomicgan.evaluate import evaluate

DESCRIPTION = """\
Evaluate candidates against a standard-kernel reference with the paper's protocol: random ROIs
inside the body in the HU ranges [-800,-300], [-100,250] and [300,800], PyRadiomics features of
each ROI on the reference and on every candidate (same masks), and per feature Lin's CCC across
ROIs; a feature is reproducible when CCC > 0.85. Reported: reproducible features per range as
mean ± SD over repeated ROI samplings (paper Table 1; a bootstrap 95 % interval with fewer than
5 repeats; shape features, equal by construction under shared masks, are not counted), PSNR and
SSIM over slices (Table 2), the whole-image level, a case-study panel and a CCC heat map per
feature class and filter.

The reference and each candidate are a series or a folder tree of series; every reference
series is paired with the candidate series of the same study and frame of reference whose
slices match by position, and only slices present in all of them are compared.

REPORT_DIR gets results.json, features.parquet (every value), ccc.parquet (CCC per feature),
counts.csv, report.html and its PNG figures. Features are cached (default
$XDG_CACHE_HOME/radiomicgan/features, else ~/.cache/radiomicgan/features), so evaluating
another candidate against the same reference only extracts the new candidate's features.
--config FILE takes any evaluation setting as YAML (hu_ranges, n_rois, repeats, roi_size_px,
context_px, ccc_threshold, whole_image_slices, seed, features: {settings_path, jobs, cache_dir,
backend, scheduler}).

--backend dask spreads the ROI extractions over a Dask cluster (pip install radiomicgan[cluster]):
the scheduler at --scheduler, or a local cluster of --jobs processes. The numbers are the same as
with the local backend; the cache stays on this machine.

Examples:
  radiomicgan evaluate --reference pairs/sharp --candidate input=pairs/smooth \\
      --candidate radiomicgan=harmonized/smooth --out report/
  radiomicgan evaluate --reference pairs/sharp --candidate retest=pairs/sharp_retest \\
      --candidate rg=harmonized/smooth --training-run rg=runs/rg --combat --jobs 4 --out report/
  radiomicgan evaluate --reference test/sharp --candidate input=test/smooth --out quick/ \\
      --rois 20 --repeats 3 --no-cache --config evaluation.yaml
  radiomicgan evaluate --reference test/sharp --candidate rg=harmonized/smooth --out report/ \\
      --backend dask --scheduler tcp://head:8786
"""

OPTIONS = ("n_rois", "repeats", "roi_size_px", "seed")


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "evaluate", "radiomic reproducibility report of candidates", DESCRIPTION)
    d = EvaluationConfig()
    parser.add_argument("--reference", required=True, type=Path, metavar="DIR", help="standard-kernel series")
    parser.add_argument(
        "--candidate", action="append", required=True, metavar="NAME=DIR", help="a candidate (repeatable)"
    )
    parser.add_argument("--out", required=True, type=Path, metavar="REPORT_DIR", help="folder to create")
    parser.add_argument(
        "--rois",
        dest="n_rois",
        type=int,
        metavar="N",
        help=f"ROIs per range and repeat (default: {d.n_rois})",
    )
    parser.add_argument("--repeats", type=int, metavar="N", help=f"ROI samplings (default: {d.repeats})")
    parser.add_argument(
        "--roi-size",
        dest="roi_size_px",
        type=int,
        metavar="PX",
        help=f"ROI box side in px (default: {d.roi_size_px})",
    )
    parser.add_argument("--seed", type=int, metavar="S", help=f"ROI sampling seed (default: {d.seed})")
    parser.add_argument(
        "--jobs",
        "--workers",
        dest="jobs",
        type=int,
        metavar="N",
        help="feature extraction processes, here or in a local Dask cluster (default: all cores)",
    )
    parser.add_argument("--backend", choices=BACKENDS, help="where features are extracted (default: local)")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786 (with --backend dask)"
    )
    parser.add_argument("--combat", action="store_true", help="add a NAME+ComBat row per candidate")
    parser.add_argument(
        "--training-run", action="append", metavar="NAME=RUN_DIR", help="show a candidate's training figures"
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="DIR", help="feature cache folder (default: see above)")
    cache.add_argument("--no-cache", action="store_true", help="extract every feature, store none")
    parser.add_argument(
        "--radiomics-settings",
        type=Path,
        metavar="YAML",
        help="PyRadiomics parameters (default: shipped 2-D)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace REPORT_DIR if it holds only radiomicgan's output"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_option(parser)
    parser.set_defaults(handler=run)


def named_paths(values: list[str] | None, option: str) -> dict[str, Path]:
    """NAME=PATH arguments as an ordered mapping.

    Raises:
        ConfigError: a value without NAME or PATH, or a name given twice.
    """
    named: dict[str, Path] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path:
            raise ConfigError(f"{option} expects NAME=DIR, got {value!r}")
        if name in named:
            raise ConfigError(f"{option}: the name {name!r} is given twice")
        named[name] = Path(path)
    return named


def config_from_args(args: argparse.Namespace) -> EvaluationConfig:
    """Defaults < --config file < options (an empty cache_dir: `evaluate` picks the user's cache folder)."""
    features: dict[str, Any] = {
        "jobs": args.jobs,
        "cache_dir": "" if args.no_cache else args.cache,
        "backend": args.backend,
        "scheduler": args.scheduler,
    }
    if args.radiomics_settings is not None:
        features["settings_path"] = str(args.radiomics_settings)
    return build(EvaluationConfig, *config_layers(args, OPTIONS), {"features": features})


def run(args: argparse.Namespace) -> int:
    candidates = named_paths(args.candidate, "--candidate")
    training_runs = named_paths(args.training_run, "--training-run")
    outcome = evaluate(
        args.reference,
        candidates,
        args.out,
        config_from_args(args),
        combat=args.combat,
        training_runs=training_runs,
        overwrite=args.overwrite,
        progress=not args.quiet,
        cache=not args.no_cache,
    )
    print(outcome.report)
    return 0
