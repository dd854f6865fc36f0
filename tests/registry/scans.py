"""Paired scans with chosen kernels and manufacturers, and fitted models trained on them in a second.

The scans are `training.pairs`' textured bodies (6 slices of 48 px), written with the ConvolutionKernel
and Manufacturer a test needs, multi-valued kernels included ("Br40d\\3": kernel and ADMIRE strength).
The models are Wiener filters (`methods.wiener`): a fit, not a training loop, so a run takes about a
second, and two scans of different kernels give two really different models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from radiomicgan.config import TrainConfig
from radiomicgan.io import write_volume
from radiomicgan.train import train
from training.pairs import TINY_MODEL, Scan, scan_volumes

TARGET = "Br64d\\3"


@dataclass(frozen=True)
class Runs:
    """Two trained runs and the scans they were trained on.

    Attributes:
        strength3: trained on Br40d\\3 series from "SIEMENS " (the padding a scanner may leave).
        strength2: trained on Br40d\\2 series without a Manufacturer.
    """

    strength3: Path
    strength2: Path
    scan3: Scan
    scan2: Scan


def write_pair(root: Path, name: str, kernel: str, manufacturer: str, *, seed: int = 0) -> Scan:
    """One scan under root/name: `source` with `kernel`, `target` with Br64d\\3, both from `manufacturer`.

    An empty `manufacturer` leaves the attribute out (an anonymizer may have removed it).
    """
    source, target = scan_volumes(6, 48, seed, name)
    folders = []
    for volume, folder, series_kernel in ((source, "source", kernel), (target, "target", TARGET)):
        volume.meta = replace(volume.meta, kernel=series_kernel)
        for ds in volume.datasets or []:
            ds.ConvolutionKernel = series_kernel.split("\\") if "\\" in series_kernel else series_kernel
            if manufacturer:
                ds.Manufacturer = manufacturer
            else:
                del ds.Manufacturer
        folders.append(write_volume(volume, root / name / folder))
    return Scan(folders[0], folders[1], source.hu, target.hu)


def train_wiener(scan: Scan, out: Path) -> Path:
    """A Wiener run on `scan` in `out` (one torch thread, restored after); returns the run folder."""
    config = TrainConfig(
        source=(str(scan.source),),
        target=(str(scan.target),),
        out=str(out),
        method="wiener",
        epochs=1,
        steps_per_epoch=2,
        batch_size=2,
        crop_px=32,
        val_fraction=0.34,
        device="cpu",
        model=TINY_MODEL,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(config, progress=False).run_dir
    finally:
        torch.set_num_threads(threads)


def train_runs(root: Path) -> Runs:
    """Two scans of one Siemens kernel at ADMIRE strengths 3 and 2, and a Wiener run on each."""
    scan3 = write_pair(root, "admire3", "Br40d\\3", "SIEMENS ", seed=0)
    scan2 = write_pair(root, "admire2", "Br40d\\2", "", seed=1)
    return Runs(train_wiener(scan3, root / "run3"), train_wiener(scan2, root / "run2"), scan3, scan2)
