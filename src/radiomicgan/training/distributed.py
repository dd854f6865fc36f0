"""Data-parallel training under torchrun: which process this is, and the few collectives the loop needs.

`torchrun --nproc_per_node N -m radiomicgan train ...` starts N processes with WORLD_SIZE, RANK and
LOCAL_RANK in their environment. Each one builds the same networks from the same seed, wraps the
networks a `Learner` trains by gradient in DistributedDataParallel (so every step averages the
gradients of N batches: the effective batch is N x batch_size), and draws its own crops (seed + rank).
Rank 0 alone validates, runs the Grad-CAM window selection, writes the run folder and logs; it
broadcasts each epoch's history entry, so every rank follows the same window schedule.

Without those variables (or with WORLD_SIZE=1) the context is a single process and every collective
here returns at once, so the loop reads the same either way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from radiomicgan.errors import ConfigError
from radiomicgan.training.parts import Learner

log = logging.getLogger(__name__)
T = TypeVar("T")
TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """One process of a data-parallel run (or the only process: world_size 1).

    Attributes:
        rank: this process's index among all processes, 0 to world_size - 1.
        world_size: how many processes train together.
        local_rank: its index on this machine: the GPU it takes (cuda:local_rank).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DistributedContext:
        """The context torchrun's environment variables describe; a single process without them.

        Raises:
            ConfigError: WORLD_SIZE > 1 with a torchrun variable missing or out of range.
        """
        world_size = _int_variable(env, "WORLD_SIZE", default=1)
        if world_size <= 1:
            return cls()
        missing = [name for name in TORCHRUN_VARIABLES if not env.get(name)]
        if missing:
            raise ConfigError(
                f"WORLD_SIZE={world_size} but {', '.join(missing)} not set: start data-parallel training "
                "with torchrun --nproc_per_node N -m radiomicgan train ..."
            )
        rank, local_rank = _int_variable(env, "RANK"), _int_variable(env, "LOCAL_RANK")
        if not 0 <= rank < world_size or not 0 <= local_rank <= rank:
            raise ConfigError(f"RANK={rank}, LOCAL_RANK={local_rank} do not fit WORLD_SIZE={world_size}")
        return cls(rank, world_size, local_rank)

    @property
    def enabled(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that validates, selects windows, logs and writes the run folder."""
        return self.rank == 0

    def device_for(self, device: torch.device) -> torch.device:
        """The device this process trains on: its own GPU (cuda:local_rank) when training on CUDA."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.enabled:
            dist.barrier()

    def broadcast(self, value: T) -> T:
        """Rank 0's `value` (any picklable object) on every rank."""
        if not self.enabled:
            return value
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[no-any-return]

    def gather(self, value: T) -> list[T]:
        """Every rank's `value` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def mean(self, losses: dict[str, float]) -> dict[str, float]:
        """Each loss averaged over the ranks (all report the same keys: a step's losses)."""
        if not self.enabled or not losses:
            return losses
        keys = sorted(losses)  # one order on every rank
        values = torch.tensor(
            [losses[k] for k in keys], dtype=torch.float64, device=self._collective_device()
        )
        dist.all_reduce(values)
        means = {k: float(v) / self.world_size for k, v in zip(keys, values.tolist(), strict=True)}
        return {k: means[k] for k in losses}  # the step's order, as a single process logs them

    def _collective_device(self) -> torch.device:
        # NCCL reduces only CUDA tensors; gloo only CPU ones
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


@contextmanager
def process_group(context: DistributedContext, device: torch.device) -> Iterator[None]:
    """Join the run's process group for the block (NCCL on CUDA, gloo on the CPU), and leave it after.

    A group the caller initialized already is used as it is and left to the caller.
    """
    if not context.enabled or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=context.rank, world_size=context.world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


class _Replica(DistributedDataParallel):
    """DistributedDataParallel that passes unknown attributes on to the wrapped network.

    A step may call a network's parts apart (STAN-CT: `discriminator.features`, `.head`, both under
    `frozen`, so no gradient of theirs needs averaging); FSDP forwards attributes the same way.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(self.module, name)


def replicate(learner: Learner, context: DistributedContext, device: torch.device) -> Learner:
    """The learner whose steps train data-parallel: its trainable networks wrapped in DDP.

    The learner must be a dataclass: every field holding a network with trainable parameters is
    wrapped, and the copy shares the networks and optimizers with `learner`, which the loop keeps for
    checkpoints, validation and the Grad-CAM (plain modules, usable by rank 0 alone). DDP broadcasts
    rank 0's weights as it wraps them, so every rank starts from the same model. A GAN step also runs
    the discriminator's replica under `steps.frozen` (the generator's adversarial loss): its parameters
    then take no gradient and DDP averages none; the torchrun tests check that the weights stay equal.

    Raises:
        ConfigError: the learner is not a dataclass.
    """
    if not context.enabled:
        return learner
    if not dataclasses.is_dataclass(learner):
        raise ConfigError(
            f"{type(learner).__name__} cannot train data-parallel (its networks are not fields)"
        )
    device_ids = [device.index] if device.type == "cuda" else None
    wrapped = {
        f.name: _Replica(value, device_ids=device_ids)
        for f in dataclasses.fields(learner)
        if isinstance(value := getattr(learner, f.name), nn.Module)
        and any(p.requires_grad for p in value.parameters())
    }
    return dataclasses.replace(learner, **wrapped)


def replicas_check(
    context: DistributedContext, networks: Mapping[str, nn.Module], windows: list[Any]
) -> dict[str, Any]:
    """Whether every rank ended with the same weights and followed the same windows, as the model file
    records it: DDP and the broadcast history entries should guarantee both, and this tells if not."""
    views = context.gather((parameters_digest(networks), windows))
    weights_in_sync = all(digest == views[0][0] for digest, _ in views)
    windows_in_sync = all(theirs == views[0][1] for _, theirs in views)
    if not (weights_in_sync and windows_in_sync):
        log.warning(
            "the ranks disagree (weights in sync: %s, windows in sync: %s)", weights_in_sync, windows_in_sync
        )
    return {
        "world_size": context.world_size,
        "weights_in_sync": weights_in_sync,
        "windows_in_sync": windows_in_sync,
    }


def parameters_digest(networks: Mapping[str, nn.Module]) -> str:
    """SHA-256 of every network's parameters: equal on two ranks exactly when their weights are.

    Buffers (batch-norm statistics) are left out: each rank updates them from its own crops, and DDP
    broadcasts rank 0's before every training forward, so rank 0's are the run's.
    """
    digest = hashlib.sha256()
    for key in sorted(networks):
        for name, parameter in networks[key].named_parameters():
            digest.update(f"{key}.{name}".encode())
            values = parameter.detach().cpu().contiguous().flatten()
            digest.update(values.view(torch.uint8).numpy().tobytes())  # the bits, whatever the dtype
    return digest.hexdigest()


def _int_variable(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name, "")
    if not text and default is not None:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={text!r} is not an integer") from exc
