"""The feature cache: same values on a second call, with no extraction performed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radiomicgan.evaluate.cache import FeatureCache, feature_key
from radiomicgan.evaluate.features import FeatureTask, extract_many
from radiomicgan.evaluate.settings import RadiomicsSettings, load_settings


def _tasks(count: int) -> list[FeatureTask]:
    rng = np.random.default_rng(5)
    tasks = []
    for _ in range(count):
        image = rng.normal(0.0, 100.0, (40, 40)).astype(np.float32)
        mask = np.zeros((40, 40), dtype=bool)
        mask[5:35, 5:35] = True
        tasks.append(FeatureTask(image, mask, (0.8, 0.8)))
    return tasks


def test_second_call_is_served_from_the_cache(tmp_path: Path, light_settings: RadiomicsSettings) -> None:
    tasks = _tasks(3)
    first_cache = FeatureCache(tmp_path / "cache")
    first = extract_many(tasks, settings=light_settings, cache=first_cache)
    assert (first_cache.misses, first_cache.hits) == (3, 0)  # three extractions performed

    second_cache = FeatureCache(tmp_path / "cache")  # a later evaluation, same folder
    second = extract_many([*tasks, tasks[1]], settings=light_settings, cache=second_cache)
    assert (second_cache.misses, second_cache.hits) == (0, 3)  # none performed
    np.testing.assert_array_equal(second.to_numpy()[:3], first.to_numpy())
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 3
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_key_depends_on_every_input(light_settings: RadiomicsSettings) -> None:
    task = _tasks(1)[0]
    base = feature_key(task.image_hu, task.mask, task.spacing_yx_mm, light_settings)
    image = task.image_hu.copy()
    image[0, 0] += 1.0
    mask = task.mask.copy()
    mask[5, 5] = False
    variants = [
        feature_key(image, task.mask, task.spacing_yx_mm, light_settings),
        feature_key(task.image_hu, mask, task.spacing_yx_mm, light_settings),
        feature_key(task.image_hu, task.mask, (0.8, 0.9), light_settings),
        feature_key(task.image_hu, task.mask, task.spacing_yx_mm, load_settings()),
        feature_key(
            task.image_hu.reshape(20, 80), task.mask.reshape(20, 80), task.spacing_yx_mm, light_settings
        ),
    ]
    assert base == feature_key(task.image_hu.copy(), task.mask.copy(), task.spacing_yx_mm, light_settings)
    assert len({base, *variants}) == 6


def test_damaged_entry_is_recomputed(tmp_path: Path, light_settings: RadiomicsSettings) -> None:
    tasks = _tasks(1)
    cache = FeatureCache(tmp_path)
    first = extract_many(tasks, settings=light_settings, cache=cache)
    (entry,) = tmp_path.rglob("*.npy")
    entry.write_bytes(b"not an array")
    again = FeatureCache(tmp_path)
    np.testing.assert_array_equal(
        extract_many(tasks, settings=light_settings, cache=again).to_numpy(), first.to_numpy()
    )
    assert again.misses == 1


def test_pickled_payload_is_refused(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    key = "ab" + "0" * 62
    (tmp_path / "ab").mkdir()
    np.save(tmp_path / "ab" / f"{key}.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert cache.get(key, 1) is None  # object arrays need pickle: never loaded


def test_unwritable_folder_is_an_output_error(tmp_path: Path) -> None:
    from radiomicgan.errors import OutputError

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError):
        FeatureCache(blocker).put("ab" + "0" * 62, np.zeros(3))
