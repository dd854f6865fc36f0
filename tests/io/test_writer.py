"""write_volume: the format follows the output path, and DICOM needs datasets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from radiomicgan.errors import OutputError
from radiomicgan.io import SeriesMeta, Volume, deterministic_uid, new_ct_datasets, read_volume, write_volume


def test_suffix_chooses_the_format_even_for_a_dicom_volume(ct_series, tmp_path):
    volume = read_volume(ct_series.folder)
    assert write_volume(volume, tmp_path / "v.nrrd").is_file()
    folder = write_volume(volume, tmp_path / "series")
    assert folder.is_dir() and len(list(folder.iterdir())) == 6


def test_dicom_output_without_datasets_is_refused(ct_series, tmp_path):
    volume = replace(read_volume(ct_series.folder), datasets=None)
    with pytest.raises(OutputError, match="new_ct_datasets"):
        write_volume(volume, tmp_path / "series")
    assert not (tmp_path / "series").exists()


def test_dicom_made_from_a_volume_file_may_sit_next_to_it(tmp_path):
    hu = np.full((2, 6, 5), -1000.0, dtype=np.float32)
    volume = read_volume(write_volume(Volume(hu=hu, spacing_zyx_mm=(2.0, 1.0, 1.0)), tmp_path / "scan.nrrd"))
    uids = (deterministic_uid(part) for part in ("study", "for", "series"))
    volume = replace(volume, meta=SeriesMeta(*uids))
    names = dict(patient_name="P", patient_id="1", study_description="s", series_description="d")
    datasets = new_ct_datasets(volume, **names, series_number=1, kernel="k")
    out = write_volume(replace(volume, datasets=datasets), tmp_path / "scan_dicom")
    assert np.array_equal(read_volume(out).hu, hu)
