"""The paper's comparison (Tables 1-2), reproduced: every method on the same pairs, budget and seed.

For each data set (the built-in phantom; the shared lung CT when present) every method of
`radiomicgan train --model` (RadiomicGAN, its ablations RadiomicGAN1 = fixed, RadiomicGAN2 = dynamic
and minmax, pix2pix, Choe, GANai, STAN-CT, histogram matching, the Wiener filter) trains on the same
paired training slices with the same step budget and seed, harmonizes the same held-apart test
slices, and `radiomicgan evaluate` scores them beside the input and the retest, with ComBat rows.
Writes, per data set, the evaluation folder (report.html, results.json) and Table 1 (reproducible
features per HU range, mean ± SD) and Table 2 (PSNR, SSIM) as Markdown and JSON.

    .venv/bin/python benchmarks/reproduce_tables.py --work /tmp/rg-tables --out tables/

`--budget-scale K` multiplies every learned method's steps (e.g. 10 on a GPU, with `--device cuda`).
Stages are cached in --work; a finished run is not redone, and an evaluation only when a method
was added (the features of the others come from the feature cache).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from radiomicgan.config import EvaluationConfig, TrainConfig, build
from radiomicgan.evaluate import evaluate
from radiomicgan.evaluate.combat import COMBAT_SUFFIX
from radiomicgan.inference import HarmonizeConfig, Harmonizer, harmonize_path
from radiomicgan.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # the lung CT split is the quality benchmark one

SOURCE, DOSE = quality.SCENARIOS["fbp"]  # the paper's tables pair two FBP kernels at one dose
VGG = "radiomicgan"  # the paper's generator, the VGG-19 U-Net
# name in the tables -> (method, schedule, model.prefilter, model.generator). "RadiomicGAN" and its
# ablations are the paper's network (no prefilter), differing by schedule only; then ours: the
# paper's network behind the Wiener prefilter, and the small residual U-Net behind it.
# The baselines train their papers' own networks whatever model.generator says.
METHODS: dict[str, tuple[str, str, str, str]] = {
    "RadiomicGAN": ("radiomicgan", "fixed+dynamic", "none", VGG),
    "RadiomicGAN + Wiener prefilter": ("radiomicgan", "fixed+dynamic", "wiener", VGG),
    "residual U-Net + Wiener prefilter": ("radiomicgan", "fixed+dynamic", "wiener", "residual_unet"),
    "RadiomicGAN1 (fixed)": ("radiomicgan", "fixed", "none", VGG),
    "RadiomicGAN2 (dynamic)": ("radiomicgan", "dynamic", "none", VGG),
    "RadiomicGAN (minmax)": ("radiomicgan", "minmax", "none", VGG),
    "pix2pix": ("pix2pix", "minmax", "none", VGG),
    "Choe et al.": ("choe", "minmax", "none", VGG),
    "GANai": ("ganai", "minmax", "none", VGG),
    "STAN-CT": ("stanct", "minmax", "none", VGG),
    "histogram matching": ("histmatch", "minmax", "none", VGG),
    "Wiener filter": ("wiener", "minmax", "none", VGG),
}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    datasets = {"phantom": _phantom_split(work / "phantom", args.jobs)}
    if quality.LUNG_CT.is_file() and not args.phantom_only:
        datasets["lung CT"] = quality._simulate_and_split(work / "lung", args.jobs, SOURCE, DOSE)
    tables: dict[str, Any] = {}
    for name, split in datasets.items():
        folder = work / name.replace(" ", "_")
        candidates = _train_and_harmonize(split, folder, args)
        results = _evaluate(split, candidates, folder, args)
        tables[name] = results["candidates"]
    document = {"command": _command(argv), "budget": _budget(args), "tables": tables}
    (out / "tables.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "tables.md").write_text(_markdown(document))
    print(_markdown(document))
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default="/tmp/rg-tables", help="cache folder for data, runs, outputs")
    parser.add_argument("--out", default="tables", help="where tables.md and tables.json go")
    # 12 epochs: with th_eta 1 the fixed phase reaches the full range by epoch 8, leaving 4 dynamic
    # epochs, so RadiomicGAN, RadiomicGAN1 and RadiomicGAN2 differ (at 6 they were one schedule)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of every learned method")
    parser.add_argument("--steps-per-epoch", type=int, default=6, help="steps per epoch before scaling")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply the steps (GPU: 10+)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--rois", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--phantom-only", action="store_true", help="skip the shared lung CT")
    return parser.parse_args(argv)


def _phantom_split(folder: Path, jobs: int) -> Path:
    """Training scan (seed 1) and test scan with a retest (seed 2), 12 slices of 256 px each."""
    if (folder / "test" / quality.RETEST).is_dir():
        return folder
    return quality.phantom_split(folder, jobs, SOURCE, {}, size_px=256, slices=12)


def _train_and_harmonize(split: Path, folder: Path, args: argparse.Namespace) -> dict[str, Path]:
    candidates = {"input": split / "test" / SOURCE}
    steps = max(1, round(args.steps_per_epoch * args.budget_scale))
    for label, (method, schedule, prefilter, generator) in METHODS.items():
        key = _slug(label)
        run_dir, harmonized = folder / "runs" / key, folder / "harmonized" / key
        if not (run_dir / "model.safetensors").is_file():
            config = build(
                TrainConfig,
                {
                    "source": [str(split / "train" / SOURCE)],
                    "target": [str(split / "train" / quality.TARGET)],
                    "out": str(run_dir),
                    "method": method,
                    "epochs": args.epochs,
                    "steps_per_epoch": steps,
                    "seed": args.seed,
                    "device": args.device,
                    "val_slices_max": 3,
                    "window": {"schedule": schedule, "th_eta": 1},
                    "model": {"prefilter": prefilter, "generator": generator},
                },
            )
            start = time.perf_counter()
            train(config, progress=True)
            (run_dir / "train_seconds.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
        if not harmonized.is_dir():
            harmonizer = Harmonizer.load(run_dir, HarmonizeConfig(device=args.device))
            harmonize_path(harmonizer, split / "test" / SOURCE, harmonized)
        candidates[label] = harmonized
    candidates["retest"] = split / "test" / quality.RETEST
    return candidates


def _evaluate(
    split: Path, candidates: dict[str, Path], folder: Path, args: argparse.Namespace
) -> dict[str, Any]:
    report = folder / "evaluation"
    if _evaluated_candidates(report) != set(candidates):  # none yet, or a method was added since
        config = build(
            EvaluationConfig,
            {
                "n_rois": args.rois,
                "repeats": args.repeats,
                "seed": args.seed,
                # cached by image and ROI: adding a method re-extracts only its features
                "features": {"jobs": args.jobs, "cache_dir": str(Path(args.work) / "feature-cache")},
            },
        )
        runs = {"RadiomicGAN": folder / "runs" / _slug("RadiomicGAN")}
        evaluate(
            split / "test" / quality.TARGET, candidates, report, config,
            combat=True, training_runs=runs, overwrite=True,
        )  # fmt: skip
    return json.loads((report / "results.json").read_text())  # type: ignore[no-any-return]


def _evaluated_candidates(report: Path) -> set[str]:
    results = report / "results.json"
    if not results.is_file():
        return set()
    names = json.loads(results.read_text())["candidates"]
    return {name for name in names if not name.endswith(COMBAT_SUFFIX)}


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")


def _command(argv: list[str] | None) -> str:
    return "benchmarks/reproduce_tables.py " + " ".join(argv if argv is not None else sys.argv[1:])


def _budget(args: argparse.Namespace) -> dict[str, Any]:
    steps = max(1, round(args.steps_per_epoch * args.budget_scale))
    return {"epochs": args.epochs, "steps_per_epoch": steps, "batch_size": TrainConfig().batch_size,
            "crop_px": TrainConfig().crop_px, "seed": args.seed, "device": args.device,
            "rois": args.rois, "repeats": args.repeats}  # fmt: skip


def _markdown(document: dict[str, Any]) -> str:
    pm = quality.format_mean_sd
    lines = [f"Command: `{document['command']}`", f"Budget: {document['budget']}", ""]
    for name, rows in document["tables"].items():
        ranges = list(next(iter(rows.values()))["reproducible"])
        lines += [f"### {name}: Table 1, reproducible features (CCC > 0.85), mean ± SD", ""]
        lines += [
            "| method | " + " | ".join(f"[{r}]" for r in ranges) + " |",
            "| --- |" + " ---: |" * len(ranges),
        ]
        lines += [
            f"| {m} | " + " | ".join(pm(row["reproducible"][r], "{:.0f}") for r in ranges) + " |"
            for m, row in rows.items()
        ]
        lines += [
            "",
            f"### {name}: Table 2, image quality",
            "",
            "| method | PSNR (dB) | SSIM |",
            "| --- | ---: | ---: |",
        ]
        images = {
            m: row for m, row in rows.items() if not m.endswith(COMBAT_SUFFIX)
        }  # ComBat leaves images as they are
        lines += [
            f"| {m} | {pm(row['psnr'], '{:.2f}')} | {pm(row['ssim'], '{:.4f}')} |"
            for m, row in images.items()
        ]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
