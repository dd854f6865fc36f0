"""`radiomicgan evaluate`: reproducible radiomic features and image quality of candidates, as a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from radiomicgan.commands.common import SubParsers, add_command, add_config_option, config_layers
from radiomicgan.config import BACKENDS, EvaluationConfig, RegionFeatureConfig, build
from radiomicgan.errors import ConfigError
from radiomicgan.evaluate import evaluate
from radiomicgan.evaluate.cohort import evaluate_cohort

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

--manifest CSV evaluates a cohort with its lesions instead of --reference/--candidate: one row per
case with the columns reference, mask (its lesions: NRRD/NIfTI labels, DICOM SEG or RTSTRUCT on the
reference) and candidate:NAME per candidate (all on the reference's grid), optionally id; paths
relative to the CSV. Every case is a scan of the protocol above, and the report gets a lesion
section: each lesion's 3-D features (--lesion-params, default the shipped radiomics_3d.yaml) on the
reference and every candidate under the reference's mask, Lin's CCC per feature across lesions,
reproducible features per feature class and filter; lesion_ccc.csv holds the CCC of every feature.

Examples:
  radiomicgan evaluate --manifest cohort.csv --out report/ --region GTV
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
    parser.add_argument("--reference", type=Path, metavar="DIR", help="standard-kernel series")
    parser.add_argument("--candidate", action="append", metavar="NAME=DIR", help="a candidate (repeatable)")
    parser.add_argument("--manifest", type=Path, metavar="CSV", help="a cohort with lesion masks (see above)")
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
    parser.add_argument(
        "--lesion-params", type=Path, metavar="YAML", help="PyRadiomics 3-D parameters of the lesion level"
    )
    parser.add_argument("--region", action="append", metavar="NAME|N", help="lesion level: this region only")
    parser.add_argument("--resample", action="store_true", help="lesion level: put label volumes on the grid")
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


def lesion_config(args: argparse.Namespace) -> RegionFeatureConfig:
    """The lesion level's settings file, regions and --resample (its processes are the evaluation's)."""
    return RegionFeatureConfig(
        settings_path=str(args.lesion_params or ""), regions=tuple(args.region or ()), resample=args.resample
    )


def run(args: argparse.Namespace) -> int:
    if args.manifest is not None:
        if args.reference is not None or args.candidate or args.combat or args.training_run:
            raise ConfigError(
                "evaluate: --manifest stands alone (no --reference, --candidate, --combat, --training-run)"
            )
        outcome = evaluate_cohort(
            args.manifest, args.out, config_from_args(args), lesion_config(args),
            overwrite=args.overwrite, progress=not args.quiet, cache=not args.no_cache,
        )  # fmt: skip
        print(outcome.report)
        return 0
    if args.reference is None or not args.candidate:
        raise ConfigError("evaluate: give --reference and at least one --candidate, or --manifest")
    if args.lesion_params or args.region or args.resample:
        raise ConfigError("evaluate: --lesion-params, --region and --resample apply to --manifest only")
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
