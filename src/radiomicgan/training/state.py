"""The resumable training state: the networks, the optimizers, the random streams and the history.

Tensors go to safetensors and everything else to JSON in its header: a checkpoint is data, never a
pickle. It is written atomically at the end of every epoch, so a run killed at any moment resumes
from its last finished epoch, and on the CPU with a fixed seed ends with the same weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from radiomicgan.errors import InputError
from radiomicgan.io.atomic import atomic_file
from radiomicgan.run_folder import RunFolder
from radiomicgan.training.parts import Parts


@dataclass
class Progress:
    """Where a run stands after `epochs_done` epochs: what resuming needs besides the weights.

    Attributes:
        numpy_rng_state: the crop stream of the run (of rank 0 under torchrun).
        rank_rng_states: under torchrun, the crop streams of ranks 1, 2, ... (each draws its own).
    """

    epochs_done: int
    history: list[dict[str, Any]]
    numpy_rng_state: dict[str, Any]
    rank_rng_states: list[dict[str, Any]] = field(default_factory=list)


def save_checkpoint(run_dir: Path, parts: Parts, progress: Progress) -> Path:
    """Write the whole training state atomically to run_dir/checkpoint.safetensors.

    Each network's tensors are keyed "<network>.<name>" and each optimizer's "<optimizer>.<index>.<name>"
    (`parts.networks()` and `parts.optimizers()` name them).
    """
    tensors: dict[str, torch.Tensor] = {}
    for key, network in parts.networks().items():
        tensors |= _prefixed(f"{key}.", network.state_dict())
    groups = {}
    for name, opt in parts.optimizers().items():
        state = opt.state_dict()
        groups[name] = state["param_groups"]
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"{name}.{index}.{key}"] = torch.as_tensor(value)
    tensors["torch_rng"] = torch.get_rng_state()
    meta = {"progress": progress.__dict__, "param_groups": groups}
    target = RunFolder(run_dir).checkpoint_path
    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_file(target) as temporary:
        save_file(clean, temporary, metadata={"training_state": json.dumps(meta)})
    return target


def load_checkpoint(run_dir: Path, parts: Parts) -> Progress:
    """Restore networks, optimizers and the torch random stream; returns the progress to go on from.

    Raises:
        InputError: no checkpoint in run_dir, or one that does not fit these networks.
    """
    folder = RunFolder(run_dir)
    folder.check_resumable()
    path = folder.checkpoint_path
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["training_state"])
    tensors = load_file(path)
    try:
        for key, network in parts.networks().items():
            network.load_state_dict(_unprefixed(f"{key}.", tensors))
        for name, opt in parts.optimizers().items():
            opt.load_state_dict(_optimizer_state(name, tensors, meta["param_groups"][name]))
    except (RuntimeError, ValueError, KeyError) as exc:
        raise InputError(path, f"checkpoint does not fit this run's networks ({type(exc).__name__})") from exc
    torch.set_rng_state(tensors["torch_rng"])
    return Progress(**meta["progress"])


def numpy_rng_from_state(state: dict[str, Any]) -> np.random.Generator:
    """A numpy Generator continuing exactly where a saved one stopped."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + key: value for key, value in state.items()}


def _unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}


def _optimizer_state(
    name: str, tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]
) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(name + "."):
            _, index, field = key.split(".", 2)
            state.setdefault(int(index), {})[field] = value
    # JSON turned the groups' tuples (Adam's betas) into lists; "params" is the one list they hold.
    restored = [
        {k: v if k == "params" or not isinstance(v, list) else tuple(v) for k, v in g.items()} for g in groups
    ]
    return {"state": state, "param_groups": restored}
