"""Series jobs of a tree: disjoint shares by UID, counting written slices, what a re-run does with outputs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from tests.conftest import SyntheticSeries, make_ct_series

from radiomicgan.errors import ConfigError
from radiomicgan.inference.jobs import SeriesJob, part_of, select_part, series_jobs, triage, written_slices
from radiomicgan.io import find_series

UIDS = [f"1.2.826.0.1.3680043.8.498.{n}" for n in range(1000)]


@pytest.mark.parametrize("num_parts", [1, 2, 3, 10])
def test_every_series_falls_in_exactly_one_share(num_parts: int) -> None:
    parts = [part_of(uid, num_parts) for uid in UIDS]
    assert set(parts) <= set(range(num_parts))
    assert parts == [part_of(uid, num_parts) for uid in UIDS]  # the same on every node, every run
    sizes = Counter(parts)
    assert all(abs(sizes[k] - len(UIDS) / num_parts) < 4 * (len(UIDS) / num_parts) ** 0.5 for k in sizes)


def test_a_share_depends_on_the_uid_alone() -> None:
    alone = part_of(UIDS[7], 4)
    assert [part_of(uid, 4) for uid in reversed(UIDS)][-8] == alone


@pytest.mark.parametrize(
    ("num_parts", "part_id", "message"), [(0, 0, ">= 1"), (2, 2, r"0\.\.1"), (3, -1, r"0\.\.2")]
)
def test_shares_that_do_not_exist_are_refused(num_parts: int, part_id: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        select_part([], num_parts, part_id)


@pytest.fixture
def tree(tmp_path: Path) -> list[SyntheticSeries]:
    """Three 4-slice series: in/a, in/b, in/c."""
    return [make_ct_series(tmp_path / "in" / name, slices=4, seed=n) for n, name in enumerate("abc")]


def test_shares_of_a_tree_are_disjoint_and_cover_it(tree: list[SyntheticSeries], tmp_path: Path) -> None:
    jobs = series_jobs(tmp_path / "in", tmp_path / "out")
    assert sorted(job.out for job in jobs) == [tmp_path / "out" / name for name in "abc"]
    for num_parts in (2, 3):
        shares = [select_part(jobs, num_parts, k) for k in range(num_parts)]
        outs = [job.out for share in shares for job in share]
        assert sorted(outs) == sorted(job.out for job in jobs) and len(set(outs)) == len(jobs)


def _job(series: SyntheticSeries, out: Path) -> SeriesJob:
    (ref,) = find_series(series.folder)
    return SeriesJob(ref, out)


def test_a_rerun_keeps_a_complete_output_and_redoes_an_incomplete_one(
    tree: list[SyntheticSeries], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "a"
    job = _job(tree[0], out)
    assert triage(job, "skip") == "written"  # nothing there yet
    out.mkdir(parents=True)
    for z in range(3):
        (out / f"IM{z + 1:06d}.dcm").write_bytes(b"")
    assert written_slices(out) == 3
    assert triage(job, "skip") == "redone"  # 3 of 4 slices
    (out / "IM000004.dcm").write_bytes(b"")
    (out / "notes.txt").write_text("not a slice")
    assert triage(job, "skip") == "skipped"
    assert triage(job, "replace") == triage(job, "error") == "written"  # the writer decides


def test_a_killed_runs_temporary_folders_are_removed(tree: list[SyntheticSeries], tmp_path: Path) -> None:
    out = tmp_path / "out" / "a"
    leftover = out.parent / ".a.0123456789ab.partial"
    other = out.parent / ".ab.0123456789ab.partial"  # another output's: kept
    for folder in (leftover, other):
        folder.mkdir(parents=True)
        (folder / "IM000001.dcm").write_bytes(b"half a slice")
    assert triage(_job(tree[0], out), "skip") == "written"
    assert not leftover.exists() and other.exists()
