"""`radiomicgan harmonize` wall time per model against the Wiener filter's (issue 21's speed target).

Issue 21 asks that `harmonize` with the default model take at most 3x the wall time of the same command
with the Wiener filter model on the same 61-slice 512 x 512 DICOM series, start-up, reading and writing
included, measured back to back. In one run this script:

- writes a textured synthetic CT series of `--slices` slices (`harmonize_memory.synthetic_slices`,
  blurred as the source kernel, `node.write_series`) and a 6-slice pair of the same kind;
- trains a real model per candidate on that pair with the public `radiomicgan.train.train`: the
  Wiener filter (fitted, one pass) and, per `--generators` entry, `method="radiomicgan"` (its Wiener
  prefilter included, as the default model has it) with that generator, for 1 epoch of `--steps`
  steps. Speed does not depend on how well a model is trained. A residual generator's head starts at
  zero and moves little in 2 steps, so a model would output its (prefiltered) input and the ONNX-vs-
  torch check at load would be trivially met: the head is given small random weights and the model
  file saved again (`radiomicgan.modelfile.save_model`), as `benchmarks/inference.py` does;
- runs `python -m radiomicgan harmonize --model RUN SERIES OUT --quiet` as a child process, as a user
  does, with an empty ONNX cache: first once per model (`first_run_s`: the ONNX export included where
  the engine is ONNX Runtime), then `--repeats` rounds, each running every model once, back to back,
  into a fresh output folder (`seconds`, `median_s`, `slices_per_s`);
- reads from each run's log the engine harmonize chose (`--engine auto`: ONNX Runtime on a CPU where
  it stays within 1 HU of torch on probe slices, else torch) and that difference (`onnx_vs_torch_hu`);
- counts each generator's forward FLOPs on one slice (`gflop_per_slice`, torch.utils.flop_counter,
  which does not count the prefilter's FFTs), and gives `ratio_to_wiener` (median over median) and
  `target_met` (ratio <= 3) per candidate.

A generator is NAME or NAME:WIDTH: `residual_unet[:base_channels]`, `choe[:channels]`,
`unet[:base_channels]`, `radiomicgan` (the VGG-19 U-Net, no width). A suffix `@torch` or `@onnx`
runs it with `harmonize --engine` set so (issue 21: "ONNX Runtime or torch, whichever is faster
within 1 HU"): e.g. `residual_unet@torch residual_unet@onnx`. `--repeats-of NAME=N` gives one
generator its own number of rounds (the VGG U-Net takes minutes a run on a 2-core CPU).

    .venv/bin/python benchmarks/harmonize_speed.py --json benchmarks/results/harmonize_speed_cpu.json \
        [--generators residual_unet radiomicgan residual_unet:8 choe:32] [--slices 61] [--size 512]
        [--repeats 3] [--repeats-of radiomicgan=1] [--threads N] [--device cpu|cuda] [--steps 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radiomicgan.config import ENGINES, GENERATOR_SECTIONS, ModelConfig, TrainConfig, VGGUNetConfig
from radiomicgan.modelfile import load_model, load_prefilter, save_model
from radiomicgan.train import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import command_line, device_name, emit
from inference import gflop_per_slice
from node import SOURCE_KERNEL, TARGET_KERNEL, write_series

WIENER = "wiener"
TARGET_RATIO = 3.0  # issue 21: the default model's harmonize within 3x the Wiener filter's
PAIR_SLICES = 6
# what NAME:WIDTH sets, per generator: the field of its ModelConfig section (nets.GENERATOR_SECTIONS)
WIDTHS = {"residual_unet": "base_channels", "choe": "channels", "unet": "base_channels"}
GENERATORS = (*WIDTHS, "radiomicgan")
ENGINE_LINE = re.compile(r"harmonizing .* on (\w+), (\w+), (ONNX Runtime|torch)$", re.MULTILINE)
ONNX_CHECK_LINE = re.compile(r"ONNX Runtime differs from torch by up to (\S+) HU")


@dataclasses.dataclass
class Candidate:
    """One model to time: its label, how it trains, and its run folder once trained."""

    label: str
    method: str
    model: ModelConfig
    repeats: int
    engine: str = "auto"  # harmonize --engine
    run: Path = Path()
    times: list[float] = dataclasses.field(default_factory=list)
    logs: list[str] = dataclasses.field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    load_at_start = os.getloadavg()
    candidates = [Candidate(WIENER, WIENER, ModelConfig(), args.repeats)]
    candidates += [_candidate(spec, args) for spec in args.generators]
    with tempfile.TemporaryDirectory(prefix="rg-harmonize-speed-") as tmp:
        root = Path(tmp)
        pair = write_pair(root / "pair", args.size)
        for candidate in candidates:
            candidate.run = train_candidate(candidate, pair, root / "runs", args)
        series = root / "series"
        write_series(series, "harmonize-speed", args.slices, args.size, SOURCE_KERNEL)
        time_back_to_back(candidates, series, root, args)
        figures = _figures(candidates, args)
    figures["load_average_1_5_15_min"] = {"start": load_at_start, "end": os.getloadavg()}
    figures["torch"], figures["onnxruntime"] = torch.__version__, version("onnxruntime")
    figures["command"] = command_line(__file__, argv)
    emit(figures, args.json)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--generators", nargs="+", default=["residual_unet", "radiomicgan"],
                        help="NAME or NAME:WIDTH (default: residual_unet radiomicgan)")  # fmt: skip
    parser.add_argument("--slices", type=int, default=61, help="slices of the series (default 61)")
    parser.add_argument("--size", type=int, default=512, help="slice side in px (default 512)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the first (default 3)")
    parser.add_argument("--repeats-of", action="append", default=[], metavar="NAME=N",
                        help="a generator's own number of rounds, e.g. radiomicgan=1")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="harmonize's threads (default: all cores)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="harmonize --device")
    parser.add_argument("--steps", type=int, default=2, help="training steps of each model (default 2)")
    args = parser.parse_args(argv)
    args.repeats_of = dict(_pair(text, parser) for text in args.repeats_of)
    return args


def _pair(text: str, parser: argparse.ArgumentParser) -> tuple[str, int]:
    name, _, count = text.partition("=")
    if not count.isdigit():
        parser.error(f"--repeats-of takes NAME=N, not {text!r}")
    return name, int(count)


def _candidate(spec: str, args: argparse.Namespace) -> Candidate:
    """The model a --generators entry names: NAME or NAME:WIDTH, behind the Wiener prefilter, and
    optionally @ENGINE."""
    generator, _, engine = spec.partition("@")
    name, _, width = generator.partition(":")
    if name not in GENERATORS or (width and (name not in WIDTHS or not width.isdigit())):
        raise SystemExit(
            f"--generators: {spec!r} is not NAME or NAME:WIDTH of {', '.join(GENERATORS)} (VGG: no width)"
        )
    if engine not in ("", *ENGINES):
        raise SystemExit(f"--generators: {spec!r}: the engine after @ is one of {', '.join(ENGINES)}")
    model = ModelConfig(generator=name, vgg_unet=VGGUNetConfig(encoder_weights="none"))
    if width:
        section = GENERATOR_SECTIONS[name]
        widened = dataclasses.replace(getattr(model, section), **{WIDTHS[name]: int(width)})
        model = dataclasses.replace(model, **{section: widened})
    repeats = args.repeats_of.get(spec, args.repeats_of.get(name, args.repeats))
    return Candidate(spec, "radiomicgan", model, repeats, engine or "auto")


def write_pair(folder: Path, size: int) -> tuple[Path, Path]:
    """A 6-slice training pair: the source kernel (blurred) and the target kernel of the same slices."""
    source, target = folder / "source", folder / "target"
    write_series(source, "pair", PAIR_SLICES, size, SOURCE_KERNEL)
    write_series(target, "pair", PAIR_SLICES, size, TARGET_KERNEL)
    return source, target


def train_candidate(
    candidate: Candidate, pair: tuple[Path, Path], runs: Path, args: argparse.Namespace
) -> Path:
    """Train (or fit) the candidate's model for 1 epoch of `args.steps` steps; its run folder."""
    out = runs / _folder_name(candidate.label)
    config = TrainConfig(
        source=(str(pair[0]),), target=(str(pair[1]),), out=str(out), method=candidate.method,
        epochs=1, steps_per_epoch=args.steps, batch_size=2, crop_px=min(128, args.size),
        val_fraction=0.34, val_slices_max=1, device="cpu", model=candidate.model,
    )  # fmt: skip
    start = time.perf_counter()
    train(config, progress=False)
    print(f"{candidate.label}: trained in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if candidate.method != WIENER:
        perturb_head(out)
    return out


def _folder_name(label: str) -> str:
    return label.replace(":", "-").replace("@", "-")


def perturb_head(run: Path) -> None:
    """Give the generator's residual head small random weights and save the model file again.

    A zero (or nearly zero) head makes the model output its input, and ONNX Runtime and torch agree
    exactly on that: the engine check at load would not be tested.
    """
    generator, metadata = load_model(run)
    prefilter = load_prefilter(run, metadata)
    torch.manual_seed(0)
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, nn.Conv2d) and module.out_channels == 1:
                nn.init.normal_(module.weight, std=0.02)
    save_model(run, generator, metadata, prefilter)


def time_back_to_back(
    candidates: list[Candidate], series: Path, root: Path, args: argparse.Namespace
) -> None:
    """A first run per model, then rounds of every model once (those with rounds left), alternating."""
    environment = {**os.environ, "XDG_CACHE_HOME": str(root / "cache")}  # an empty ONNX cache
    if args.threads:
        environment["OMP_NUM_THREADS"] = str(args.threads)  # torch's threads, and ONNX Runtime's too
    for round_ in range(max(c.repeats for c in candidates) + 1):
        for candidate in candidates:
            if round_ <= candidate.repeats:
                out = root / "out" / f"{_folder_name(candidate.label)}-{round_}"
                seconds, log = harmonize_once(candidate, series, out, environment, args.device)
                candidate.times.append(seconds)
                candidate.logs.append(log)
                print(f"{candidate.label} run {round_}: {seconds:.1f} s", file=sys.stderr)


def harmonize_once(
    candidate: Candidate, series: Path, out: Path, environment: dict[str, str], device: str
) -> tuple[float, str]:
    """`radiomicgan harmonize` in a child process: its wall time (s) and its log (stderr)."""
    command = [sys.executable, "-m", "radiomicgan", "harmonize", "--model", str(candidate.run), str(series),
               str(out), "--quiet", "--device", device, "--engine", candidate.engine]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"harmonize failed ({result.returncode}):\n{result.stderr}")
    return seconds, result.stderr


def _figures(candidates: list[Candidate], args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    models = {c.label: _model_figures(c, args) for c in candidates}
    wiener = models[WIENER]["median_s"]
    for label, figures in models.items():
        if label != WIENER:
            figures["ratio_to_wiener"] = round(figures["median_s"] / wiener, 2)
            figures["target_met"] = figures["ratio_to_wiener"] <= TARGET_RATIO
    return {
        "device": device_name(device),
        "threads": args.threads or os.cpu_count(),
        "slices": args.slices,
        "size_px": args.size,
        "series": "synthetic textured CT slices, blurred as the source kernel (node.write_series)",
        "training": f"1 epoch of {args.steps} steps on a {PAIR_SLICES}-slice pair; residual heads "
        "re-initialized with N(0, 0.02) weights",
        "target_ratio": TARGET_RATIO,
        "models": models,
    }


def _model_figures(candidate: Candidate, args: argparse.Namespace) -> dict[str, Any]:
    first, timed = candidate.times[0], candidate.times[1:]
    median = statistics.median(timed)
    generator, metadata = load_model(candidate.run)
    return {
        "method": candidate.method,
        "generator": metadata.model["generator"],
        "prefilter": metadata.model.get("prefilter", "none"),
        "gflop_per_slice": round(gflop_per_slice(generator, args.size, torch.device("cpu")), 2),
        **_engine(candidate.logs[-1]),
        "first_run_s": round(first, 1),
        "seconds": [round(s, 1) for s in timed],
        "median_s": round(median, 1),
        "slices_per_s": round(args.slices / median, 3),
    }


def _engine(log: str) -> dict[str, Any]:
    """What harmonize said it ran: device, precision, engine, and ONNX Runtime's distance from torch."""
    match = ENGINE_LINE.search(log)
    if match is None:
        raise SystemExit(f"harmonize did not say which engine it ran:\n{log}")
    check = ONNX_CHECK_LINE.search(log)
    return {
        "harmonize_device": match.group(1),
        "precision": match.group(2),
        "engine": match.group(3),
        "onnx_vs_torch_hu": float(check.group(1)) if check else None,
    }


if __name__ == "__main__":
    raise SystemExit(main())
