"""Where tasks run: the local backend leaves them to the caller; the dask backend maps them over a real
cluster's worker processes, in item order; Dask missing or unreachable is a one-line ConfigError."""

from __future__ import annotations

import os
import re
import sys
import time

import pytest

from radiomicgan import cluster
from radiomicgan.cluster import DaskRunner, SerialRunner, open_cluster
from radiomicgan.config import BackendConfig, FeatureConfig
from radiomicgan.errors import ConfigError


def test_the_local_backend_opens_no_cluster() -> None:
    with open_cluster(BackendConfig()) as opened:
        assert opened is None


def test_the_serial_runner_runs_each_task_when_its_result_is_asked_for() -> None:
    calls: list[int] = []

    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    results = SerialRunner().map(double, [3, 1, 2])
    assert calls == []
    assert next(results) == 6 and calls == [3]
    assert list(results) == [2, 4] and calls == [3, 1, 2]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "slurm"}, "backend: must be one of local, dask, got 'slurm'"),
        ({"workers": -1}, "workers must be >= 0"),
        ({"scheduler": "tcp://head:8786"}, "a scheduler address needs the dask backend"),
    ],
)
def test_bad_backends_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BackendConfig(**fields)  # type: ignore[arg-type]


def test_feature_extraction_takes_its_backend_from_the_features_section() -> None:
    features = FeatureConfig(jobs=3, backend="dask", scheduler="tcp://head:8786")
    assert features.cluster == BackendConfig(name="dask", scheduler="tcp://head:8786", workers=3)
    with pytest.raises(ConfigError, match="needs the dask backend"):
        FeatureConfig(scheduler="tcp://head:8786")


def test_dask_missing_is_a_config_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    with pytest.raises(ConfigError) as raised, open_cluster(BackendConfig(name="dask")):
        pytest.fail("a cluster opened without Dask")
    message = str(raised.value)
    assert "pip install radiomicgan[cluster]" in message and "\n" not in message


def test_an_unreachable_scheduler_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    address = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    with (
        pytest.raises(ConfigError, match=re.escape(f"cannot reach the Dask scheduler at {address}")),
        open_cluster(BackendConfig(name="dask", scheduler=address)),
    ):
        pytest.fail("connected to nothing")


@pytest.mark.slow
def test_a_local_cluster_maps_over_its_worker_processes_in_item_order() -> None:
    with open_cluster(BackendConfig(name="dask", workers=2)) as opened:
        assert isinstance(opened, DaskRunner)
        assert len(opened.client.scheduler_info()["workers"]) == 2
        # slower tasks first: results still come back in item order, not in order of completion
        results = list(opened.map(lambda x: (time.sleep(0.05 * (6 - x)), x * x, os.getpid())[1:], range(6)))
    assert [square for square, _ in results] == [x * x for x in range(6)]
    assert os.getpid() not in {pid for _, pid in results}  # run in the workers, not here


@pytest.mark.slow
def test_a_running_scheduler_is_reached_by_its_address(dask_scheduler: str) -> None:
    with open_cluster(BackendConfig(name="dask", scheduler=dask_scheduler)) as opened:
        assert opened is not None
        assert list(opened.map(lambda x: -x, [1, 2, 3])) == [-1, -2, -3]
    # a task's error reaches the caller as itself
    with (
        pytest.raises(ZeroDivisionError),
        open_cluster(BackendConfig(name="dask", scheduler=dask_scheduler)) as opened,
    ):
        assert opened is not None
        list(opened.map(lambda x: 1 // x, [1, 0]))
