"""A run killed mid-epoch resumes from its last checkpoint and ends with the very same weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from radiomicgan.cli import main
from training.pairs import Scan, tiny_config_yaml

STEPS = 60  # about 1.5 s per epoch with the tiny networks: time to kill the run inside epoch 2


def _epochs_recorded(run: Path) -> int:
    try:
        return len(json.loads((run / "history.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.slow
def test_run_killed_in_epoch_2_resumes_to_identical_weights(scan: Scan, tmp_path: Path) -> None:
    config = tiny_config_yaml(tmp_path / "train.yaml")
    # dynamic, seed 1: the CAMs find hot spots, so every epoch draws from the random streams
    args = ["train", "--config", str(config), "--source", str(scan.source), "--target", str(scan.target)]
    args += ["--epochs", "3", "--steps-per-epoch", str(STEPS), "--schedule", "dynamic", "--seed", "1"]
    args += ["--quiet"]
    run_a, run_b = tmp_path / "a", tmp_path / "b"

    assert main([*args, "--out", str(run_a)]) == 0  # uninterrupted, in this process (one thread)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the same arithmetic as A
    log = (tmp_path / "b.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "radiomicgan", *args, "--out", str(run_b)], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 120
    while _epochs_recorded(run_b) < 1:
        assert process.poll() is None, (tmp_path / "b.log").read_text()
        assert time.monotonic() < deadline, "epoch 1 never finished"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    log.close()
    assert _epochs_recorded(run_b) == 1, "the kill came too late: epoch 2 had finished"
    assert not (run_b / "model.safetensors").exists()

    assert main(["train", "--out", str(run_b), "--resume", "--quiet"]) == 0

    a, b = load_file(run_a / "model.safetensors"), load_file(run_b / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resuming"
    history_a = json.loads((run_a / "history.json").read_text())
    assert history_a == json.loads((run_b / "history.json").read_text())
    assert any(h["cam_window_hu"] for h in history_a), "no CAM window: the dynamic phase never drew"
