"""Tiny simulated pairs and tiny runs for the baseline tests: every method trains and harmonizes.

The pairs come from the simulator (3 slices of 64 px, smooth -> sharp kernel); one slice is held
out, so two train. A run is one epoch of two steps of two 32 px crops with tiny networks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from radiomicgan.cli import main
from radiomicgan.config import (
    ModelConfig,
    PatchGANConfig,
    ResidualCNNConfig,
    SimulationConfig,
    TrainConfig,
    UNetConfig,
    VGGUNetConfig,
)
from radiomicgan.io import read_volume
from radiomicgan.modelfile import read_metadata
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.train import TrainResult, train
from radiomicgan.training.parts import SampleFn

Dciodvfy = Callable[[Path], tuple[list[str], str]]
FULL = [-1024, 1000]
# small U-Net / PatchGAN / residual CNN: the methods' logic at a fraction of the published widths
TINY_MODEL = ModelConfig(
    vgg_unet=VGGUNetConfig(encoder_weights="none"),
    unet=UNetConfig(base_channels=4, downs=3),
    choe=ResidualCNNConfig(channels=4),
    patchgan=PatchGANConfig(base_channels=4),
)


@dataclass(frozen=True)
class Pairs:
    """A simulated scan: the non-standard (smooth) and standard (sharp) series folders."""

    source: Path
    target: Path


def simulate_pairs(root: Path) -> Pairs:
    """3 slices of 64 px of the phantom, reconstructed smooth and sharp from one sinogram."""
    config = SimulationConfig(kernels=("smooth", "sharp"), size_px=64, slices=3, seed=1, jobs=1)
    result = simulate_to_folder("phantom", root / "sim", config)
    return Pairs(result.series_dirs["smooth"], result.series_dirs["sharp"])


@dataclass(frozen=True)
class Unpaired:
    """Two simulated scans of different phantoms and studies: one smooth series, one sharp series."""

    source: Path
    target: Path


def simulate_unpaired(root: Path) -> Unpaired:
    """The smooth kernel of phantom seed 1 (64 px of 5.6 mm) and the sharp kernel of phantom seed 2
    (64 px of 5.0 mm: unpaired training resamples the source to it), 4 slices each."""
    smooth = SimulationConfig(
        kernels=("smooth",), standard_kernel="smooth", size_px=64, slices=4, seed=1, jobs=1
    )
    sharp = SimulationConfig(kernels=("sharp",), size_px=64, slices=4, seed=2, pixel_mm=5.0, jobs=1)
    source = simulate_to_folder("phantom", root / "site-a", smooth, progress=False)
    target = simulate_to_folder("phantom", root / "site-b", sharp, progress=False)
    return Unpaired(source.series_dirs["smooth"], target.series_dirs["sharp"])


def tiny_unpaired_yaml(path: Path, cyclegan: str = "{}", cut: str = "{}") -> Path:
    """Tiny networks and budget (2 epochs of 2 steps of 2 crops of 32 px) as a --config file for
    `train --unpaired`; the spectral filter measures 16 px patches (64 px slices hold few of 32).

    Args:
        cyclegan: the `baselines.cyclegan` section, as YAML flow text.
        cut: the `baselines.cut` section, as YAML flow text.
    """
    path.write_text(
        "epochs: 2\nsteps_per_epoch: 2\nbatch_size: 2\ncrop_px: 32\nval_fraction: 0.25\ndevice: cpu\n"
        "model:\n  choe: {channels: 4}\n  patchgan: {base_channels: 4}\n"
        "  residual_unet: {base_channels: 4, levels: 3}\n"
        f"baselines:\n  spectral: {{patch_px: 16}}\n  cyclegan: {cyclegan}\n  cut: {cut}\n",
        encoding="utf-8",
    )
    return path


def tiny_config(method: str, pairs: Pairs, out: Path, **overrides: Any) -> TrainConfig:
    """One epoch of 2 steps of 2 crops of 32 px on the CPU, one of the 3 slices held out."""
    config = TrainConfig(
        source=(str(pairs.source),),
        target=(str(pairs.target),),
        out=str(out),
        method=method,
        epochs=1,
        steps_per_epoch=2,
        batch_size=2,
        crop_px=32,
        val_fraction=0.34,
        device="cpu",
        model=TINY_MODEL,
    )
    return replace(config, **overrides)


def train_and_check(method: str, pairs: Pairs, out: Path, **overrides: Any) -> TrainResult:
    """Train a tiny run and check the run folder every method writes."""
    result = train(tiny_config(method, pairs, out, **overrides), progress=False)
    names = {p.name for p in out.iterdir()}
    assert names >= {"config.yaml", "history.json", "checkpoint.safetensors", "model.safetensors", "figures"}
    assert (out / "figures" / "window_schedule.png").read_bytes()[:4] == b"\x89PNG"
    history = json.loads((out / "history.json").read_text())
    assert history == result.history and len(history) >= 1
    for entry in history:
        assert entry["window_hu"] == FULL and entry["phase"] == "minmax"  # no window training
        assert entry["losses"] and all(np.isfinite(v) for v in entry["losses"].values())
        assert set(entry["validation"]) == {"ssim", "psnr", "mae_hu"}
    metadata = read_metadata(out)
    assert metadata.method == method and metadata.epochs == len(history)
    return result


def harmonize_and_check(run: Path, pairs: Pairs | Unpaired, out: Path, run_dciodvfy: Dciodvfy) -> np.ndarray:
    """`radiomicgan harmonize --model RUN` on the source series: valid DICOM of the same geometry.

    Returns:
        The harmonized HU.
    """
    args = ["harmonize", "--model", str(run), str(pairs.source), str(out), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    source, harmonized = read_volume(pairs.source), read_volume(out)
    assert harmonized.shape == source.shape
    assert harmonized.meta.series_uid != source.meta.series_uid
    np.testing.assert_array_equal(harmonized.hu, np.rint(harmonized.hu))
    errors, _ = run_dciodvfy(out)
    assert errors == []
    return harmonized.hu


def blurred_texture_domains(crop_px: int, n: int = 16, seed: int = 0) -> SampleFn:
    """A toy unpaired problem whose mapping is known: the standard domain is the source domain
    blurred (a kernel change), drawn from other random textures. Textures lie in [0.3, 0.7]
    (windowed units); the sampler draws source and standard crops independently."""
    rng = np.random.default_rng(seed)

    def textures() -> torch.Tensor:
        noise = ndimage.gaussian_filter(rng.normal(0, 3, (n, crop_px, crop_px)), (0, 1.0, 1.0))
        return torch.from_numpy(0.5 + 0.2 * np.tanh(noise)).float().unsqueeze(1)

    sources = textures()
    targets = torch.from_numpy(ndimage.gaussian_filter(textures().numpy(), (0, 0, 1.5, 1.5)))

    def sample(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return sources[torch.randint(n, (k,))], targets[torch.randint(n, (k,))]

    return sample
