"""Feature extraction throughput, on one core and on all cores: ROIs per second for the random-box
evaluation, or (--regions) 3-D regions per second for `radiomicgan features`.

Each ROI is what the protocol extracts: a 64 px box (0.7 mm pixels) with 24 px of filter context on every
side, masked to the soft-tissue range [-100, 250] HU of a textured synthetic image, all 1,497 features.
ROIs are all different (no de-duplication) and no cache is used. `rois_per_s_allcores` includes starting
the worker processes (spawned: each imports PyRadiomics), as a user pays it; `worker_startup_s` is that
start-up alone, which a full evaluation (thousands of ROIs) pays once.

Each region (--regions) is a lesion-like lump: a ball of 5 to 15 mm radius (uniformly drawn), its
edge roughened by smooth noise, 40 HU brighter than a textured soft-tissue background, on a CT grid of
0.7 mm pixels and 2.5 mm slices, measured as `radiomicgan features` does by default: its box plus the
filter margin, the shipped 3-D settings, all 1,781 features. Reading series and masks is not timed.

    .venv/bin/python benchmarks/features.py --json features.json [--rois 96] [--roi-size 64]
    .venv/bin/python benchmarks/features.py --regions 24 --json regions.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomicgan.config import EvaluationConfig, RegionFeatureConfig
from radiomicgan.evaluate.features import FeatureTask, extract_many, feature_names
from radiomicgan.evaluate.regions import RegionTask, extract_task, region_tasks, task_names
from radiomicgan.evaluate.rois import range_mask
from radiomicgan.evaluate.settings import PYRADIOMICS_VERSION, load_settings
from radiomicgan.evaluate.workers import map_extractions

SPACING_MM = (0.7, 0.7)
REGION_SPACING_MM = (2.5, 0.7, 0.7)
REGION_RADII_MM = (5.0, 15.0)


def make_tasks(count: int, roi_size_px: int, context_px: int, seed: int) -> list[FeatureTask]:
    """`count` different ROIs: smooth random texture around soft tissue, range-masked inside the box."""
    rng = np.random.default_rng(seed)
    side = roi_size_px + 2 * context_px
    tasks = []
    for _ in range(count):
        texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (side, side)), rng.uniform(1.0, 3.0))
        image = (60.0 + texture / texture.std() * 150.0 + rng.normal(0.0, 20.0, (side, side))).astype(
            np.float32
        )
        mask = np.zeros((side, side), dtype=bool)
        box = slice(context_px, context_px + roi_size_px)
        mask[box, box] = range_mask(image[box, box], (-100.0, 250.0))
        tasks.append(FeatureTask(image, mask, SPACING_MM))
    return tasks


def seconds(tasks: list[FeatureTask], jobs: int) -> float:
    start = time.perf_counter()
    extract_many(tasks, jobs=jobs)
    return time.perf_counter() - start


def all_core_figures(count: int, roi_size_px: int, context_px: int, cores: int) -> dict[str, float]:
    """Throughput with worker start-up included, and the start-up alone (one tiny ROI per worker)."""
    startup = seconds(make_tasks(cores, 16, 0, seed=4), jobs=cores)
    full = seconds(make_tasks(count, roi_size_px, context_px, seed=2), jobs=cores)
    return {"rois_per_s_allcores": round(count / full, 3), "worker_startup_s": round(startup, 2)}


def make_regions(count: int, seed: int) -> list[RegionTask]:
    """`count` different lesion-like regions (see the module docstring), each cut as `features` cuts it."""
    rng = np.random.default_rng(seed)
    settings = load_settings(dimensions=3)
    config = RegionFeatureConfig()
    tasks = []
    for _ in range(count):
        radius = rng.uniform(*REGION_RADII_MM)
        side_mm = (
            2 * radius + 2 * config.margin_sigmas * max(settings.log_sigmas_mm) + 10.0
        )  # + margin, slack
        shape = tuple(int(np.ceil(side_mm / s)) for s in REGION_SPACING_MM)
        texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 2.0)
        hu = 40.0 + texture / texture.std() * 30.0 + rng.normal(0.0, 15.0, shape)
        axes = [(np.arange(n) - n / 2) * s for n, s in zip(shape, REGION_SPACING_MM, strict=True)]
        z, y, x = np.meshgrid(*axes, indexing="ij")
        rough = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 3.0)
        lump = np.sqrt(z**2 + y**2 + x**2) <= radius * (1.0 + 0.15 * rough / rough.std())
        hu[lump] += 40.0
        (_, task), *_ = region_tasks(hu, lump, REGION_SPACING_MM, settings, config)
        assert isinstance(task, RegionTask)
        tasks.append(task)
    return tasks


def region_seconds(tasks: list[RegionTask], jobs: int) -> tuple[float, float]:
    """Wall seconds, and this process's CPU seconds (all of the work with jobs=1), to extract `tasks`."""
    settings = load_settings(dimensions=3)
    start, cpu = time.perf_counter(), time.process_time()
    outcomes = list(map_extractions(extract_task, tasks, settings, jobs))
    assert all(isinstance(o, dict) for o in outcomes), "a region was refused"
    return time.perf_counter() - start, time.process_time() - cpu


def region_figures(count: int, cores: int) -> dict[str, float | int | str | list[float]]:
    """Regions per second on one core and on all (worker start-up included, and alone)."""
    region_seconds(make_regions(1, seed=99), jobs=1)  # imports, extractor construction, first-call costs
    tasks = make_regions(count, seed=1)
    wall, cpu = region_seconds(tasks, jobs=1)
    startup = region_seconds(make_regions(cores, seed=4), jobs=cores)[0] if cores > 1 else 0.0
    everything = count / region_seconds(tasks, jobs=cores)[0]
    return {
        "regions_per_s_1core": round(count / wall, 3),
        # CPU time does not grow when other processes share the core: the rate of an idle core.
        "regions_per_cpu_s_1core": round(count / cpu, 3),
        "regions_per_s_allcores": round(everything, 3),
        "worker_startup_s_with_one_region_each": round(startup, 2),
        "cores": cores,
        "features_per_region": len(task_names(load_settings(dimensions=3))),
        "regions_measured": count,
        "mean_region_voxels": round(float(np.mean([t.mask.sum() for t in tasks])), 1),
        "mean_box_voxels": round(float(np.mean([t.mask.size for t in tasks])), 1),
        "radius_mm": list(REGION_RADII_MM),
        "spacing_zyx_mm": list(REGION_SPACING_MM),
        "settings": "radiomics_3d.yaml (shipped)",
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),  # a shared machine's figures vary with it
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--rois", type=int, default=96, help="ROIs per measurement (default 96)")
    parser.add_argument("--roi-size", type=int, default=EvaluationConfig.roi_size_px, help="box side, px")
    parser.add_argument("--regions", type=int, metavar="N", help="measure N 3-D regions instead of ROIs")
    args = parser.parse_args(argv)
    if args.regions:
        return regions_main(args)

    context_px = EvaluationConfig.context_px
    cores = os.cpu_count() or 1
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # type: ignore[no-untyped-call]  # one core: one thread
    warm = make_tasks(2, args.roi_size, context_px, seed=99)
    extract_many(warm, jobs=1)  # imports, extractor construction, first-call costs
    one = args.rois / seconds(make_tasks(args.rois, args.roi_size, context_px, seed=1), jobs=1)
    figures = {
        "rois_per_s_1core": round(one, 3),
        **all_core_figures(args.rois, args.roi_size, context_px, cores),
        "cores": cores,
        "features_per_roi": len(feature_names()),
        "roi_size_px": args.roi_size,
        "context_px": context_px,
        "pixel_mm": SPACING_MM[0],
        "rois_measured": args.rois,
        "pyradiomics": PYRADIOMICS_VERSION,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    return _report(figures, f"--rois {args.rois} --roi-size {args.roi_size}", args.json)


def regions_main(args: argparse.Namespace) -> int:
    cores = os.cpu_count() or 1
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # type: ignore[no-untyped-call]  # one core: one thread
    figures = {
        **region_figures(args.regions, cores),
        "pyradiomics": PYRADIOMICS_VERSION,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    return _report(figures, f"--regions {args.regions}", args.json)


def _report(figures: dict[str, Any], options: str, json_path: Path | None) -> int:
    """Print the figures as JSON (and write them to `json_path`), then the command that reproduces them."""
    text = json.dumps(figures, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text + "\n", encoding="utf-8")
    command = f"python benchmarks/features.py {options}"
    print(f"reproduce: {command}" + (f" --json {json_path}" if json_path else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
