"""Feature extraction throughput: ROIs per second for the full feature set, on one core and on all cores.

Each ROI is what the protocol extracts: a 64 px box (0.7 mm pixels) with 24 px of filter context on every
side, masked to the soft-tissue range [-100, 250] HU of a textured synthetic image, all 1,497 features.
ROIs are all different (no de-duplication) and no cache is used. `rois_per_s_allcores` includes starting
the worker processes (spawned: each imports PyRadiomics), as a user pays it; `worker_startup_s` is that
start-up alone, which a full evaluation (thousands of ROIs) pays once.

    .venv/bin/python benchmarks/features.py --json features.json [--rois 96] [--roi-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.features import FeatureTask, extract_many, feature_names
from radiomicgan.evaluate.rois import range_mask
from radiomicgan.evaluate.settings import PYRADIOMICS_VERSION

SPACING_MM = (0.7, 0.7)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--rois", type=int, default=96, help="ROIs per measurement (default 96)")
    parser.add_argument("--roi-size", type=int, default=EvaluationConfig.roi_size_px, help="box side, px")
    args = parser.parse_args(argv)

    context_px = EvaluationConfig.context_px
    cores = os.cpu_count() or 1
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # "one core" means one thread too
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
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    command = f"python benchmarks/features.py --rois {args.rois} --roi-size {args.roi_size}"
    print(f"reproduce: {command}" + (f" --json {args.json}" if args.json else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
