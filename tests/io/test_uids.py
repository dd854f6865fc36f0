"""Deterministic UIDs."""

from __future__ import annotations

import pytest
from pydicom.uid import UID

from radiomicgan.io.uids import deterministic_uid, instance_uid


def test_uids_are_valid_deterministic_and_distinct():
    uid = deterministic_uid("series", "1.2.3", "model")
    assert UID(uid).is_valid and len(uid) <= 64
    assert uid == deterministic_uid("series", "1.2.3", "model")
    assert uid != deterministic_uid("series", "1.2.3", "other")
    assert instance_uid("1.2.3", 0) != instance_uid("1.2.3", 1)


def test_no_parts_is_an_error():
    with pytest.raises(ValueError):
        deterministic_uid()
