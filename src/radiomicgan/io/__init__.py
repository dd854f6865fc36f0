"""Reading, writing and pairing CT volumes: DICOM series, NRRD and NIfTI.

Every reader returns a `Volume` (float32 HU [z, y, x] with LPS geometry) and every writer takes one.
"""

from radiomicgan.io.ct_datasets import new_ct_datasets
from radiomicgan.io.derivation import Derivation
from radiomicgan.io.dicom_writer import write_dicom_series
from radiomicgan.io.discovery import SeriesRef, find_series
from radiomicgan.io.pairing import VolumePair, pair_volumes
from radiomicgan.io.reader import read_volume
from radiomicgan.io.summary import SeriesSummary, format_summary, summarize
from radiomicgan.io.uids import deterministic_uid
from radiomicgan.io.volume import SeriesMeta, Volume
from radiomicgan.io.writer import write_volume

__all__ = [
    "Derivation",
    "SeriesMeta",
    "SeriesRef",
    "SeriesSummary",
    "Volume",
    "VolumePair",
    "deterministic_uid",
    "find_series",
    "format_summary",
    "new_ct_datasets",
    "pair_volumes",
    "read_volume",
    "summarize",
    "write_dicom_series",
    "write_volume",
]
