"""Training figures: the window per epoch (paper Fig. 5a) and a sample CAM (Fig. 5b).

Drawn on `matplotlib.figure.Figure` objects, not pyplot: nothing global (the backend, pyplot's list
of open figures) changes for the program that trains, and no display is needed on a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

PHASE_COLOURS = {"fixed": "tab:blue", "dynamic": "tab:orange", "minmax": "tab:grey"}


def plot_window_history(history: list[dict[str, Any]], path: Path) -> Path:
    """The training window [lo, hi] per epoch, coloured by the phase that chose it."""
    epochs = [h["epoch"] for h in history]
    lo = [h["window_hu"][0] for h in history]
    hi = [h["window_hu"][1] for h in history]
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.fill_between(epochs, lo, hi, step="mid", alpha=0.15, color="tab:blue")
    for h in history:
        colour = PHASE_COLOURS.get(h["phase"], "black")
        ax.plot([h["epoch"]] * 2, h["window_hu"], color=colour, linewidth=3)
    for phase, colour in PHASE_COLOURS.items():
        if any(h["phase"] == phase for h in history):
            ax.plot([], [], color=colour, linewidth=3, label=phase)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training window (HU)")
    ax.set_title("Dynamic Window-based Training")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)  # a bare Figure saves with the Agg canvas
    return path


def plot_cam(image_hu: NDArray[np.float32], cam: NDArray[np.float32], path: Path, title: str) -> Path:
    """A training input (display window [-1024, 1000] HU) with its CAM overlaid: where D saw a fake."""
    fig = Figure(figsize=(6, 3.2))
    axes = fig.subplots(1, 2)
    axes[0].imshow(image_hu, cmap="gray", vmin=-1024, vmax=1000)
    axes[0].set_title("input")
    axes[1].imshow(image_hu, cmap="gray", vmin=-1024, vmax=1000)
    axes[1].imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    axes[1].set_title("CAM (synthesized evidence)")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)  # a bare Figure saves with the Agg canvas
    return path
