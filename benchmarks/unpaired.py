"""Unpaired harmonization of the shared lung CT: what `train --unpaired` recovers of paired training.

The lung CT is simulated and split as benchmarks/quality.py does it (`--scenario` picks the
non-standard series: fbp, iterative or lowdose-iterative; test slices 0-13, training slices 16-47).
The training slices are then cut into unpaired halves: the non-standard kernel of the first half
(slices 16-31) and the standard kernel of the OTHER half (slices 32-47), two series of different
anatomy, as two sites' scans would be. Every unpaired method sees only those; the paired ceiling
sees both kernels of all training slices. Each candidate harmonizes the held-out test slices and is
scored against their true standard reconstruction by quality.py's scoring: reproducible features
(CCC > 0.85) per HU range, mean ± SD over the ROI repeats, PSNR/SSIM and the local bias.

Rows:
- input: the non-standard test slices as they are;
- histmatch: histogram matching fitted on the unpaired halves (`train --unpaired --model histmatch`);
- spectral: the zero-phase filter sqrt(NPS_standard / NPS_source) from the halves, with its detail
  limit (`train --unpaired`, the unpaired default since session 17);
- METHOD seed K: each unpaired method of `--methods` (without it `cut`, the learned default), one row
  per seed (`--seeds`), with the mean over seeds; `spectral` with --label and --train-config fits a
  variant of the filter (one "seed" is one fit);
- paired: the default paired model (benchmarks/configs/quality_resunet8_budget.yaml, the default
  generator since session 16, and its 20-minute budget, --paired-epochs 136) trained on the pairs of
  all training slices, the ceiling; or a finished run given by `--paired-run` (the tables so far
  used the width-16 default's, /tmp/rg-quality-*/runs/resunet16-budget-e100);
- wiener: the least-squares linear filter fitted on those pairs (quality.py's), the paired linear
  ceiling (quality.py's scoring pairs every row's counts with it, repeat by repeat);
- retest: the standard kernel from independent noise (a repeat scan).

"recovered" is each unpaired row's gain over the input as a share of the paired model's, per HU
range (reproducible counts) and for PSNR. Stages are cached in --work (simulation, halves, runs);
--fresh-run retrains. Seconds per step are the runs' wall time over their steps, on this machine.

The CycleGAN runs (session 9, CycleGAN then the unpaired default): 20 epochs of 40 steps on 4 crops
of 64 px, 20 minutes per seed on this machine's 2 cores (Choe et al.'s CNN takes 1.3 s a step with
one torch thread, and 6 s with two while other work shares the cores: hence --threads 1), with the
VGG U-Net's finished paired runs (the paired default then) as the ceiling:

    B=".venv/bin/python benchmarks/unpaired.py"
    $B --work /tmp/rg-unpaired --methods cyclegan --epochs 20 --steps-per-epoch 40 --crop 64 \
        --seeds 3 --threads 1 --paired-run /tmp/rg-quality-fbp/runs/prefilter \
        --json benchmarks/results/unpaired_lung1.json
    $B --work /tmp/rg-unpaired-ir --scenario iterative --methods cyclegan --epochs 20 \
        --steps-per-epoch 40 --crop 64 --seeds 3 --threads 1 \
        --paired-run /tmp/rg-quality-ir/runs/prefilter --json benchmarks/results/unpaired_lung1_iterative.json

CUT (session 11, the unpaired default since): 20 epochs of 100 steps on 4 crops of 64 px, 0.64-0.68
s a step with one torch thread beside other work, 21-23 minutes per seed, with today's default
model's finished paired runs as the ceiling:

    $B --work /tmp/rg-unpaired --methods cut --seeds 3 --epochs 20 --steps-per-epoch 100 --crop 64 \
        --threads 1 --paired-run /tmp/rg-quality-fbp/runs/resunet16-budget-e100 \
        --json benchmarks/results/unpaired_lung1_cut.json
    $B --work /tmp/rg-unpaired-ir --scenario iterative --methods cut --seeds 3 --epochs 20 \
        --steps-per-epoch 100 --crop 64 --threads 1 \
        --paired-run /tmp/rg-quality-ir/runs/resunet16-budget-e100 \
        --json benchmarks/results/unpaired_lung1_iterative_cut.json

Without --paired-run the ceiling is trained here (--paired-epochs, --paired-steps-per-epoch; --threads
holds for it too, which slows it); --no-paired scores without a ceiling, and without "recovered".

The tiny check it was run with (10 minutes, the split copied from a quality.py work folder; it says
that the script works, not how well anything does):

    $B --work /tmp/rg-unpaired-tiny --epochs 2 --steps-per-epoch 5 --crop 64 --seeds 1 --threads 1 \
        --paired-epochs 1 --paired-steps-per-epoch 2 --rois 10 --repeats 2 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiomicgan.config import TrainConfig, build, load_yaml
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import read_volume, write_volume
from radiomicgan.methods import METHODS
from radiomicgan.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # the lung CT split, its scoring and its table
from benchkit import command_line, device_name

PAIRED_CONFIG = Path(__file__).resolve().parent / "configs" / "quality_resunet8_budget.yaml"
# the rows of --methods: every unpaired method but histogram matching, which is always a row (a fitted
# method's "seeds" are one fit of its --train-config variant: spectral+LABEL seed 0)
UNPAIRED_ROWS = tuple(name for name, method in METHODS.items() if method.unpaired and name != "histmatch")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    source, dose = quality.SCENARIOS[args.scenario]
    split = quality._simulate_and_split(work, args.jobs, source, dose)
    halves = _unpaired_halves(split, work / "unpaired", source)
    runs = _train_runs(args, work / "runs", split, halves, source)
    if args.train_only:
        return 0
    test = {name: read_volume(split / "test" / name) for name in (source, quality.TARGET, quality.RETEST)}
    candidates = {"input": test[source].hu}
    for name, run in runs.items():
        harmonizer = Harmonizer.load(run, HarmonizeConfig(device="cpu", batch_size=2))
        candidates[name] = harmonizer(test[source], progress=True).hu
    candidates["wiener"] = quality._wiener(split, source, test[source])  # the paired linear filter
    candidates["retest"] = test[quality.RETEST].hu
    cache_dir = None if args.no_cache else work / "features"
    scoring = quality.Scoring(rois=args.rois, repeats=args.repeats, jobs=args.jobs, cache_dir=cache_dir)
    scores = quality.score(test[quality.TARGET], candidates, scoring)
    report = {
        "command": command_line(__file__, argv),
        "scenario": {"name": args.scenario, "source": source, "dose": dose, "standard": quality.TARGET},
        "machine": f"{device_name(torch.device('cpu'))}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads",
        "halves": {
            "source_slices": list(halves["source_slices"]),
            "target_slices": list(halves["target_slices"]),
        },
        "runs": {name: _describe(run) for name, run in runs.items()},
        **scores,
        "recovered": _recovered(
            scores["candidates"], [_row(m, args.label) for m in args.methods], list(runs)
        ),
    }
    text = json.dumps(report, indent=2)
    print(text)
    print(quality._markdown(scores))
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default="/tmp/rg-unpaired", help="cache folder for data and runs")
    parser.add_argument(
        "--scenario", choices=tuple(quality.SCENARIOS), default="fbp", help="non-standard series"
    )
    parser.add_argument(
        "--methods", nargs="+", choices=UNPAIRED_ROWS, default=["cut"],
        help="the unpaired methods to train with every seed (spectral: a fitted variant, --label)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3, help="unpaired model runs, seeds 0 .. N-1")
    parser.add_argument(
        "--first-seed", type=int, default=0,
        help="start the seeds here (train one seed per process: --first-seed K --seeds 1 --train-only)",
    )  # fmt: skip
    parser.add_argument(
        "--label", help="a variant's name (its --train-config): rows and runs METHOD+LABEL seed K"
    )
    parser.add_argument("--epochs", type=int, default=20, help="the unpaired model's epochs")
    parser.add_argument("--steps-per-epoch", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument(
        "--train-config", help="YAML overriding the unpaired model's config (model, baselines)"
    )
    parser.add_argument("--paired-run", help="a finished paired run to score as the ceiling (else trained)")
    parser.add_argument(
        "--no-paired", action="store_true", help="no paired ceiling: score the unpaired rows only"
    )
    parser.add_argument("--paired-epochs", type=int, default=136, help="the paired ceiling's epochs")
    parser.add_argument("--paired-steps-per-epoch", type=int, default=22)
    parser.add_argument("--paired-crop", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--rois", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=0, help="feature/simulation processes (0: all cores)")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--fresh-run", action="store_true", help="retrain the runs that exist")
    parser.add_argument("--train-only", action="store_true", help="train, then stop (no evaluation)")
    parser.add_argument(
        "--no-cache", action="store_true", help="extract every candidate's features (no WORK/features cache)"
    )
    return parser.parse_args(argv)


def _unpaired_halves(split: Path, root: Path, source: str) -> dict[str, Any]:
    """The non-standard kernel of the first half of the training slices, the standard of the second."""
    train_source = read_volume(split / "train" / source)
    half = len(train_source.hu) // 2
    first, second = range(0, half), range(half, len(train_source.hu))
    offset = quality.TRAIN_SLICES.start
    halves: dict[str, Any] = {
        "source": root / "source",
        "target": root / "target",
        "source_slices": range(offset + first.start, offset + first.stop),
        "target_slices": range(offset + second.start, offset + second.stop),
    }
    if not (root / "target").is_dir():
        write_volume(train_source.subset(list(first)), halves["source"], overwrite=True)
        target = read_volume(split / "train" / quality.TARGET)
        write_volume(target.subset(list(second)), halves["target"], overwrite=True)
    return halves


def _train_runs(
    args: argparse.Namespace, root: Path, split: Path, halves: dict[str, Any], source: str
) -> dict[str, Path]:
    """Every run to score, trained when missing (or with --fresh-run): name -> run folder."""
    unpaired = {"source": [str(halves["source"])], "target": [str(halves["target"])], "unpaired": True}
    common = {"device": "cpu", "crop_px": args.crop, "batch_size": args.batch_size}
    learned = {**common, "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch}
    file_layer = load_yaml(args.train_config) if args.train_config else None
    layers: dict[str, list[dict[str, Any] | None]] = {
        "histmatch": [{**unpaired, **common, "method": "histmatch"}],
        "spectral": [{**unpaired, **common, "method": "spectral"}],
    }
    for method in args.methods:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            steps = common if METHODS[method].fitted else learned
            layers[f"{_row(method, args.label)} seed {seed}"] = [
                file_layer,
                {**unpaired, **steps, "method": method, "seed": seed},
            ]
    if not args.paired_run and not args.no_paired:
        paired = {
            "source": [str(split / "train" / source)], "target": [str(split / "train" / quality.TARGET)],
            "device": "cpu", "epochs": args.paired_epochs, "steps_per_epoch": args.paired_steps_per_epoch,
            "crop_px": args.paired_crop, "batch_size": args.batch_size,
        }  # fmt: skip
        layers["paired"] = [load_yaml(PAIRED_CONFIG), paired]
    runs: dict[str, Path] = {}
    for name, config_layers in layers.items():
        run = root / name.replace(" ", "-")
        if args.fresh_run or not (run / "model.safetensors").is_file():
            _train(build(TrainConfig, *config_layers, {"out": str(run)}), run)
        runs[name] = run
    if args.paired_run:
        runs["paired"] = Path(args.paired_run)
    return runs


def _row(method: str, label: str | None) -> str:
    """A learned method's row name: the method, with the variant's label when one is given."""
    return f"{method}+{label}" if label else method


def _train(config: TrainConfig, run: Path) -> None:
    shutil.rmtree(run, ignore_errors=True)
    start = time.perf_counter()
    train(config, progress=True)
    (run / "train_seconds.txt").write_text(f"{time.perf_counter() - start:.1f}\n")


def _describe(run: Path) -> dict[str, Any]:
    history = json.loads((run / "history.json").read_text())
    config = load_yaml(run / "config.yaml")
    seconds_file = run / "train_seconds.txt"
    seconds = float(seconds_file.read_text()) if seconds_file.is_file() else None
    method = METHODS.get(config.get("method", ""))
    steps = 0 if method is not None and method.fitted else len(history) * config["steps_per_epoch"]
    return {
        "method": config.get("method"),
        "generator": config["model"]["generator"],
        "train_seconds": seconds,
        "epochs": len(history),
        "steps": steps,
        "seconds_per_step": round(seconds / steps, 2) if seconds and steps else None,
        "final_losses": history[-1]["losses"],
        "final_validation": history[-1]["validation"],
    }


def _recovered(table: dict[str, Any], methods: list[str], runs: list[str]) -> dict[str, Any]:
    """Each unpaired row's gain over the input, as a share of the paired model's (counts per range, PSNR),
    and each learned method's mean over its seeds."""
    if "paired" not in table:
        return {}

    def mean(name: str, key: str, label: str | None = None) -> float | None:
        stats = table[name]["reproducible"][label] if label else table[name].get(key, {})
        return stats.get("mean") if isinstance(stats, dict) else None

    seeded = {method: [n for n in runs if n.startswith(f"{method} seed ")] for method in methods}
    learned = [n for seed_runs in seeded.values() for n in seed_runs]
    names = [n for n in ("histmatch", "spectral", *learned) if n in table]
    ranges = list(table["input"]["reproducible"])
    out: dict[str, Any] = {}
    for name in names:
        shares: dict[str, float | None] = {}
        for label in [*ranges, "psnr"]:
            key = "psnr" if label == "psnr" else "reproducible"
            row_label = None if label == "psnr" else label
            values = [mean(n, key, row_label) for n in (name, "input", "paired")]
            if None in values or values[2] == values[1]:
                shares[label] = None
                continue
            value, base, ceiling = (float(v) for v in values)  # type: ignore[arg-type]
            shares[label] = round((value - base) / (ceiling - base), 3)
        out[name] = shares
    for method, seed_runs in seeded.items():
        per_run = [out[n] for n in seed_runs if n in out]
        if per_run:
            out[f"{method} mean"] = {label: _mean_of([r[label] for r in per_run]) for label in per_run[0]}
    return out


def _mean_of(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.mean(known)), 3) if known else None


if __name__ == "__main__":
    raise SystemExit(main())
