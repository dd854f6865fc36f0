"""Data-parallel training: the context torchrun's variables describe, DDP replicas, and real torchrun runs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
from safetensors import safe_open
from torch.nn.parallel import DistributedDataParallel

from radiomicgan.cli import main
from radiomicgan.errors import ConfigError
from radiomicgan.inference.slices import windowed_tensor
from radiomicgan.methods import METHODS, resolve
from radiomicgan.modelfile import read_metadata
from radiomicgan.nets import build_generator
from radiomicgan.run_folder import CHECKPOINT_FILE
from radiomicgan.training.data import load_paired_slices, sample_crops
from radiomicgan.training.distributed import DistributedContext, parameters_digest, replicate
from radiomicgan.training.parts import Learner
from training.pairs import Scan, tiny_config, tiny_config_yaml

CPU = torch.device("cpu")
TORCHRUN = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
FULL_HU, MIN_WIDTH_HU = [-1024, 1000], 50  # WindowConfig's defaults
IN_SYNC = {"world_size": 2, "weights_in_sync": True, "windows_in_sync": True}


def test_without_torchrun_variables_one_process_trains() -> None:
    for env in ({}, {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}):
        context = DistributedContext.from_env(env)
        assert context == DistributedContext()
        assert not context.enabled and context.is_main
        assert context.device_for(torch.device("cuda")) == torch.device("cuda")


def test_torchrun_variables_give_rank_world_and_device() -> None:
    env = {**TORCHRUN, "WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}
    context = DistributedContext.from_env(env)
    assert (context.rank, context.world_size, context.local_rank) == (3, 4, 1)
    assert context.enabled and not context.is_main
    assert context.device_for(torch.device("cuda")) == torch.device("cuda", 1)  # its own GPU
    assert context.device_for(CPU) == CPU
    assert DistributedContext.from_env({**env, "RANK": "0", "LOCAL_RANK": "0"}).is_main


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"MASTER_PORT": ""}, "MASTER_PORT not set"),
        ({"RANK": "4"}, "do not fit WORLD_SIZE=4"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ],
)
def test_broken_torchrun_variables_are_refused(change: dict[str, str], words: str) -> None:
    env = {**TORCHRUN, "WORLD_SIZE": "4", "RANK": "1", "LOCAL_RANK": "1", **change}
    with pytest.raises(ConfigError, match=words):
        DistributedContext.from_env(env)


def test_one_process_collectives_pass_values_through() -> None:
    context = DistributedContext()
    context.barrier()
    assert context.broadcast({"window_hu": [-1024, 1000]}) == {"window_hu": [-1024, 1000]}
    assert context.gather(7) == [7]
    assert context.mean({"g": 2.5, "d": 0.5}) == {"g": 2.5, "d": 0.5}


def test_parameters_digest_changes_with_any_weight() -> None:
    torch.manual_seed(0)
    networks = {"g": torch.nn.Linear(3, 2), "d": torch.nn.Conv2d(1, 1, 3)}
    before = parameters_digest(networks)
    assert parameters_digest(dict(reversed(networks.items()))) == before  # keyed, not ordered
    with torch.no_grad():
        networks["d"].bias.add_(1e-6)
    assert parameters_digest(networks) != before


@pytest.fixture
def one_process_group() -> Iterator[None]:
    """A gloo process group of this process alone (DDP needs one), left after the test."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("method", ["pix2pix", "choe", "stanct"])
@pytest.mark.usefixtures("one_process_group")
def test_a_replica_steps_the_plain_networks_through_ddp(method: str, scan: Scan, tmp_path: Path) -> None:
    config = resolve(tiny_config(scan, tmp_path, method=method))
    torch.manual_seed(0)
    generator = build_generator(config.model.generator, config.model)
    parts = METHODS[method].build(generator, config, CPU)
    assert isinstance(parts, Learner)
    # replicate reads only `enabled` from the context: the group itself holds this one process
    learner = replicate(parts, DistributedContext(rank=0, world_size=2), CPU)

    trained = [net for net in parts.networks().values() if any(p.requires_grad for p in net.parameters())]
    replicas = list(learner.networks().values())
    assert all(isinstance(r, DistributedDataParallel) for r in replicas)
    assert [r.module for r in replicas] == trained  # wrapped, not copied
    assert learner.optimizers() == parts.optimizers()
    assert not any(isinstance(n, DistributedDataParallel) for n in parts.networks().values())

    slices = load_paired_slices([(scan.source, scan.target)])

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        source, target = sample_crops(slices, n, 32, np.random.default_rng(0), multiple=8)
        return windowed_tensor(source, (-1024, 1000), CPU), windowed_tensor(target, (-1024, 1000), CPU)

    before = parameters_digest(parts.networks())
    losses = learner.train_step(sample)  # STAN-CT calls the discriminator's features and head apart
    assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert parameters_digest(parts.networks()) != before


def test_one_process_context_keeps_the_learner(scan: Scan, tmp_path: Path) -> None:
    config = resolve(tiny_config(scan, tmp_path))
    parts = METHODS["radiomicgan"].build(build_generator("unet", config.model), config, CPU)
    assert isinstance(parts, Learner)
    assert replicate(parts, DistributedContext(), CPU) is parts


# --- real runs: torchrun starts two processes on this machine's CPU (gloo) ------------------------


def _torchrun(args: list[str]) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc_per_node 2 -m radiomicgan ARGS`, each process on one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "radiomicgan", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)


def _history(run: Path) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = json.loads((run / "history.json").read_text())
    return history


def _progress(run: Path) -> dict[str, Any]:
    with safe_open(str(run / CHECKPOINT_FILE), framework="pt") as handle:
        progress: dict[str, Any] = json.loads(handle.metadata()["training_state"])["progress"]
    return progress


def _train_args(scan: Scan, tmp_path: Path, *options: str) -> list[str]:
    config = tiny_config_yaml(tmp_path / "train.yaml")
    pairs = ["--source", str(scan.source), "--target", str(scan.target)]
    return ["train", "--config", str(config), *pairs, "--quiet", *options]


@pytest.mark.slow
def test_two_processes_train_like_one_with_their_total_batch(scan: Scan, tmp_path: Path) -> None:
    args = _train_args(scan, tmp_path, "--schedule", "minmax", "--epochs", "3", "--steps-per-epoch", "10")
    two = _torchrun([*args, "--batch-size", "2", "--out", str(tmp_path / "two")])
    assert two.returncode == 0, two.stderr[-3000:]
    assert main([*args, "--batch-size", "4", "--out", str(tmp_path / "one")]) == 0

    run = tmp_path / "two"
    assert read_metadata(run / "model.safetensors").extra["ddp"] == IN_SYNC
    output = two.stdout + two.stderr
    assert output.count("epoch 3: window") == 1 and output.count("model: ") == 1  # rank 0 alone reports
    progress = _progress(run)
    assert len(progress["rank_rng_states"]) == 1  # rank 1's crop stream, for --resume
    assert progress["rank_rng_states"][0] != progress["numpy_rng_state"]  # its own crops

    # 2 processes x 2 crops learn at the pace of 1 x 4: the discriminator's and the adversarial
    # losses (averaged over the ranks) follow the single process's per epoch (measured: within 3%).
    two_losses = [h["losses"] for h in _history(run)]
    one_losses = [h["losses"] for h in _history(tmp_path / "one")]
    assert len(two_losses) == len(one_losses) == 3
    for a, b in zip(two_losses, one_losses, strict=True):
        assert a.keys() == b.keys()
        assert a["d"] == pytest.approx(b["d"], rel=0.1) and a["g_adv"] == pytest.approx(b["g_adv"], rel=0.1)
    assert two_losses[-1]["d"] < 0.9 * two_losses[0]["d"]  # and it does learn


@pytest.mark.slow
def test_dynamic_windows_stay_in_sync_and_the_run_resumes(scan: Scan, tmp_path: Path) -> None:
    run = tmp_path / "run"
    # dynamic, seed 1: the CAMs find hot spots, so the windows change (as in test_resume)
    options = ["--schedule", "dynamic", "--seed", "1", "--epochs", "2", "--steps-per-epoch", "5"]
    first = _torchrun([*_train_args(scan, tmp_path, *options, "--batch-size", "2"), "--out", str(run)])
    assert first.returncode == 0, first.stderr[-3000:]
    two_epochs = _history(run)

    second = _torchrun(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"])
    assert second.returncode == 0, second.stderr[-3000:]
    assert (second.stdout + second.stderr).count("resuming after epoch 2 of 3") == 1

    history = _history(run)
    assert len(history) == 3 and history[:2] == two_epochs
    assert all(h["cam_window_hu"] for h in history), "a CAM window every epoch: rank 0 ran the selection"
    for before, entry in itertools.pairwise(history):  # each epoch trained in the window rank 0 chose
        lo, hi = max(before["cam_window_hu"][0], FULL_HU[0]), min(before["cam_window_hu"][1], FULL_HU[1])
        assert entry["window_hu"] == ([lo, hi] if hi - lo >= MIN_WIDTH_HU else before["window_hu"])
    assert any(h["window_hu"] != FULL_HU for h in history), "the windows never moved"
    assert read_metadata(run / "model.safetensors").extra["ddp"] == IN_SYNC
    assert sorted(p.name for p in (run / "figures").iterdir()) == [
        "cam_epoch001.png",
        "cam_epoch002.png",
        "cam_epoch003.png",
        "window_schedule.png",
    ]
