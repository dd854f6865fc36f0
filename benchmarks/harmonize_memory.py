"""Peak memory of `harmonize` on long DICOM series: bounded by the batch, not by the series.

Writes one synthetic CT series per length asked for (512 x 512 int16 slices, written batch by batch with
the project's own DICOM writer), saves a generator with random weights as a model file (nothing is
trained: memory and speed do not depend on the weights), then harmonizes each series in a fresh child
process and reports that process's peak resident memory (getrusage ru_maxrss). `baseline_rss_mb` is the
child's peak after imports and model loading, before the series is touched; `seconds` times
`harmonize_path` alone.
`--path whole` runs the in-memory path (read_volume, Harmonizer(volume), write_volume) to compare.

The default is the real thing (the VGG-19 U-Net at 512 px, 150 and 600 slices): on a 2-core CPU that is
about 8 s a slice, so hours. `--generator small` (a pix2pix U-Net of 8 base channels) gives the memory
figures in minutes, as the network's activations are a constant per batch either way.

    .venv/bin/python benchmarks/harmonize_memory.py [--slices 150 600] [--size 512] [--batch-size 4]
        [--generator radiomicgan|small] [--path streamed [whole]] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from radiomicgan.config import ModelConfig, UNetConfig, VGGUNetConfig, as_dict
from radiomicgan.io import SeriesMeta, Volume, deterministic_uid, dicom_series_writer, new_ct_datasets
from radiomicgan.modelfile import ModelMetadata, save_model
from radiomicgan.nets import build_generator
from radiomicgan.nets.encoder_weights import NO_WEIGHTS

GENERATORS = {
    # the paper's VGG U-Net
    "radiomicgan": ModelConfig(generator="radiomicgan", vgg_unet=VGGUNetConfig(encoder_weights="none")),
    "residual_unet": ModelConfig(generator="residual_unet"),  # the default generator
    "small": ModelConfig(generator="unet", unet=UNetConfig(base_channels=8, downs=4)),
}
SOURCE_KERNEL, TARGET_KERNEL = "SMOOTH", "SHARP"
SPACING_ZYX_MM = (1.0, 0.7, 0.7)
WRITE_BATCH = 16  # slices per write while making the synthetic series


def write_model(folder: Path, generator_name: str) -> Path:
    """A model file holding a generator with random weights, loadable by `Harmonizer.load`."""
    config = GENERATORS[generator_name]
    generator = build_generator(config.generator, config, NO_WEIGHTS)
    metadata = ModelMetadata(
        method="radiomicgan",
        model=as_dict(config),
        encoder_weights=NO_WEIGHTS.record(),
        encoder_frozen=generator.encoder_frozen,
        training_window_hu=(-1024, 1000),
        source_kernel=SOURCE_KERNEL,
        target_kernel=TARGET_KERNEL,
    )
    return save_model(folder / "model.safetensors", generator, metadata)


def synthetic_slices(start: int, stop: int, size: int) -> np.ndarray:
    """Integer HU [stop - start, size, size]: air, a textured body, a lung and a bone (seeded by slice)."""
    y, x = np.mgrid[:size, :size] / size
    body = ((y - 0.5) / 0.42) ** 2 + ((x - 0.5) / 0.46) ** 2 <= 1
    lung = ((y - 0.5) / 0.25) ** 2 + ((x - 0.33) / 0.12) ** 2 <= 1
    bone = ((y - 0.75) / 0.07) ** 2 + ((x - 0.6) / 0.07) ** 2 <= 1
    out = np.empty((stop - start, size, size), dtype=np.float32)
    for k, z in enumerate(range(start, stop)):
        texture = ndimage.gaussian_filter(np.random.default_rng(z).normal(0, 1, (size, size)), 1.5) * 300
        image = np.full((size, size), -1000.0)
        image[body] = 30 + 0.5 * texture[body]
        image[lung] = -750 + 0.6 * texture[lung]
        image[bone] = 450 + 0.3 * texture[bone]
        out[k] = np.clip(np.rint(image), -1024, 3071)
    return out


def write_series(folder: Path, slices: int, size: int) -> Path:
    """A synthetic CT series of `slices` slices, written WRITE_BATCH slices at a time (never whole)."""
    meta = SeriesMeta(
        study_uid=deterministic_uid("benchmark-study"),
        frame_of_reference_uid=deterministic_uid("benchmark-frame"),
        series_uid=deterministic_uid("benchmark-series", str(slices), str(size)),
        kernel=SOURCE_KERNEL,
    )
    # A volume without pixels (a broadcast zero) is enough for the headers and the geometry.
    shape = (slices, size, size)
    empty = Volume(np.broadcast_to(np.float32(0), shape), SPACING_ZYX_MM, (-180.0, -180.0, 0.0), meta=meta)
    datasets = new_ct_datasets(
        empty,
        patient_name="Benchmark^Phantom",
        patient_id="BENCH01",
        study_description="harmonize memory benchmark",
        series_description="synthetic smooth kernel",
        series_number=1,
        kernel=SOURCE_KERNEL,
    )
    with dicom_series_writer(
        folder,
        positions_xyz_mm=empty.slice_positions_xyz_mm(),
        direction=empty.direction,
        spacing_zyx_mm=SPACING_ZYX_MM,
    ) as writer:
        for start in range(0, slices, WRITE_BATCH):
            stop = min(start + WRITE_BATCH, slices)
            writer.write(datasets[start:stop], synthetic_slices(start, stop, size))
    return folder


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(model: Path, series: Path, out: Path, batch_size: int, path: str) -> dict[str, Any]:
    """Harmonize one series in this (fresh) process; its figures."""
    from radiomicgan.inference import HarmonizeConfig, Harmonizer, harmonize_path
    from radiomicgan.io import read_volume, write_volume

    harmonizer = Harmonizer.load(
        model, HarmonizeConfig(device="cpu", batch_size=batch_size, precision="fp32")
    )
    baseline = peak_rss_mb()
    start = time.perf_counter()
    if path == "streamed":
        harmonize_path(harmonizer, series, out, progress=False)
    else:
        volume = read_volume(series)
        harmonized = harmonizer(volume)
        write_volume(harmonized, out, derivation=harmonizer.derivation(volume.meta.kernel))
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    return {
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "seconds": round(seconds, 2),
    }


def measure(model: Path, series: Path, out: Path, args: argparse.Namespace, path: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(model), str(series), str(out)]
    command += ["--batch-size", str(args.batch_size), "--path", path]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"child failed:\n{result.stderr}")
    figures: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    slices = len(list(series.iterdir()))
    return {
        "slices": slices,
        "size_px": args.size,
        "batch_size": args.batch_size,
        "generator": args.generator,
        "path": path,
        **figures,
        "slices_per_s": round(slices / figures["seconds"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slices", type=int, nargs="+", default=[150, 600], help="series lengths")
    parser.add_argument("--size", type=int, default=512, help="rows and columns of each slice")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--generator", choices=sorted(GENERATORS), default="radiomicgan")
    parser.add_argument("--path", nargs="+", choices=("streamed", "whole"), default=["streamed"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, series, out = args.child
        print(json.dumps(child(model, series, out, args.batch_size, args.path[0])))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="harmonize-memory-") as tmp:
        root = Path(tmp)
        model = write_model(root, args.generator)
        for slices in args.slices:
            series = write_series(root / f"series-{slices}", slices, args.size)
            for run, path in enumerate(args.path):
                results.append(measure(model, series, root / f"out-{slices}-{run}-{path}", args, path))
                print(json.dumps(results[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("reproduce:", " ".join([".venv/bin/python", "benchmarks/harmonize_memory.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
