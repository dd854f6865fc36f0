"""A training run's folder: the one place that knows its files.

`radiomicgan train --out RUN_DIR` fills it, `harmonize --model RUN_DIR` and `evaluate` read it:

    config.yaml              the resolved configuration the run trains with
    history.json             per epoch: window, phase, losses, validation metrics
    checkpoint.safetensors   everything resuming needs (`training.state`)
    model.safetensors        the generator with its metadata (`modelfile`), what `harmonize` loads
    figures/                 the window schedule and the CAMs of the epochs that chose a window
    .radiomicgan             the ownership marker: the folder, which grows every epoch, is ours whole

Every file is written whole or not at all (`io.atomic`), so a run killed at any moment leaves the
files of its last finished epoch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from radiomicgan.config import TrainConfig, as_dict
from radiomicgan.errors import InputError, OutputError
from radiomicgan.io.atomic import check_outside_inputs, write_text_atomic
from radiomicgan.io.ownership import write_marker

CONFIG_FILE = "config.yaml"
HISTORY_FILE = "history.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
MODEL_FILE = "model.safetensors"
FIGURES_DIR = "figures"
WINDOW_FIGURE = "window_schedule.png"
_CAM = re.compile(r"cam_epoch(\d+)\.png")


@dataclass(frozen=True)
class RunFolder:
    """A training run's folder (it need not exist yet)."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def figures(self) -> Path:
        return self.path / FIGURES_DIR

    @property
    def window_figure(self) -> Path:
        """The training window per epoch (paper Fig. 5a)."""
        return self.figures / WINDOW_FIGURE

    def cam_figure(self, epoch: int) -> Path:
        """The sample CAM of 1-based `epoch` (paper Fig. 5b)."""
        return self.figures / f"cam_epoch{epoch:03d}.png"

    def cam_figures(self) -> dict[int, Path]:
        """The CAM figures the run drew, by 1-based epoch (only the epochs that chose a window have one)."""
        found = (_CAM.fullmatch(path.name) for path in self.figures.glob("cam_epoch*.png"))
        return {int(match.group(1)): self.figures / match.group(0) for match in found if match}

    def check_resumable(self) -> None:
        """Refuse to resume a folder without a checkpoint.

        Raises:
            InputError: no checkpoint.safetensors here.
        """
        if not self.checkpoint_path.is_file():
            raise InputError(self.path, f"nothing to resume: no {CHECKPOINT_FILE} in this run folder")

    def check_writable(self, inputs: Iterable[Path], *, resume: bool) -> None:
        """Refuse a folder that is or lies inside an input folder, or a new run's non-empty folder.

        An input given as a file (an NRRD volume) is not checked: the run writes no file of its name.

        Raises:
            OutputError: the run folder is or lies in an input folder; or it exists, is not empty and
                `resume` is not set.
        """
        # first: "--resume" is no advice for an input
        check_outside_inputs(self.path, [path for path in inputs if path.is_dir()], may_contain=True)
        if not resume and self.path.exists() and any(self.path.iterdir()):
            raise OutputError(self.path, "run folder exists and is not empty (use --resume to continue it)")

    def create(self, config: TrainConfig) -> None:
        """Make the folder with figures/, the marker and config.yaml (`config`, already resolved)."""
        self.figures.mkdir(parents=True, exist_ok=True)
        write_marker(self.path, everything=True)  # it grows every epoch: the folder as a whole is ours
        write_text_atomic(self.config_path, yaml.safe_dump(as_dict(config), sort_keys=False))

    def write_history(self, history: list[dict[str, Any]]) -> Path:
        """Replace history.json, whole (a resumed run reads it back)."""
        return write_text_atomic(self.history_path, json.dumps(history, indent=2))

    def read_history(self) -> list[dict[str, Any]]:
        """The epochs history.json records; empty when there is none yet.

        Raises:
            InputError: history.json is not JSON, or not a list.
        """
        if not self.history_path.is_file():
            return []
        try:
            history = json.loads(self.history_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(self.history_path, f"not valid JSON ({exc.msg})") from exc
        if not isinstance(history, list):
            raise InputError(self.history_path, "not a training history (not a list)")
        return history

    def read_config(self) -> dict[str, Any]:
        """config.yaml as plain data; empty when there is none (a folder of figures, a bare model).

        Raises:
            InputError: config.yaml is not YAML, or not a mapping.
        """
        if not self.config_path.is_file():
            return {}
        try:
            data = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(self.config_path, f"not valid YAML ({type(exc).__name__})") from exc
        if not isinstance(data, dict):
            raise InputError(self.config_path, "not a training run's config.yaml (not a mapping)")
        return data
