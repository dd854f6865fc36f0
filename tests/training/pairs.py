"""Tiny paired scans on disk and tiny training configs, for the training and harmonizer tests.

A "scan" is one random textured body written twice in one study and frame of reference: the
standard (target) series sharpened with added noise, the non-standard (source) series Gaussian
blurred, both integer HU, as two reconstruction kernels of one raw scan would give.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import (
    ModelConfig,
    PatchGANConfig,
    ResidualCNNConfig,
    TrainConfig,
    UNetConfig,
    VGGUNetConfig,
    WindowConfig,
)
from radiomicgan.io import SeriesMeta, Volume, deterministic_uid, new_ct_datasets, write_volume
from radiomicgan.nets.vgg19 import expected_shapes
from radiomicgan.train import TrainResult, train

SOURCE_KERNEL = "SMOOTH"
TARGET_KERNEL = "SHARP"
# A small pix2pix U-Net and PatchGAN: the loop's logic at a fraction of VGG-19's cost. No residual
# texture: the tests of this model compare the harmonizer with its network run directly (the
# command line's tiny runs, `tiny_config_yaml`, keep the default texture; test_train_command.py).
TINY_MODEL = ModelConfig(
    generator="unet",
    texture="none",
    vgg_unet=VGGUNetConfig(encoder_weights="none"),
    unet=UNetConfig(base_channels=4, downs=3),
    choe=ResidualCNNConfig(channels=4),
    patchgan=PatchGANConfig(base_channels=4),
)
TINY_WINDOW = WindowConfig(subset_size=2, subsets=2)


@dataclass(frozen=True)
class Scan:
    """One paired scan on disk: the non-standard (source) and standard (target) series folders."""

    source: Path
    target: Path
    source_hu: NDArray[np.float32]
    target_hu: NDArray[np.float32]


def body_hu(slices: int, size: int, seed: int) -> NDArray[np.float64]:
    """A random textured body [z, y, x] in HU: air outside, soft tissue, a lung and a bone."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    c = size / 2
    body = ((y - c) / (0.42 * size)) ** 2 + ((x - c) / (0.46 * size)) ** 2 <= 1
    lung = ((y - c) / (0.25 * size)) ** 2 + ((x - 0.33 * size) / (0.12 * size)) ** 2 <= 1
    bone = ((y - 0.75 * size) / (0.07 * size)) ** 2 + ((x - 0.6 * size) / (0.07 * size)) ** 2 <= 1
    volume = np.full((slices, size, size), -1000.0)
    for z in range(slices):
        texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (size, size)), 1.5) * 300.0
        image = volume[z]
        image[body] = 30.0 + 0.5 * texture[body]
        image[lung] = -750.0 + 0.6 * texture[lung]
        image[bone] = 450.0 + 0.3 * texture[bone]
    return volume


def scan_volumes(slices: int = 6, size: int = 48, seed: int = 0, name: str = "scan") -> tuple[Volume, Volume]:
    """The (source, target) volumes of one scan, with DICOM datasets, not yet written."""
    truth = body_hu(slices, size, seed)
    rng = np.random.default_rng(seed + 1000)
    blurred = np.stack([ndimage.gaussian_filter(s, 1.0) for s in truth])
    sharp = truth + 0.8 * (truth - blurred) + rng.normal(0.0, 20.0, truth.shape)
    study = deterministic_uid("test-study", name, str(seed))
    frame = deterministic_uid("test-frame", name, str(seed))
    volumes = []
    for number, (kernel, hu) in enumerate(((SOURCE_KERNEL, blurred), (TARGET_KERNEL, sharp)), 1):
        meta = SeriesMeta(study, frame, deterministic_uid("test-series", name, kernel, str(seed)), kernel)
        integer_hu = np.clip(np.rint(hu), -1024, 3071).astype(np.float32)
        volume = Volume(integer_hu, (2.5, 0.8, 0.8), (-19.2, -19.2, 100.0), meta=meta)
        volume.datasets = new_ct_datasets(
            volume,
            patient_name="Test^Phantom",
            patient_id="TEST01",
            study_description="paired kernels",
            series_description=f"{kernel} kernel",
            series_number=number,
            kernel=kernel,
        )
        volumes.append(volume)
    return volumes[0], volumes[1]


def write_scan(root: Path, *, slices: int = 6, size: int = 48, seed: int = 0, name: str = "scan") -> Scan:
    """Write one paired scan as two DICOM series, root/name/smooth and root/name/sharp."""
    source, target = scan_volumes(slices, size, seed, name)
    source_dir = write_volume(source, root / name / SOURCE_KERNEL.lower())
    target_dir = write_volume(target, root / name / TARGET_KERNEL.lower())
    return Scan(source_dir, target_dir, source.hu, target.hu)


def write_vgg_checkpoint(path: Path) -> Path:
    """A VGG-19 checkpoint with the encoder's torchvision keys and shapes, saved with torch.save."""
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(*shape, generator=generator) * 0.05 for k, shape in expected_shapes().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def tiny_config(scan: Scan, out: Path, **overrides: Any) -> TrainConfig:
    """A run of a second or so: tiny networks, 2 epochs of 2 steps of 2 crops of 32 px, on the CPU."""
    config = TrainConfig(
        source=(str(scan.source),),
        target=(str(scan.target),),
        out=str(out),
        epochs=2,
        steps_per_epoch=2,
        batch_size=2,
        crop_px=32,
        cam_crop_px=32,
        val_fraction=0.2,
        val_slices_max=2,
        device="cpu",
        model=TINY_MODEL,
        window=TINY_WINDOW,
    )
    return replace(config, **overrides)


def train_tiny(scan: Scan, out: Path, **overrides: Any) -> TrainResult:
    """Train `tiny_config(scan, out, **overrides)` on one torch thread (for module-scoped fixtures, which
    cannot use the function-scoped `one_torch_thread`); the thread count is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(tiny_config(scan, out, **overrides), progress=False)
    finally:
        torch.set_num_threads(threads)


def tiny_config_yaml(path: Path) -> Path:
    """The tiny networks and budget as a --config file for the command line."""
    path.write_text(
        "epochs: 2\nsteps_per_epoch: 2\nbatch_size: 2\ncrop_px: 32\ncam_crop_px: 32\n"
        "val_fraction: 0.2\nval_slices_max: 2\ndevice: cpu\n"
        "model:\n  generator: unet\n  vgg_unet: {encoder_weights: none}\n"
        "  unet: {base_channels: 4, downs: 3}\n  choe: {channels: 4}\n  patchgan: {base_channels: 4}\n"
        "window: {subset_size: 2, subsets: 2}\n",
        encoding="utf-8",
    )
    return path
