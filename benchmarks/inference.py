"""Generator inference speed against the hardware: FLOPs per slice, slices/s, GFLOP/s vs a matmul.

For a generator (`--generator`: the paper's VGG-19 U-Net, or the default model's residual U-Net) at
512 x 512, on real slices (the shared lung CT when
present, else textured synthetic slices), this measures in one run:

- `gflop_per_slice`: the generator's forward FLOPs for one slice (torch.utils.flop_counter);
- `matmul_gflops`: a float32 matmul's rate on the same device and threads, the machine's practical peak;
- per execution path, `slices_per_s`, `achieved_gflops` (= slices/s x GFLOP/slice), its ratio to the
  matmul, and `max_abs_diff_hu` of its integer-HU output from eager float32 on the same slices.
  Paths: eager fp32, channels_last, bf16 autocast, channels_last + bf16, bf16 in the VGG encoder only
  (skips, decoder and head in fp32; with and without channels_last), torch.compile, ONNX Runtime,
  and on a GPU fp16 autocast.
- the fastest path within 1 HU of eager fp32 (`fastest_within_1hu`), which harmonize's default
  should be, and the path harmonize takes (`harmonize_path`), whose figures are the top-level keys;
- `cli_slices_per_s`: `radiomicgan harmonize` end to end as a user runs it (a child process, reading
  and writing a DICOM series of `--cli-slices` slices; process start-up and model loading included),
  and its ratio to the benchmark's rate on harmonize's path (target >= 0.5).

Without `--model` the `--generator` has random weights (speed does not depend on them) and its residual
head is re-initialized with small random weights: a zero-initialized head would output the input and
make every precision look exact. With `--model RUN_DIR` (a trained run) the differences are the real ones.

    .venv/bin/python benchmarks/inference.py --json benchmarks/results/inference_cpu.json \
        [--model RUN_DIR | --generator radiomicgan|residual_unet] [--device cpu|cuda] [--size 512]
        [--batch-size 4] [--batches 2] [--paths eager channels_last bf16 ... onnx] [--cli-slices 16]

On a GPU (issue 21: slices/s of both networks at batch sizes 1-32 with harmonize's fp16 "auto", and
the command line end to end on a 300-slice series), one run per generator and batch size:

    for g in residual_unet radiomicgan; do for b in 1 2 4 8 16 32; do
      .venv/bin/python benchmarks/inference.py --device cuda --generator $g --batch-size $b \
          --paths eager fp16 --cli-slices 0 --json benchmarks/results/inference_cuda_${g}_b$b.json
    done; done
    .venv/bin/python benchmarks/inference.py --device cuda --generator residual_unet --batch-size 16 \
        --paths eager fp16 --cli-slices 300 --json benchmarks/results/inference_cuda_cli300.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from radiomicgan.config import ModelConfig, VGGUNetConfig, as_dict
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.inference.onnx_engine import onnx_generator
from radiomicgan.inference.slices import windowed_tensor
from radiomicgan.io import read_volume
from radiomicgan.modelfile import ModelMetadata, save_model
from radiomicgan.nets import build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS
from radiomicgan.windowing import from_unit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harmonize_memory  # its synthetic series and slices
from benchkit import command_line, device_name, emit, synchronize

LUNG_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "lung1_image.nrrd"
WINDOW_HU = (-1024, 1000)
TOLERANCE_HU = 1.0
ALL_PATHS = (
    "eager",
    "channels_last",
    "bf16",
    "channels_last+bf16",
    "bf16-encoder",
    "channels_last+bf16-encoder",
    "compile",
    "onnx",
    "fp16",
)
# fp16 autocast is a GPU path: on a CPU it runs a slice in minutes (inference/precision.py)
DEFAULT_PATHS = {"cpu": ALL_PATHS[:-1], "cuda": ALL_PATHS}
# what `harmonize` runs by default (engine and precision "auto"), each kept only within 1 HU of
# torch fp32 on probe slices at load, else the next: on a CPU ONNX Runtime where installed, else torch
# with channels_last weights (inference/precision.py); on a GPU fp16, else fp32
HARMONIZE_PATHS = {"cpu": ("onnx", "channels_last"), "cuda": ("fp16", "eager")}
GENERATORS = ("radiomicgan", "residual_unet")  # --generator: the paper's network, the default model's

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PathResult:
    """One execution path's speed and its output's distance from eager float32."""

    slices_per_s: float
    max_abs_diff_hu: float
    setup_s: float


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    device = torch.device(args.device)
    generator = _generator(args.model, args.generator, device)
    slices = real_slices(args.size, args.batch_size)
    figures: dict[str, Any] = {
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "size_px": args.size,
        "batch_size": args.batch_size,
        "slices_source": "lung1_image.nrrd" if LUNG_CT.is_file() else "phantom",
        "generator": args.generator if args.model is None else "from the model file",
        "weights": str(args.model) if args.model else "random (residual head re-initialized)",
        "gflop_per_slice": round(gflop_per_slice(generator, args.size, device), 2),
        "matmul_gflops": round(matmul_gflops(device), 1),
        "matmul_bf16_gflops": round(matmul_gflops(device, dtype=torch.bfloat16), 1),
    }
    reference = _integer_hu(_run(slices, device, nn_forward(generator)))
    results = {}
    for name in args.paths:
        result = measure_path(name, generator, slices, reference, device, args.batches)
        if result is not None:
            results[name] = result
            print(f"{name}: {result}", file=sys.stderr)
    figures["paths"] = {name: _path_figures(r, figures) for name, r in results.items()}
    default = fastest_within_tolerance(results)
    figures["fastest_within_1hu"] = default
    figures["harmonize_path"] = _harmonize_path(device, figures["paths"])
    figures.update(figures["paths"][figures["harmonize_path"]])  # top level: what `harmonize` runs
    figures.update(_cli_figures(args, generator, figures["slices_per_s"]))
    figures["torch"] = torch.__version__
    figures["command"] = command_line(__file__, argv)
    emit(figures, args.json)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--model", type=Path, help="a trained run folder or model file (default: random)")
    parser.add_argument(
        "--generator", choices=GENERATORS, default="radiomicgan",
        help="without --model: the generator to time with random weights (default: the VGG-19 U-Net)",
    )  # fmt: skip
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--size", type=int, default=512, help="slice side in px (default 512)")
    parser.add_argument("--batch-size", type=int, default=4, help="slices per forward pass (default 4)")
    parser.add_argument("--batches", type=int, default=2, help="timed batches per path (default 2)")
    parser.add_argument("--paths", nargs="+", choices=ALL_PATHS, help="default: all for the device")
    parser.add_argument("--cli-slices", type=int, default=16, help="slices of the CLI run (0: skip it)")
    args = parser.parse_args(argv)
    args.paths = args.paths or list(DEFAULT_PATHS[args.device])
    return args


def _generator(model: Path | None, name: str, device: torch.device) -> nn.Module:
    if model is not None:
        # only the generator is timed here: torch in fp32, so loading neither exports nor probes
        settings = HarmonizeConfig(device=device.type, precision="fp32", engine="torch")
        loaded = Harmonizer.load(model, settings).generator.eval()
        return loaded.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload,no-any-return]
    generator = build_generator(name, _model_config(name), NO_WEIGHTS)
    torch.manual_seed(0)
    for module in generator.modules():  # the residual head starts at zero: give it a real output
        if isinstance(module, nn.Conv2d) and module.out_channels == 1:
            nn.init.normal_(module.weight, std=0.02)
    return generator.to(device).eval()


def real_slices(size: int, count: int) -> NDArray[np.float32]:
    """`count` integer-HU slices of `size` px: the shared lung CT's middle, else a simulated phantom."""
    if LUNG_CT.is_file():
        hu = read_volume(LUNG_CT).hu
        middle = hu.shape[0] // 2
        picked = hu[middle - count // 2 : middle - count // 2 + count]
    else:
        picked = harmonize_memory.synthetic_slices(0, count, size)
    return _resize(np.rint(picked).astype(np.float32), size)


def _resize(hu: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    if hu.shape[-1] == size:
        return hu
    scaled = torch.nn.functional.interpolate(torch.from_numpy(hu)[:, None], size=(size, size), mode="area")
    resized: NDArray[np.float32] = np.rint(scaled[:, 0].numpy()).astype(np.float32)
    return resized


def gflop_per_slice(generator: nn.Module, size: int, device: torch.device) -> float:
    """The generator's forward FLOPs on one slice, in GFLOP (multiply and add counted apart)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        generator(torch.rand(1, 1, size, size, device=device))
    return counter.get_total_flops() / 1e9


def matmul_gflops(
    device: torch.device, n: int = 4096, repeats: int = 5, dtype: torch.dtype = torch.float32
) -> float:
    """The best of `repeats` n x n matmuls, in GFLOP/s: the rate dense compute reaches here."""
    a, b = (torch.rand(n, n, device=device, dtype=dtype) for _ in range(2))
    best = float("inf")
    for _ in range(repeats + 1):  # the first one warms up
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def measure_path(
    name: str,
    generator: nn.Module,
    slices: NDArray[np.float32],
    reference: NDArray[np.float32],
    device: torch.device,
    batches: int,
) -> PathResult | None:
    """Build one path, check its output against eager fp32, then time `batches` batches."""
    start = time.perf_counter()
    try:
        forward = build_path(name, generator, slices, device)
        output = _integer_hu(_run(slices, device, forward))  # also the warm-up
    except Exception as error:  # a path this machine cannot take is reported, not fatal
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
        print(f"{name}: skipped ({reason})", file=sys.stderr)
        return None
    setup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(batches):
        _run(slices, device, forward)
    rate = batches * len(slices) / (time.perf_counter() - start)
    return PathResult(rate, float(np.max(np.abs(output - reference))), setup)


def build_path(name: str, generator: nn.Module, slices: NDArray[np.float32], device: torch.device) -> Forward:
    """A forward function [B, 1, H, W] -> [B, 1, H, W] (float32 out) for one execution path."""
    if name == "eager":
        return nn_forward(generator)
    if name.endswith("bf16-encoder"):
        mixed = bf16_encoder_copy(generator, device)
        if name.startswith("channels_last"):
            return nn_forward(_channels_last_copy(mixed), channels_last=True)
        return nn_forward(mixed)
    if name in ("channels_last", "channels_last+bf16"):
        last = _channels_last_copy(generator)
        forward = nn_forward(last, channels_last=True)
        return _autocast(forward, device) if name.endswith("bf16") else forward
    if name == "bf16":
        return _autocast(nn_forward(generator), device)
    if name == "fp16":
        return _autocast(nn_forward(generator), device, torch.float16)
    if name == "compile":
        compiled = torch.compile(generator)
        return nn_forward(compiled)  # type: ignore[arg-type]
    if name == "onnx":
        return onnx_forward(generator, device)
    raise ValueError(name)


def nn_forward(module: nn.Module, *, channels_last: bool = False) -> Forward:
    def forward(x: torch.Tensor) -> torch.Tensor:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            return module(x).float()  # type: ignore[no-any-return]

    return forward


class _Bf16(nn.Module):
    """Runs a feature extractor under bf16 autocast and hands float32 features on."""

    def __init__(self, inner: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.inner, self.device_type = inner, device.type

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            features = self.inner(x)
        return [f.float() for f in features]


def bf16_encoder_copy(generator: nn.Module, device: torch.device) -> nn.Module:
    """A copy whose VGG encoder (most of the FLOPs) runs in bf16; skips, decoder and head in fp32."""
    import copy

    mixed = copy.deepcopy(generator)
    encoder = mixed.encoder
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"{type(generator).__name__} has no encoder module to run in bf16")
    mixed.encoder = _Bf16(encoder, device)
    return mixed


def _channels_last_copy(generator: nn.Module) -> nn.Module:
    import copy

    copied: nn.Module = copy.deepcopy(generator)
    return copied.to(memory_format=torch.channels_last)  # type: ignore[call-overload,no-any-return]


def _autocast(forward: Forward, device: torch.device, dtype: torch.dtype = torch.bfloat16) -> Forward:
    def mixed(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return forward(x).float()

    return mixed


def onnx_forward(generator: nn.Module, device: torch.device) -> Forward:
    """harmonize's ONNX Runtime engine (`onnx_engine`): exported into a fresh cache, CPU only."""
    if device.type != "cpu":
        raise ValueError("harmonize's ONNX engine runs on the CPU")
    cache = Path(tempfile.mkdtemp(prefix="rg-onnx-"))
    return nn_forward(onnx_generator(generator, "benchmark", cache))


def _run(slices: NDArray[np.float32], device: torch.device, forward: Forward) -> NDArray[np.float32]:
    x = windowed_tensor(slices, WINDOW_HU, device)
    out = forward(x)
    synchronize(device)
    return from_unit(out[:, 0].cpu().numpy(), WINDOW_HU)


def _integer_hu(hu: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.rint(hu).astype(np.float32)  # harmonize's output is integer HU


def _harmonize_path(device: torch.device, paths: dict[str, Any]) -> str:
    """The path `harmonize` takes here: its first choice that ran and met the 1 HU check."""
    within = [name for name in HARMONIZE_PATHS[device.type] if name in paths]
    within = [name for name in within if paths[name]["max_abs_diff_hu"] <= TOLERANCE_HU]
    return within[0] if within else "eager"


def fastest_within_tolerance(results: dict[str, PathResult]) -> str:
    """The fastest path whose output stays within 1 HU of eager fp32 (eager itself always does)."""
    exact = {name: r for name, r in results.items() if r.max_abs_diff_hu <= TOLERANCE_HU}
    return max(exact, key=lambda name: exact[name].slices_per_s)


def _path_figures(result: PathResult, figures: dict[str, Any]) -> dict[str, float]:
    achieved = result.slices_per_s * figures["gflop_per_slice"]
    return {
        "slices_per_s": round(result.slices_per_s, 4),
        "achieved_gflops": round(achieved, 1),
        "ratio_to_matmul": round(achieved / figures["matmul_gflops"], 3),
        "max_abs_diff_hu": result.max_abs_diff_hu,
        "setup_s": round(result.setup_s, 1),
    }


def _cli_figures(args: argparse.Namespace, generator: nn.Module, benchmark_rate: float) -> dict[str, Any]:
    """`radiomicgan harmonize` on a DICOM series in a child process, start-up included.

    Run twice on an empty cache: the first run also exports the model to ONNX where the engine is
    ONNX Runtime (`cli_first_run_seconds`), the second finds the export cached, as every later job
    with that model does (`cli_seconds`, `cli_slices_per_s`).
    """
    if args.cli_slices <= 0:
        return {}
    with tempfile.TemporaryDirectory(prefix="rg-inference-") as tmp:
        folder = Path(tmp)
        model = args.model or _save_generator(generator, args.generator, folder / "model.safetensors")
        series = harmonize_memory.write_series(folder / "series", args.cli_slices, args.size)
        environment = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
        seconds = []
        for run in ("first", "second"):
            command = [sys.executable, "-m", "radiomicgan", "harmonize", "--model", str(model), str(series),
                       str(folder / run), "--quiet", "--device", args.device,
                       "--batch-size", str(args.batch_size)]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environment)
            seconds.append(time.perf_counter() - start)
    rate = args.cli_slices / seconds[1]
    return {
        "cli_slices": args.cli_slices,
        "cli_first_run_seconds": round(seconds[0], 1),
        "cli_seconds": round(seconds[1], 1),
        "cli_slices_per_s": round(rate, 4),
        "cli_ratio_to_benchmark": round(rate / benchmark_rate, 3),
    }


def _model_config(name: str) -> ModelConfig:
    """The default model section for generator `name`, the VGG's without ImageNet weights to load."""
    return ModelConfig(generator=name, vgg_unet=VGGUNetConfig(encoder_weights="none"))


def _save_generator(generator: nn.Module, name: str, path: Path) -> Path:
    metadata = ModelMetadata(
        method="radiomicgan",
        model=as_dict(_model_config(name)),
        encoder_weights=NO_WEIGHTS.record(),
        encoder_frozen=False,
        training_window_hu=WINDOW_HU,
        source_kernel=harmonize_memory.SOURCE_KERNEL,
        target_kernel=harmonize_memory.TARGET_KERNEL,
    )
    return save_model(path, generator, metadata)


if __name__ == "__main__":
    raise SystemExit(main())
