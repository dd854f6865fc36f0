"""Where feature extractions run: here, over local worker processes, or on a cluster's workers.

Every extraction (a 2-D ROI of the evaluation, a 3-D region of `radiomicgan features`) goes through
`map_extractions`, so they share one way of starting workers: spawned processes (safe beside threads
in the caller), one SimpleITK thread each (one process per core, no oversubscription), the
PyRadiomics extractor built once per process. A script calling it with jobs != 1 needs the usual
`if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import SimpleITK as sitk

from radiomicgan.cluster import TaskRunner
from radiomicgan.evaluate.settings import RadiomicsSettings, cached_extractor

T = TypeVar("T")
R = TypeVar("R")

Extract = Callable[[T, RadiomicsSettings], R]

_worker_settings: RadiomicsSettings | None = None


def worker_count(jobs: int, tasks: int) -> int:
    """Processes used for `tasks` extractions: `jobs` (0: one per core), never more than the tasks."""
    return min(jobs if jobs > 0 else os.cpu_count() or 1, tasks)


def map_extractions(
    extract: Extract[T, R],
    tasks: Sequence[T],
    settings: RadiomicsSettings,
    jobs: int = 1,
    runner: TaskRunner | None = None,
) -> Iterator[R]:
    """`extract(task, settings)` for every task, in task order.

    Args:
        extract: a module-level function (it travels to the workers by name).
        tasks: picklable items.
        settings: the PyRadiomics parameters every task is extracted with.
        jobs: worker processes; 1 runs here, 0 means one per core; ignored with a `runner`.
        runner: run on a cluster's workers instead (`radiomicgan.cluster.open_cluster`), one task each.

    Returns:
        The results, lazily, in task order; a task's exception is raised at its turn.
    """
    if runner is not None:
        yield from runner.map(functools.partial(_on_cluster, extract, settings=settings), tasks)
        return
    workers = worker_count(jobs, len(tasks))
    if workers <= 1:
        yield from (extract(task, settings) for task in tasks)
        return
    chunk = max(1, len(tasks) // (workers * 8))  # small enough to balance, large enough to amortize IPC
    context = multiprocessing.get_context("spawn")  # safe beside threads (torch, SimpleITK) in the parent
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(settings,)
    ) as pool:
        yield from pool.map(functools.partial(_in_worker, extract), tasks, chunksize=chunk)


def _init_worker(settings: RadiomicsSettings) -> None:
    global _worker_settings
    _worker_settings = settings
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # type: ignore[no-untyped-call]  # one process per core
    cached_extractor(settings)  # built once per worker, before the first task


def _in_worker(extract: Extract[T, R], task: T) -> R:
    if _worker_settings is None:
        raise RuntimeError("feature worker used before _init_worker")
    return extract(task, _worker_settings)


def _on_cluster(extract: Extract[T, R], task: T, settings: RadiomicsSettings) -> R:
    # A cluster worker has no initializer: one SimpleITK thread per task is set here (cheap, idempotent),
    # as _init_worker does for local processes; the extractor is built once per worker (lru_cache).
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # type: ignore[no-untyped-call]
    return extract(task, settings)
