"""The training figures are PNGs drawn without pyplot: the program's matplotlib backend stays its own."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from radiomicgan.training.figures import plot_cam, plot_window_history


def test_both_figures_are_pngs_and_the_backend_is_left_alone(tmp_path: Path) -> None:
    backend = matplotlib.get_backend()
    history = [
        {"epoch": 1, "window_hu": [-200, 200], "phase": "fixed"},
        {"epoch": 2, "window_hu": [-400, 300], "phase": "dynamic"},
    ]
    window = plot_window_history(history, tmp_path / "window.png")
    image = np.zeros((16, 16), dtype=np.float32)
    cam = plot_cam(image, image, tmp_path / "cam.png", "epoch 2")
    assert window.read_bytes()[:4] == cam.read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == backend
