"""Training throughput: steps/s and samples/s at the default crop and batch, and the Grad-CAM share.

Builds what `radiomicgan train` builds for a method (default: RadiomicGAN, the VGG-19 U-Net and the
PatchGAN) with the default TrainConfig, on random textured integer-HU pairs (speed does not depend on
the pixels), and times in one run:

- `steps_per_s` / `samples_per_s`: training steps (generator + discriminator updates) of
  `--batch-size` crops of `--crop` px, after one warm-up step;
- `gradcam_s`: one epoch's dynamic window selection (Grad-CAM of the frozen discriminator over the
  configured subsets, `WindowConfig.subsets` x `subset_size` crops of `cam_crop_px`);
- `validation_s`: one epoch's validation (`val_slices_max` whole slices);
- `gradcam_share`: the selection's share of a default epoch (`steps_per_epoch` steps, validation
  and one selection), the cost the paper's dynamic windows add.

    .venv/bin/python benchmarks/training.py --json benchmarks/results/training_cpu.json \
        [--device cpu|cuda] [--method radiomicgan] [--steps 6] [--size 512] [--train-config A.yaml B.yaml]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from radiomicgan.config import TrainConfig, build, load_yaml
from radiomicgan.inference.slices import size_multiple, windowed_tensor
from radiomicgan.methods import METHODS, resolve
from radiomicgan.nets import build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS
from radiomicgan.nets.patchgan import PatchGAN
from radiomicgan.training.data import PairedSlices, sample_crops
from radiomicgan.training.dwt import cam_window
from radiomicgan.training.steps import GanParts
from radiomicgan.training.validation import validate
from radiomicgan.windowing import Window

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import command_line, device_name, emit, synchronize

WINDOW_HU: Window = (-1024, 1000)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    device = torch.device(args.device)
    pairs = textured_pairs(args.slices, args.size, seed=0)
    if not args.train_config:
        figures = _measure(TrainConfig(method=args.method, device=args.device), pairs, args, device)
    else:  # several configs are timed in one run, so their ratios share the machine's load
        figures = {
            "configs": {
                str(path): _measure(
                    build(TrainConfig, load_yaml(path), {"method": args.method, "device": args.device}),
                    pairs,
                    args,
                    device,
                )
                for path in args.train_config
            }
        }
    emit(figures | {"torch": torch.__version__, "command": command_line(__file__, argv)}, args.json)
    return 0


def _measure(
    config: TrainConfig, pairs: PairedSlices, args: argparse.Namespace, device: torch.device
) -> dict[str, Any]:
    """The module docstring's figures for one training config."""
    torch.manual_seed(0)
    config = resolve(config)
    generator = build_generator(config.model.generator, config.model, NO_WEIGHTS).to(device)
    parts = METHODS[config.method].build(generator, config, device)
    rng = np.random.default_rng(0)
    multiple = size_multiple(parts.model())

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        source, target = sample_crops(pairs, n, config.crop_px, rng, multiple=multiple)
        return windowed_tensor(source, WINDOW_HU, device), windowed_tensor(target, WINDOW_HU, device)

    step_s = _time_steps(parts, sample, args.steps, device)
    val = pairs.take(np.arange(config.val_slices_max) % len(pairs))
    validation_s = _time(lambda: validate(parts.model(), val, WINDOW_HU, multiple, device), device)
    gradcam_s = _time_gradcam(parts, pairs, config, rng, device)
    epoch_s = config.steps_per_epoch * step_s + validation_s + gradcam_s
    figures: dict[str, Any] = {
        "method": config.method,
        "generator": config.model.generator,
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "batch_size": config.batch_size,
        "crop_px": config.crop_px,
        "steps_timed": args.steps,
        "steps_per_s": round(1.0 / step_s, 4),
        "samples_per_s": round(config.batch_size / step_s, 3),
        "step_s": round(step_s, 3),
        "validation_s": round(validation_s, 2),
        "validation_slices": config.val_slices_max,
        "slice_px": args.size,
        "gradcam_s": round(gradcam_s, 2),
        "gradcam_crops": config.window.subsets * config.window.subset_size,
        "steps_per_epoch": config.steps_per_epoch,
        "epoch_s": round(epoch_s, 1),
        "gradcam_share": round(gradcam_s / epoch_s, 4),
    }
    return figures


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--method", default="radiomicgan", help="a learned method of `train --model`")
    parser.add_argument("--steps", type=int, default=6, help="timed training steps (default 6)")
    parser.add_argument("--slices", type=int, default=12, help="paired slices to crop from (default 12)")
    parser.add_argument("--size", type=int, default=512, help="slice side in px (default 512)")
    parser.add_argument(
        "--train-config",
        nargs="+",
        type=Path,
        help="YAML files overriding the default TrainConfig (as quality.py's); each timed in this run",
    )
    return parser.parse_args(argv)


def textured_pairs(count: int, size: int, seed: int) -> PairedSlices:
    """Integer-HU pairs: a textured body (source) and a sharpened, noisier copy (target)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    body = ((y - 0.5) / 0.42) ** 2 + ((x - 0.5) / 0.46) ** 2 <= 1
    source = np.full((count, size, size), -1000.0, dtype=np.float32)
    for k in range(count):
        texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (size, size)), 2.0) * 400.0
        source[k][body] = 20.0 + texture[body]
    target = source + 0.5 * (source - ndimage.gaussian_filter(source, (0, 1, 1)))
    target += rng.normal(0.0, 15.0, target.shape)
    return PairedSlices(
        np.rint(source).astype(np.float32),
        np.rint(np.clip(target, -1024, 3071)).astype(np.float32),
        np.zeros(count, dtype=np.int64),
    )


def _time_steps(parts: Any, sample: Any, steps: int, device: torch.device) -> float:
    parts.train_step(sample)  # warm-up: allocator, kernels' first calls
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        parts.train_step(sample)
    synchronize(device)
    return (time.perf_counter() - start) / steps


def _time_gradcam(
    parts: Any, pairs: PairedSlices, config: TrainConfig, rng: np.random.Generator, device: torch.device
) -> float:
    if not isinstance(parts, GanParts) or not isinstance(parts.discriminator, PatchGAN):
        return 0.0  # no PatchGAN discriminator: no dynamic windows
    return _time(
        lambda: cam_window(
            parts.generator, parts.discriminator, pairs, WINDOW_HU, config.window, config.cam_crop_px,
            rng, device,
        ),
        device,
    )  # fmt: skip


def _time(work: Any, device: torch.device) -> float:
    start = time.perf_counter()
    work()
    synchronize(device)
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
