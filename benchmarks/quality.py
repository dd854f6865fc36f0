"""Harmonization quality on the shared lung CT: RadiomicGAN against the input and the Wiener filter.

Issue 5's quality target. Paired smooth (~Br40) and sharp (~Bl64, standard) kernels are simulated
from ../shared/data/lung1_image.nrrd at 512 px, with a retest of the sharp kernel from independent
noise. Training uses slices from one part of the volume, testing slices from another (a gap between
them), stored as integer HU in DICOM. Candidates scored against the sharp test series by the ROI
protocol (CCC > 0.85 counts per HU range, mean ± SD over repeats) and PSNR/SSIM:

- input: the smooth test series as it is;
- wiener: the least-squares filter H = E[YX*]/(E|X|^2 + lambda) fitted on the training pairs,
  lambda chosen on validation pairs (the last 15 % of the training slices);
- each trained run under WORK/runs (prefilter: the default model, with the Wiener prefilter;
  residual: the paper's network with our residual head; paper: with the paper's sigmoid head),
  inference window full [-1024, 1000] (the default);
- the same runs with inference in the final training window (input pasted back);
- retest: the standard kernel from an independent noise realization (a repeat scan).

Stages are cached in --work (simulation, split, training runs), so a re-run only redoes what is
missing; `--fresh-run` retrains. Every run under WORK/runs/ is evaluated, each in both inference
windows, so variants (`--run-name`, `--train-config`) are compared on one ROI sampling.

    B=".venv/bin/python benchmarks/quality.py --work /tmp/rg-quality --epochs 20 --steps-per-epoch 22"
    $B --run-name prefilter --train-config benchmarks/configs/quality_prefilter.yaml --train-only
    $B --run-name residual --train-config benchmarks/configs/quality_residual.yaml --train-only
    $B --run-name paper --train-config benchmarks/configs/quality_paper.yaml --train-only
    $B --evaluate-only --json benchmarks/results/quality_lung1.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from radiomicgan.config import EvaluationConfig, SimulationConfig, TrainConfig, build, load_yaml
from radiomicgan.evaluate import (
    Extraction,
    ReproducibilityProtocol,
    Scan,
    image_quality,
    roi_reproducibility,
)
from radiomicgan.evaluate.protocol import range_label
from radiomicgan.evaluate.roi_level import shared_seed
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import Volume, read_volume, write_volume
from radiomicgan.linear_filter import fit_wiener
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.train import train

LUNG_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "lung1_image.nrrd"
TEST_SLICES = range(0, 14)  # the cranial part of the volume
TRAIN_SLICES = range(16, 48)  # the rest, two slices (10 mm) apart from the test block
SOURCE, TARGET, RETEST = "smooth", "sharp", "sharp_retest"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    work = Path(args.work)
    split = _simulate_and_split(work, args.jobs)
    run_dir = work / "runs" / args.run_name
    if not args.evaluate_only and (args.fresh_run or not (run_dir / "model.safetensors").is_file()):
        seconds = _train(split, run_dir, args)
        (run_dir / "train_seconds.txt").write_text(f"{seconds:.1f}\n")
    if args.train_only:
        return 0
    test = {name: read_volume(split / "test" / name) for name in (SOURCE, TARGET, RETEST)}
    candidates = {"input": test[SOURCE].hu, "wiener": _wiener(split, test[SOURCE])}
    runs = {}
    for run in sorted(p.parent for p in (work / "runs").glob("*/model.safetensors")):
        runs[run.name] = _describe_run(run)
        for mode, suffix in (("full", ""), ("training", " (training window)")):
            settings = HarmonizeConfig(device="cpu", window_mode=mode, batch_size=2)
            harmonizer = Harmonizer.load(run, settings)
            candidates[run.name + suffix] = harmonizer(test[SOURCE], progress=True).hu
    candidates["retest"] = test[RETEST].hu
    scores = _score(test[TARGET], candidates, args)
    report = {
        "command": "benchmarks/quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "train_slices": [TRAIN_SLICES.start, TRAIN_SLICES.stop],
        "test_slices": [TEST_SLICES.start, TEST_SLICES.stop],
        "runs": runs,
        **scores,
    }
    text = json.dumps(report, indent=2)
    print(text)
    print(_markdown(scores))
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def _describe_run(run: Path) -> dict[str, Any]:
    history = json.loads((run / "history.json").read_text())
    seconds_file = run / "train_seconds.txt"
    return {
        "train_seconds": float(seconds_file.read_text()) if seconds_file.is_file() else None,
        "epochs": len(history),
        "windows_hu": [entry["window_hu"] for entry in history],
        "final_validation": history[-1]["validation"],
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default="/tmp/rg-quality", help="cache folder for data and the run")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--steps-per-epoch", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--schedule", default="fixed+dynamic")
    parser.add_argument("--train-config", help="YAML overriding the training config (model, window, ...)")
    parser.add_argument("--rois", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=0, help="feature/simulation processes (0: all cores)")
    parser.add_argument("--run-name", default="radiomicgan", help="trains into WORK/runs/NAME")
    parser.add_argument("--fresh-run", action="store_true", help="retrain even if the run exists")
    parser.add_argument("--train-only", action="store_true", help="train, then stop (no evaluation)")
    parser.add_argument("--evaluate-only", action="store_true", help="evaluate the runs there are")
    return parser.parse_args(argv)


def _simulate_and_split(work: Path, jobs: int) -> Path:
    split = work / "split"
    if (split / "test" / RETEST).is_dir():
        return split
    config = SimulationConfig(
        kernels=(SOURCE, TARGET), slices=48, size_px=512, retest=True, seed=0, jobs=jobs
    )
    result = simulate_to_folder(LUNG_CT, work / "sim", config, overwrite=True)
    for name, folder in result.series_dirs.items():
        volume = read_volume(folder)
        write_volume(volume.subset(list(TEST_SLICES)), split / "test" / name, overwrite=True)
        if name != RETEST:
            write_volume(volume.subset(list(TRAIN_SLICES)), split / "train" / name, overwrite=True)
    return split


def _train(split: Path, run_dir: Path, args: argparse.Namespace) -> float:
    shutil.rmtree(run_dir, ignore_errors=True)
    file_layer = load_yaml(args.train_config) if args.train_config else None
    config = build(
        TrainConfig,
        file_layer,
        {
            "source": [str(split / "train" / SOURCE)],
            "target": [str(split / "train" / TARGET)],
            "out": str(run_dir),
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "batch_size": args.batch_size,
            "crop_px": args.crop,
            "device": "cpu",
            "window": {"schedule": args.schedule},
        },
    )
    start = time.perf_counter()
    train(config, progress=True)
    return time.perf_counter() - start


def _wiener(split: Path, test_source: Volume) -> np.ndarray:
    source = read_volume(split / "train" / SOURCE).hu
    target = read_volume(split / "train" / TARGET).hu
    n_val = max(1, round(0.15 * len(source)))  # the same held-out block training validates on
    fitted = fit_wiener(source[:-n_val], target[:-n_val], source[-n_val:], target[-n_val:])
    print(f"wiener: relative lambda {fitted.relative_lambda:g}", file=sys.stderr)
    return np.clip(np.rint(fitted(test_source.hu)), -1024, 3071).astype(np.float32)


def _score(reference: Volume, candidates: dict[str, np.ndarray], args: argparse.Namespace) -> dict[str, Any]:
    config = EvaluationConfig(n_rois=args.rois, repeats=args.repeats)
    scan = Scan.from_volumes(
        reference.hu, candidates, (reference.spacing_zyx_mm[1], reference.spacing_zyx_mm[2])
    )
    # shared_seed: the ROIs the recorded benchmarks/results were measured on
    result = roi_reproducibility(
        [scan], ReproducibilityProtocol.from_config(config), Extraction(jobs=args.jobs, progress=True),
        seed_of=shared_seed,
    )  # fmt: skip
    quality = image_quality([scan], config.quality_range_hu)
    summary = result.summary()
    paired = _paired_with(result.counts, "wiener")
    table = {
        name: {
            "reproducible": {range_label(r): summary[name][range_label(r)] for r in config.hu_ranges},
            **quality[name],
        }
        for name in candidates
    }
    return {"features": len(result.feature_names), "candidates": table, "paired_with_wiener": paired}


def _paired_with(counts: pd.DataFrame, reference: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Each candidate's reproducible count minus `reference`'s, repeat by repeat, per range.

    Every candidate is scored on the same ROIs in a repeat, so the differences are paired: "wins" is
    the number of repeats the candidate was ahead in, with the differences' mean and SD.
    """
    table = counts.pivot_table(index=["range", "repeat"], columns="candidate", values="n_reproducible")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in table.columns:
        if name == reference:
            continue
        differences = (table[name] - table[reference]).astype(float).dropna()
        out[str(name)] = {
            str(label): {
                "wins": int((d > 0).sum()),
                "repeats": int(d.size),
                "mean_difference": float(d.mean()),
                "sd": float(d.std(ddof=1)) if d.size > 1 else None,
            }
            for label, d in differences.groupby(level="range")
        }
    return out


def _markdown(scores: dict[str, Any]) -> str:
    ranges = list(next(iter(scores["candidates"].values()))["reproducible"])
    lines = [
        "| candidate | " + " | ".join(ranges) + " | PSNR (dB) | SSIM |",
        "| --- |" + " --- |" * (len(ranges) + 2),
    ]
    for name, row in scores["candidates"].items():
        cells = [format_mean_sd(row["reproducible"][r], "{:.1f}") for r in ranges]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {format_mean_sd(row['psnr'], '{:.2f}')} | {format_mean_sd(row['ssim'], '{:.4f}')} |"
        )
    return "\n".join(lines)


def format_mean_sd(stats: dict[str, Any], fmt: str) -> str:
    if stats.get("mean") is None:
        return "n/a"
    return f"{fmt.format(stats['mean'])} ± {fmt.format(stats['sd'])}"


if __name__ == "__main__":
    raise SystemExit(main())
