"""The end-to-end demonstration on built-in data: no download, no GPU.

Today it simulates paired phantom scans (training and test from different seeds, with a retest of
the standard kernel) and writes an HTML report of what the kernels do to one slice. Training,
harmonization and the radiomic evaluation join it as their issues land.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the demo runs on servers without a display
import matplotlib.pyplot as plt

from radiomicgan.config import SimulationConfig
from radiomicgan.io import Volume, read_volume, summarize
from radiomicgan.simulate import simulate_to_folder

DISPLAY_WINDOW_HU = (-800.0, 800.0)  # the paper's case-study display window (Fig. 3)


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its data and report, and how long it took."""

    out_dir: Path
    report: Path
    seconds: float


def run_demo(out_dir: str | Path, *, quick: bool = False, overwrite: bool = False) -> DemoResult:
    """Simulate training and test pairs from the phantom and write an HTML report.

    Args:
        out_dir: folder to create (data/ and report.html inside).
        quick: smaller slices and fewer of them, for a first look in well under a minute.
        overwrite: replace the simulated data if out_dir already holds some.

    Returns:
        The paths written and the wall time.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size, slices = (128, 4) if quick else (256, 8)
    for split, seed in (("train", 1), ("test", 2)):
        config = SimulationConfig(size_px=size, slices=slices, seed=seed, retest=True)
        simulate_to_folder("phantom", out_dir / "data" / split, config, overwrite=overwrite)
    report = _write_report(out_dir, out_dir / "data" / "test")
    return DemoResult(out_dir=out_dir, report=report, seconds=time.perf_counter() - start)


def _write_report(out_dir: Path, test_dir: Path) -> Path:
    series = sorted(p for p in test_dir.iterdir() if p.is_dir())
    volumes = {p.name: read_volume(p) for p in series}
    figure = out_dir / "kernels.png"
    _plot_kernels(volumes, figure)
    rows = "".join(
        f"<tr><td>{html.escape(s.kernel)}</td><td>{s.slices}</td><td>{s.rows}×{s.columns}</td>"
        f"<td>{s.hu_min:.0f} … {s.hu_max:.0f}</td></tr>"
        for path in series
        for s in summarize(path)
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>radiomicgan demo</title></head>
<body><h1>radiomicgan demo: simulated kernels</h1>
<p>Test scan simulated from the built-in phantom; every series reconstructs one noisy sinogram.</p>
<table border="1"><tr><th>kernel</th><th>slices</th><th>size</th><th>HU range</th></tr>{rows}</table>
<img src="{figure.name}" alt="one slice per kernel" width="900"></body></html>
"""
    report = out_dir / "report.html"
    report.write_text(page, encoding="utf-8")
    return report


def _plot_kernels(volumes: dict[str, Volume], path: Path) -> None:
    fig, axes = plt.subplots(1, len(volumes), figsize=(3 * len(volumes), 3.2), squeeze=False)
    for ax, (name, volume) in zip(axes[0], volumes.items(), strict=True):
        hu = volume.hu
        ax.imshow(hu[hu.shape[0] // 2], cmap="gray", vmin=DISPLAY_WINDOW_HU[0], vmax=DISPLAY_WINDOW_HU[1])
        ax.set_title(name)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
