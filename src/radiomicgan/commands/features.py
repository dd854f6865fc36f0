"""`radiomicgan features`: PyRadiomics features of the labelled regions of CT series, as a table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from radiomicgan.commands.common import SubParsers, add_command, add_config_option, config_layers
from radiomicgan.config import BACKENDS, RegionFeatureConfig, build
from radiomicgan.errors import ConfigError
from radiomicgan.evaluate.region_features import save_region_features
from radiomicgan.evaluate.region_inputs import pair_inputs, read_manifest

DESCRIPTION = """\
PyRadiomics features of every labelled region (lesion, organ) of CT series, one row per
(series, region): id, series, series_uid, mask, region (its number), region_name, voxel_count,
then one column per feature named as PyRadiomics names it (original_firstorder_Mean,
original_shape_VoxelVolume, wavelet-LLH_glcm_Contrast, ...).

INPUT is a CT series: a DICOM folder or file, NRRD or NIfTI. Its --mask is a label volume
(NRRD, NIfTI: each non-zero value a region), a DICOM SEG (each segment) or an RTSTRUCT (each
ROI) on that series. Several series take one --mask each, in order; or --manifest CSV with the
columns series, mask and optionally id (paths relative to the CSV's folder).

Features are 3-D by default (the shipped radiomics_3d.yaml: 1,781 features). --2d measures each
slice the region touches as a true 2-D image, the random-box evaluation's protocol (the shipped
radiomics_2d.yaml: 1,497 features), one row per (series, region, slice). --params FILE takes a
PyRadiomics parameter file instead. The table's suffix picks CSV or Parquet; the parameters are
kept in the Parquet file's metadata, or beside a CSV as TABLE.csv.json.

A region with no voxel on the CT's grid, or one PyRadiomics cannot measure, is warned about and
keeps its row with NaN features. A mask on another grid (without --resample), of another series,
without a region asked for, or with no voxel at all is refused, and nothing is written.

Examples:
  radiomicgan features ct/ --mask tumour.nrrd --out features.csv
  radiomicgan features ct1/ ct2.nrrd --mask seg1.dcm --mask rtstruct2.dcm --region GTV --out f.parquet
  radiomicgan features --manifest cohort.csv --jobs 8 --out cohort.parquet
  radiomicgan features ct/ --mask organs.nii.gz --resample --region liver --region 2 --2d --out l.csv
"""

OPTIONS = ("settings_path", "per_slice", "regions", "resample", "jobs", "backend", "scheduler")


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "features", "PyRadiomics features of labelled regions", DESCRIPTION)
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="CT series (folder or file)")
    parser.add_argument("--mask", action="append", type=Path, metavar="MASK", help="one per INPUT, in order")
    parser.add_argument(
        "--manifest", type=Path, metavar="CSV", help="series,mask[,id] rows instead of INPUTs"
    )
    parser.add_argument("--out", required=True, type=Path, metavar="TABLE", help=".csv or .parquet to create")
    parser.add_argument(
        "--region",
        dest="regions",
        action="append",
        metavar="NAME|N",
        help="measure this region only (repeatable; default: every region)",
    )
    parser.add_argument(
        "--params", dest="settings_path", metavar="YAML", help="PyRadiomics parameter file (default: shipped)"
    )
    parser.add_argument(
        "--2d", dest="per_slice", action="store_true", default=None, help="per slice, as true 2-D images"
    )
    parser.add_argument(
        "--resample", action="store_true", default=None, help="put a label volume on the CT's grid"
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="extraction processes (default: all cores)")
    parser.add_argument("--backend", choices=BACKENDS, help="where features are extracted (default: local)")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786 (with --backend dask)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_option(parser)
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> RegionFeatureConfig:
    """Defaults < --config file < options."""
    layers: list[dict[str, Any] | None] = config_layers(args, OPTIONS)
    return build(RegionFeatureConfig, *layers)


def run(args: argparse.Namespace) -> int:
    if args.manifest is not None and (args.inputs or args.mask):
        raise ConfigError("features: give INPUT --mask MASK pairs or --manifest, not both")
    config = config_from_args(args)
    pairs = (
        read_manifest(args.manifest)
        if args.manifest is not None
        else pair_inputs(args.inputs, args.mask or [])
    )
    save_region_features(pairs, args.out, config, progress=not args.quiet)
    print(args.out)
    return 0
