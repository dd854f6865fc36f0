"""Harmonization quality on the shared lung CT: the trained models against the input, the tuned linear
filter, histogram matching and a repeat scan, in three scenarios (issue 17).

Paired series are simulated from ../shared/data/lung1_image.nrrd at 512 px: the standard series is
the sharp FBP kernel (~Bl64), with a retest from independent noise, and the non-standard one is the
`--scenario`'s:

- fbp: the smooth FBP kernel (~Br40) of the same sinogram: a linear filter is nearly exact there;
- iterative: the smooth kernel refined by penalized weighted least squares at strength 3 of 5
  (`smooth+ir3`, docs/kernels.md): edge-preserving, contrast-dependent, no linear filter undoes it;
- lowdose-iterative: the same at a quarter of the standard series' dose.

Training uses slices from one part of the volume, testing slices from another (a gap between them),
stored as integer HU in DICOM. With `--data phantom` (in its own `--work` folder) the digital phantom
takes the lung CT's place: training on one phantom's anatomy (seed 1), testing on another's (seed 2),
as many slices as the lung CT's parts. Candidates scored against the standard test series by the ROI protocol
(CCC > 0.85 counts per HU range, mean ± SD over repeats), PSNR/SSIM, and the local bias (95th
percentile of |mean HU difference| over 10 mm discs in the body, `evaluate.local_bias`):

- input: the non-standard test series as it is;
- wiener: the least-squares filter H = E[YX*]/(E|X|^2 + lambda) fitted on the training pairs,
  lambda chosen on validation pairs (the last 15 % of the training slices);
- histmatch: histogram matching fitted on the training pairs (`methods.histmatch`, full range);
- each trained run under WORK/runs (e.g. prefilter: the default model; paper: the paper's network),
  inference window full [-1024, 1000] (the default), and the same runs in the final training window;
- retest: the standard kernel from an independent noise realization (a repeat scan);
- with --combat, every candidate once more after ComBat to the reference (fitted on other ROIs).

Stages are cached in --work (simulation, split, training runs), so a re-run only redoes what is
missing; `--fresh-run` retrains. Every run under WORK/runs/ is evaluated, each in both inference
windows, so variants (`--run-name`, `--train-config`) are compared on one ROI sampling.

    B=".venv/bin/python benchmarks/quality.py --work /tmp/rg-quality --epochs 20 --steps-per-epoch 22"
    $B --run-name prefilter --train-config benchmarks/configs/quality_prefilter.yaml --train-only
    $B --run-name residual --train-config benchmarks/configs/quality_residual.yaml --train-only
    $B --run-name paper --train-config benchmarks/configs/quality_paper.yaml --train-only
    $B --evaluate-only --json benchmarks/results/quality_lung1.json
    # the iterative scenario, in its own work folder:
    $B --scenario iterative --work /tmp/rg-quality-ir --run-name default --train-only
    $B --scenario iterative --work /tmp/rg-quality-ir --evaluate-only --combat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from radiomicgan.config import EvaluationConfig, SimulationConfig, TrainConfig, WindowConfig, build, load_yaml
from radiomicgan.evaluate import (
    Extraction,
    FeatureCache,
    ReproducibilityProtocol,
    Scan,
    image_quality,
    roi_reproducibility,
)
from radiomicgan.evaluate.local_bias import local_bias_hu
from radiomicgan.evaluate.protocol import range_label
from radiomicgan.evaluate.roi_level import ReproducibilityResult, shared_seed
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import Volume, read_volume, write_volume
from radiomicgan.linear_filter import fit_wiener
from radiomicgan.methods.histmatch import fit_lookup_table
from radiomicgan.modelfile import load_model
from radiomicgan.nets import GENERATOR_SECTIONS
from radiomicgan.nets.lookup_table import KNOTS as HISTMATCH_KNOTS
from radiomicgan.run_folder import RunFolder
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.train import train
from radiomicgan.windowing import from_unit, to_unit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import gflop_per_slice

LUNG_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "lung1_image.nrrd"
TEST_SLICES = range(0, 14)  # the cranial part of the volume
TRAIN_SLICES = range(16, 48)  # the rest, two slices (10 mm) apart from the test block
TARGET, RETEST = "sharp", "sharp_retest"
# issue 17: the non-standard series of each scenario, and its dose (a factor of the standard's photons)
SCENARIOS = {
    "fbp": ("smooth", 1.0),  # two FBP kernels of one sinogram: a linear filter is nearly exact
    "iterative": ("smooth+ir3", 1.0),  # iterative strength 3 at the same dose
    "lowdose-iterative": ("smooth+ir3", 0.25),  # iterative strength 3 at a quarter of the dose
}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    work = Path(args.work)
    source, dose = SCENARIOS[args.scenario]
    split = _simulate_and_split(work, args.jobs, source, dose, args.data)
    run_dir = work / "runs" / args.run_name
    if not args.evaluate_only and (args.fresh_run or not (run_dir / "model.safetensors").is_file()):
        seconds = _train(split, run_dir, args, source)
        (run_dir / "train_seconds.txt").write_text(f"{seconds:.1f}\n")
    if args.train_only:
        return 0
    test = {name: read_volume(split / "test" / name) for name in (source, TARGET, RETEST)}
    candidates = {
        "input": test[source].hu,
        "wiener": _wiener(split, source, test[source]),
        "histmatch": _histmatch(split, source, test[source]),
    }
    runs = {}
    modes = (("full", ""),) if args.full_window_only else (("full", ""), ("training", " (training window)"))
    for run in _runs_to_evaluate(work / "runs", args.runs):
        runs[run.name] = _describe_run(run)
        for mode, suffix in modes:
            settings = HarmonizeConfig(
                device="cpu", window_mode=mode, batch_size=2, texture=not args.no_texture
            )
            harmonizer = Harmonizer.load(run, settings)
            candidates[run.name + suffix] = harmonizer(test[source], progress=True).hu
    candidates["retest"] = test[RETEST].hu
    scores = score(test[TARGET], candidates, _scoring(args))
    report = {
        "command": "benchmarks/quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scenario": {
            "name": args.scenario,
            "data": args.data,
            "source": source,
            "dose": dose,
            "standard": TARGET,
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        **_split_report(args.data),
        "runs": runs,
        **scores,
    }
    text = json.dumps(report, indent=2)
    print(text)
    print(_markdown(scores))
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def _split_report(data: str) -> dict[str, Any]:
    if data == "phantom":
        return {
            "phantom_seeds": {"train": 1, "test": 2},
            "slices": {"train": len(TRAIN_SLICES), "test": len(TEST_SLICES)},
        }
    return {
        "train_slices": [TRAIN_SLICES.start, TRAIN_SLICES.stop],
        "test_slices": [TEST_SLICES.start, TEST_SLICES.stop],
    }


def _runs_to_evaluate(folder: Path, names: list[str] | None) -> list[Path]:
    trained = sorted(p.parent for p in folder.glob("*/model.safetensors"))
    if names is None:
        return trained
    missing = sorted(set(names) - {run.name for run in trained})
    if missing:
        raise SystemExit(f"quality.py: no trained run {', '.join(missing)} in {folder}")
    return [run for run in trained if run.name in names]


def _describe_run(run: Path) -> dict[str, Any]:
    folder = RunFolder(run)
    history, config = folder.read_history(), folder.read_config()
    seconds_file = run / "train_seconds.txt"
    generator, metadata = load_model(run)
    return {
        "generator": metadata.model["generator"],
        "generator_settings": metadata.model.get(GENERATOR_SECTIONS.get(metadata.model["generator"], ""), {}),
        "gflop_per_512_slice": round(gflop_per_slice(generator, 512, torch.device("cpu")), 2),
        "steps": len(history) * int(config["steps_per_epoch"]),
        "seed": config["seed"],
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
    parser.add_argument("--scenario", choices=tuple(SCENARIOS), default="fbp", help="non-standard series")
    parser.add_argument(
        "--data", choices=("lung", "phantom"), default="lung",
        help="simulate from the shared lung CT (default) or the digital phantom (its own --work folder)",
    )  # fmt: skip
    parser.add_argument("--combat", action="store_true", help="also score each candidate after ComBat")
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
    parser.add_argument("--seed", type=int, default=0, help="the training run's seed")
    parser.add_argument("--fresh-run", action="store_true", help="retrain even if the run exists")
    parser.add_argument("--train-only", action="store_true", help="train, then stop (no evaluation)")
    parser.add_argument("--evaluate-only", action="store_true", help="evaluate the runs there are")
    parser.add_argument("--runs", nargs="+", help="evaluate only these runs of WORK/runs (default: all)")
    parser.add_argument(
        "--full-window-only", action="store_true", help="skip each run's training-window variant"
    )
    parser.add_argument(
        "--no-texture", action="store_true",
        help="harmonize without the runs' residual textures (as runs trained before session 12 had none)",
    )  # fmt: skip
    parser.add_argument(
        "--no-cache", action="store_true", help="extract every ROI afresh (default: cached in WORK/features)"
    )
    return parser.parse_args(argv)


def _simulate_and_split(work: Path, jobs: int, source: str, dose: float, data: str = "lung") -> Path:
    split = work / "split"
    if (split / "test" / RETEST).is_dir():
        return split
    doses = {source: dose} if dose != 1.0 else {}
    if data == "phantom":
        return phantom_split(split, jobs, source, doses)
    config = SimulationConfig(
        kernels=(source, TARGET), slices=48, size_px=512, retest=True, seed=0, jobs=jobs, doses=doses
    )
    result = simulate_to_folder(LUNG_CT, work / "sim", config, overwrite=True)
    for name, folder in result.series_dirs.items():
        volume = read_volume(folder)
        write_volume(volume.subset(list(TEST_SLICES)), split / "test" / name, overwrite=True)
        if name != RETEST:
            write_volume(volume.subset(list(TRAIN_SLICES)), split / "train" / name, overwrite=True)
    return split


def phantom_split(
    split: Path, jobs: int, source: str, doses: dict[str, float], size_px: int = 512, slices: int = 0
) -> Path:
    """The digital phantom laid out as the lung CT's split: one phantom's anatomy (seed 1) to train
    on, another's (seed 2) to test on, with its retest. `slices` per part; 0: as many as the lung CT's
    parts (`TRAIN_SLICES`, `TEST_SLICES`)."""
    parts = (("train", 1, slices or len(TRAIN_SLICES)), ("test", 2, slices or len(TEST_SLICES)))
    for part, seed, count in parts:  # the test part last: its retest marks the split complete
        retest = part == "test"
        config = SimulationConfig(
            kernels=(source, TARGET), size_px=size_px, slices=count, seed=seed, retest=retest, jobs=jobs,
            doses=doses,
        )  # fmt: skip
        result = simulate_to_folder("phantom", split.parent / "sim" / part, config, overwrite=True)
        (split / part).mkdir(parents=True, exist_ok=True)
        for name, folder in result.series_dirs.items():  # a low-dose series' folder has a suffix
            shutil.rmtree(split / part / name, ignore_errors=True)
            folder.rename(split / part / name)
    return split


def _train(split: Path, run_dir: Path, args: argparse.Namespace, source: str) -> float:
    shutil.rmtree(run_dir, ignore_errors=True)
    file_layer = load_yaml(args.train_config) if args.train_config else None
    config = build(
        TrainConfig,
        file_layer,
        {
            "source": [str(split / "train" / source)],
            "target": [str(split / "train" / TARGET)],
            "out": str(run_dir),
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "batch_size": args.batch_size,
            "crop_px": args.crop,
            "device": "cpu",
            "seed": args.seed,
            "window": {"schedule": args.schedule},
        },
    )
    start = time.perf_counter()
    train(config, progress=True)
    return time.perf_counter() - start


def _wiener(split: Path, source_name: str, test_source: Volume) -> np.ndarray:
    source = read_volume(split / "train" / source_name).hu
    target = read_volume(split / "train" / TARGET).hu
    n_val = max(1, round(0.15 * len(source)))  # the same held-out block training validates on
    fitted = fit_wiener(source[:-n_val], target[:-n_val], source[-n_val:], target[-n_val:])
    print(f"wiener: relative lambda {fitted.relative_lambda:g}", file=sys.stderr)
    return np.clip(np.rint(fitted(test_source.hu)), -1024, 3071).astype(np.float32)


def _histmatch(split: Path, source_name: str, test_source: Volume) -> np.ndarray:
    """Histogram matching fitted on the training slices in the full range (`methods.histmatch`)."""
    window = WindowConfig().full_range_hu
    source = to_unit(read_volume(split / "train" / source_name).hu, window)
    target = to_unit(read_volume(split / "train" / TARGET).hu, window)
    table = fit_lookup_table(source, target, HISTMATCH_KNOTS)
    unit = np.interp(to_unit(test_source.hu, window), np.linspace(0.0, 1.0, HISTMATCH_KNOTS), table)
    matched = from_unit(unit.astype(np.float32), window)
    outside = (test_source.hu < window[0]) | (test_source.hu > window[1])  # pasted back, as harmonize does
    return np.clip(np.rint(np.where(outside, test_source.hu, matched)), -1024, 3071).astype(np.float32)


@dataclass(frozen=True)
class Scoring:
    """How `score` scores the candidates: the ROI protocol's size, the feature processes, ComBat and
    the feature cache (this script's and unpaired.py's options)."""

    rois: int
    repeats: int
    jobs: int  # 0: all cores
    combat: bool = False  # also score each candidate after ComBat to the reference
    # the ROIs of input, filters, retest and runs already scored are the same: only new ones extract
    cache_dir: Path | None = None


def _scoring(args: argparse.Namespace) -> Scoring:
    cache_dir = None if args.no_cache else Path(args.work) / "features"
    return Scoring(
        rois=args.rois, repeats=args.repeats, jobs=args.jobs, combat=args.combat, cache_dir=cache_dir
    )


def score(reference: Volume, candidates: dict[str, np.ndarray], scoring: Scoring) -> dict[str, Any]:
    """Each candidate against the reference: reproducible features per HU range (mean and SD over the
    ROI repeats, paired with the Wiener filter's repeat by repeat), PSNR/SSIM and the local bias."""
    return score_with_result(reference, candidates, scoring)[0]


def score_with_result(
    reference: Volume, candidates: dict[str, np.ndarray], scoring: Scoring
) -> tuple[dict[str, Any], ReproducibilityResult]:
    """`score`'s figures and the ROI reproducibility result they come from (each feature's CCC)."""
    config = EvaluationConfig(n_rois=scoring.rois, repeats=scoring.repeats)
    spacing = (reference.spacing_zyx_mm[1], reference.spacing_zyx_mm[2])
    scan = Scan.from_volumes(reference.hu, candidates, spacing)
    cache = None if scoring.cache_dir is None else FeatureCache(scoring.cache_dir)
    extraction = Extraction(jobs=scoring.jobs, progress=True, cache=cache)
    # shared_seed: the ROIs the recorded benchmarks/results were measured on
    result = roi_reproducibility(
        [scan], ReproducibilityProtocol.from_config(config), extraction,
        combat=scoring.combat, seed_of=shared_seed,
    )  # fmt: skip
    quality = image_quality([scan], config.quality_range_hu)
    summary = result.summary()
    paired = _paired_with(result.counts, "wiener")
    table = {
        name: {
            "reproducible": {range_label(r): summary[name][range_label(r)] for r in config.hu_ranges},
            **quality.get(name, {}),
            # issue 17: a model may add texture but must not move densities (10 mm discs, 95th percentile)
            **({"local_bias_hu": round(local_bias_hu(reference.hu, candidates[name], spacing), 2)}
               if name in candidates else {}),
        }
        for name in summary
    }  # fmt: skip
    figures = {"features": len(result.feature_names), "candidates": table, "paired_with_wiener": paired}
    return figures, result


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
        "| candidate | " + " | ".join(ranges) + " | PSNR (dB) | SSIM | local bias (HU) |",
        "| --- |" + " --- |" * (len(ranges) + 3),
    ]
    for name, row in scores["candidates"].items():
        cells = [format_mean_sd(row["reproducible"][r], "{:.1f}") for r in ranges]
        psnr = format_mean_sd(row["psnr"], "{:.2f}") if "psnr" in row else "n/a"
        ssim = format_mean_sd(row["ssim"], "{:.4f}") if "ssim" in row else "n/a"
        bias = f"{row['local_bias_hu']:.1f}" if "local_bias_hu" in row else "n/a"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {psnr} | {ssim} | {bias} |")
    return "\n".join(lines)


def format_mean_sd(stats: dict[str, Any], fmt: str) -> str:
    if stats.get("mean") is None:
        return "n/a"
    return f"{fmt.format(stats['mean'])} ± {fmt.format(stats['sd'])}"


if __name__ == "__main__":
    raise SystemExit(main())
