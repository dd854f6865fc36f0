"""RegionSet.select: by exact name or by number, in the order asked, an absent one refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radiomicgan.errors import InputError
from radiomicgan.io.masks import Region, RegionSet


def _set() -> RegionSet:
    masks = [np.zeros((2, 3, 3), dtype=bool) for _ in range(3)]
    masks[0][0, 0, 0] = True
    regions = (Region(1, "liver", masks[0]), Region(2, "Tumour", masks[1]), Region(7, "3", masks[2]))
    return RegionSet(regions=regions, source_path=Path("lesions.seg.nrrd"), source_format="nrrd")


def test_select_by_name_and_number_in_the_order_asked():
    chosen = _set().select(["Tumour", "1", "liver"])
    assert [r.number for r in chosen.regions] == [2, 1]  # "liver" is region 1 again: kept once
    assert chosen.source_path == Path("lesions.seg.nrrd") and chosen.source_format == "nrrd"
    assert chosen.regions[1].voxels == 1


def test_one_name_alone_is_a_name_not_its_letters():
    assert [r.name for r in _set().select("liver").regions] == ["liver"]


def test_a_name_wins_over_a_number():
    assert [r.number for r in _set().select(["3"]).regions] == [7]
    assert [r.number for r in _set().select(["7"]).regions] == [7]


@pytest.mark.parametrize("absent", ["tumour", "4", " liver"])
def test_an_absent_region_is_refused_listing_the_regions(absent):
    with pytest.raises(InputError) as caught:
        _set().select([absent])
    assert caught.value.path == Path("lesions.seg.nrrd")
    assert caught.value.reason == f"no region {absent!r} (regions: 1 liver, 2 Tumour, 7 3)"
