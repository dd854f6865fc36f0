"""HU scaling and the DWT window schedules on hand-made accuracies and CAMs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from radiomicgan.config import WindowConfig, build
from radiomicgan.errors import ConfigError
from radiomicgan.windowing import (
    SCHEDULES,
    EpochRecord,
    Window,
    WindowStep,
    epochs_in_window,
    from_unit,
    needs_cams,
    next_window,
    select_window_from_cams,
    to_unit,
)

GROWTH = [-769, -513, -257, -1, 255, 511, 767, 1000]  # +256 HU from the start, the last step clipped


def run(
    schedule: str,
    accuracies: Sequence[float | None],
    cams: Sequence[Window | None] | None = None,
    config: WindowConfig | None = None,
) -> list[WindowStep]:
    """What a trainer does: train an epoch in a window, record it, ask for the next window."""
    config = config or WindowConfig()
    cams = cams or [None] * len(accuracies)
    history: list[EpochRecord] = []
    steps = [next_window(schedule, history, None, config)]
    for accuracy, cam in zip(accuracies, cams, strict=True):
        history.append(EpochRecord(steps[-1].window_hu, steps[-1].phase, accuracy))
        steps.append(next_window(schedule, history, cam, config))
    return steps


# --- to_unit / from_unit --------------------------------------------------------------------------


def test_round_trip_inside_the_window_and_clipping_outside() -> None:
    hu = np.random.default_rng(0).uniform(-1024, 1000, size=(16, 16)).astype(np.float32)
    unit = to_unit(hu, (-1024, 1000))
    assert unit.dtype == np.float32 and float(unit.min()) >= 0.0 and float(unit.max()) <= 1.0
    np.testing.assert_allclose(from_unit(unit, (-1024, 1000)), hu, atol=1e-3)
    np.testing.assert_array_equal(to_unit(np.array([-3000.0, -1024.0, -896.5, -769.0, 40.0]), (-1024, -769)),
                                  np.array([0.0, 0.0, 0.5, 1.0, 1.0], dtype=np.float32))  # fmt: skip
    np.testing.assert_array_equal(from_unit(np.array([0.0, 1.0]), (-100, 250)), [-100.0, 250.0])
    with pytest.raises(ValueError, match="empty"):
        to_unit(hu, (10, 10))


# --- schedules --------------------------------------------------------------------------------------


def test_the_config_takes_exactly_the_registry_s_schedule_names() -> None:
    assert [WindowConfig(schedule=name).schedule for name in SCHEDULES] == list(SCHEDULES)
    with pytest.raises(ConfigError, match="schedule must be one of minmax, fixed, dynamic, fixed"):
        WindowConfig(schedule="growing")
    with pytest.raises(ValueError, match="unknown window schedule"):
        next_window("growing", [], None, WindowConfig())


def test_minmax_is_always_the_full_range() -> None:
    steps = run("minmax", [0.1, 0.99, None], cams=[(-500, 0)] * 3)
    assert steps == [WindowStep((-1024, 1000), "minmax")] * 4


def test_fixed_grows_by_256_each_time_accuracy_reaches_th_acc() -> None:
    steps = run("fixed", [0.95] * 9)
    assert [s.window_hu[1] for s in steps] == [*GROWTH, 1000, 1000]
    assert all(s.window_hu[0] == -1024 and s.phase == "fixed" for s in steps)


def test_fixed_grows_after_th_eta_epochs_when_accuracy_stays_low() -> None:
    steps = run("fixed", [0.5] * 6, config=WindowConfig(th_eta=3))
    assert [s.window_hu[1] for s in steps] == [-769, -769, -769, -513, -513, -513, -257]
    # Unmeasured accuracy counts as not reached; reaching th_acc early cuts the wait.
    steps = run("fixed", [None, 0.2, 0.91, 0.3], config=WindowConfig(th_eta=2))
    assert [s.window_hu[1] for s in steps] == [-769, -769, -513, -257, -257]


def test_epochs_in_window_counts_the_trailing_run() -> None:
    history = [EpochRecord((-1024, -769), "fixed"), EpochRecord((-1024, -513), "fixed")] + [
        EpochRecord((-1024, -257), "fixed")
    ] * 2
    assert epochs_in_window(history) == 2 and epochs_in_window([]) == 0


def test_dynamic_starts_full_then_follows_cams_clamped_and_ignores_empty_or_narrow_ones() -> None:
    cams: list[Window | None] = [(-900, -100), None, (10, 40), (-2000, 3000), (-300, 500)]
    steps = run("dynamic", [None] * 5, cams=cams)
    assert [s.window_hu for s in steps] == [
        (-1024, 1000),  # no CAM before the first epoch
        (-900, -100),
        (-900, -100),  # no hot spot: keep
        (-900, -100),  # 30 HU wide: keep
        (-1024, 1000),  # clamped to the full range
        (-300, 500),
    ]
    assert all(s.phase == "dynamic" for s in steps)


def test_fixed_then_dynamic_switches_exactly_after_the_full_range_epoch() -> None:
    config = WindowConfig()
    cams: list[Window | None] = [(-600, 200)] * 10
    steps = run("fixed+dynamic", [0.95] * 10, cams=cams, config=config)
    assert [s.window_hu[1] for s in steps[:8]] == GROWTH
    assert [s.phase for s in steps] == ["fixed"] * 8 + ["dynamic"] * 3
    assert steps[8].window_hu == (-600, 200)

    history = [EpochRecord(s.window_hu, s.phase, 0.95) for s in steps[:7]]
    assert not needs_cams("fixed+dynamic", history, config)  # still growing: no CAMs to compute
    history.append(EpochRecord(steps[7].window_hu, steps[7].phase, 0.95))
    assert needs_cams("fixed+dynamic", history, config)
    assert not needs_cams("dynamic", [], config) and needs_cams("dynamic", history[:1], config)


def test_window_config_checks_its_values() -> None:
    config = build(WindowConfig, {"full-range-hu": [-1000, 2000], "fixed_start_hu": [-1000, -500]})
    assert config.full_range_hu == (-1000, 2000) and config.fixed_start_hu == (-1000, -500)
    with pytest.raises(ConfigError, match="fixed_start_hu"):
        WindowConfig(fixed_start_hu=(-900, -500))
    with pytest.raises(ConfigError, match="th_fail"):
        WindowConfig(th_fail=1.5)
    with pytest.raises(ConfigError, match="schedule"):
        WindowConfig(schedule="cosine")


# --- selection from CAMs ------------------------------------------------------------------------------


def test_cam_selection_keeps_repeated_hu_values_of_hot_pixels() -> None:
    hu = np.array(
        [
            [-700.2, -700.0, -650.0, 900.0],
            [-650.4, 120.0, 120.0, 120.0],
            [-1000.0, -1000.0, 300.0, 300.0],
        ]
    )
    cam = np.array(
        [
            [0.9, 0.8, 0.7, 0.95],  # 900 is hot but occurs once: noise
            [0.6, 0.9, 0.55, 0.51],
            [0.1, 0.2, 0.3, 0.4],  # cold: -1000 and 300 are not selected though repeated
        ]
    )
    assert select_window_from_cams([hu], [cam], th_fail=0.5) == (-700, 120)
    # Frequencies count within each image, then images (and subsets) merge.
    other = np.full((3, 4), 450.0)
    other[0, 0] = 800.0
    assert select_window_from_cams([hu, other], [cam, np.ones((3, 4))], th_fail=0.5) == (-700, 450)
    assert select_window_from_cams([hu], [cam], th_fail=0.96) is None
    assert select_window_from_cams([], [], th_fail=0.5) is None
    with pytest.raises(ValueError, match="shape"):
        select_window_from_cams([hu], [cam[:2]], th_fail=0.5)
