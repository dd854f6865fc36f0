"""Where independent tasks run: in this process, or spread over a Dask cluster.

A task is one function call on one picklable item (a series to harmonize, an ROI to extract), and a
runner maps the function over the items and gives the results back in item order, whichever worker
computed them. This is the only module that knows Dask: `dask.distributed` is an optional extra
(`pip install radiomicgan[cluster]`), imported when a run asks for the dask backend and not before,
so the core package works without it.

A cluster's workers must see the same files as the caller (a shared file system) and run the same
radiomicgan version: tasks name their inputs and outputs by path, and functions travel by name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from radiomicgan.config import BackendConfig
from radiomicgan.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

INSTALL_HINT = "pip install radiomicgan[cluster]"
# How long to wait for a --scheduler to answer: a busy scheduler on a shared cluster can take a
# few seconds; a wrong address should still fail within a minute.
CONNECT_TIMEOUT_S = 30.0


class TaskRunner(Protocol):
    """Runs a function over items, somewhere, and yields the results in item order."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """`fn(item)` for every item, in item order; an exception of a task is raised at its turn."""
        ...


@dataclass(frozen=True)
class SerialRunner:
    """Every task in this process, one after another, each run only when its result is asked for."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        return (fn(item) for item in items)


@dataclass(frozen=True)
class DaskRunner:
    """Tasks submitted all at once to a Dask cluster, through a connected `distributed.Client`."""

    client: Any  # distributed.Client, typed loosely: dask is an optional dependency

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        # pure=False: two equal items are still two tasks (a series re-run must not be served from
        # the scheduler's memory of an earlier one).
        # A caller that stops early (a task failed, Ctrl-C) leaves the block of `open_cluster`, whose
        # client then disconnects: the scheduler drops the tasks nobody waits for any more.
        futures = self.client.map(fn, list(items), pure=False)
        return (future.result() for future in futures)


@contextmanager
def open_cluster(backend: BackendConfig) -> Iterator[DaskRunner | None]:
    """Connect to the backend's cluster for the duration of a block.

    Args:
        backend: "local" yields None (the caller runs tasks its own way); "dask" yields a runner on the
            scheduler at `backend.scheduler`, or on a LocalCluster of `backend.workers` processes (one
            thread each, no dashboard) started here and shut down when the block ends.

    Raises:
        ConfigError: the dask backend without Dask installed, or a scheduler that does not answer.
    """
    if backend.name == "local":
        yield None
        return
    distributed = _import_distributed()
    if backend.scheduler:
        with _connect(distributed, backend.scheduler) as client:
            log.info("tasks go to the Dask scheduler at %s", backend.scheduler)
            yield DaskRunner(client)
        return
    workers = backend.workers or os.cpu_count() or 1
    # No dashboard: its fixed port would clash between jobs sharing a node (array jobs), and it needs bokeh.
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        log.info("tasks go to a local Dask cluster of %d worker process(es)", workers)
        yield DaskRunner(client)


def require_backend(backend: BackendConfig) -> None:
    """Fail now, before any work, if the backend cannot be had at all.

    Raises:
        ConfigError: the dask backend without Dask installed.
    """
    if backend.name == "dask":
        _import_distributed()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(f"the dask backend needs Dask, an optional extra: {INSTALL_HINT}") from exc
    return distributed


@contextmanager
def _connect(distributed: Any, address: str) -> Iterator[Any]:
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {reason}") from exc
    with client:
        yield client
