"""Users' regions (lesions, organs) read onto a CT's grid: label volumes, DICOM SEG, RTSTRUCT.

`read_regions(path, reference)` returns a `RegionSet`: one boolean `Region` mask per label value,
segment or ROI, on the grid of the reference CT (`reference.hu.shape`). A mask that does not fit
the CT (another grid, another series) is refused, never silently moved.
"""

from radiomicgan.io.masks.reader import read_regions
from radiomicgan.io.masks.regions import MaskFormat, Region, RegionSet

__all__ = ["MaskFormat", "Region", "RegionSet", "read_regions"]
