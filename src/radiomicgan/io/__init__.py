"""Reading, writing and pairing CT volumes: DICOM series, NRRD and NIfTI.

Every reader returns a `Volume` (float32 HU [z, y, x] with LPS geometry) and every writer takes one;
`plan_series`, `iter_slice_batches` and `dicom_series_writer` stream a DICOM series batch by batch.
"""

from radiomicgan.io.convolution_kernel import kernel_text, same_kernel
from radiomicgan.io.ct_datasets import new_ct_datasets
from radiomicgan.io.derivation import Derivation
from radiomicgan.io.dicom_reader import SeriesPlan, plan_series
from radiomicgan.io.dicom_writer import DicomSeriesWriter, dicom_series_writer, write_dicom_series
from radiomicgan.io.discovery import SeriesRef, find_series
from radiomicgan.io.pairing import VolumePair, pair_volumes
from radiomicgan.io.reader import read_volume
from radiomicgan.io.stream import SliceBatch, iter_slice_batches
from radiomicgan.io.summary import SeriesSummary, format_summary, summarize
from radiomicgan.io.uids import deterministic_uid
from radiomicgan.io.volume import SeriesMeta, Volume
from radiomicgan.io.writer import write_volume

__all__ = [
    "Derivation",
    "DicomSeriesWriter",
    "SeriesMeta",
    "SeriesPlan",
    "SeriesRef",
    "SeriesSummary",
    "SliceBatch",
    "Volume",
    "VolumePair",
    "deterministic_uid",
    "dicom_series_writer",
    "find_series",
    "format_summary",
    "iter_slice_batches",
    "kernel_text",
    "new_ct_datasets",
    "pair_volumes",
    "plan_series",
    "read_volume",
    "same_kernel",
    "summarize",
    "write_dicom_series",
    "write_volume",
]
