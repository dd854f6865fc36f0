"""NRRD and NIfTI through SimpleITK: values, LPS geometry and axis order survive a round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from radiomicgan.errors import InputError, OutputError
from radiomicgan.io import Derivation, Volume, read_volume, write_volume
from radiomicgan.io.itk_formats import itk_format

LUNG1 = Path("/work/shared/data/lung1_image.nrrd")
OBLIQUE = Rotation.from_euler("zyx", [25, 10, -15], degrees=True).as_matrix()


def _volume(direction: np.ndarray, *, integer: bool) -> Volume:
    rng = np.random.default_rng(7)
    hu = rng.integers(-1024, 3072, size=(5, 12, 9)).astype(np.float32)
    if not integer:
        hu += np.float32(0.25)
    return Volume(
        hu=hu, spacing_zyx_mm=(3.0, 0.75, 0.6), origin_xyz_mm=(-12.5, 40.0, -300.25), direction=direction
    )


@pytest.mark.parametrize("name", ["v.nrrd", "v.nhdr", "v.nii", "v.nii.gz"])
@pytest.mark.parametrize("integer", [True, False], ids=["int16", "float32"])
def test_round_trip_keeps_values_and_geometry(tmp_path, name, integer):
    volume = _volume(OBLIQUE, integer=integer)
    out = write_volume(volume, tmp_path / name)
    again = read_volume(out)
    assert again.shape == volume.shape
    assert np.array_equal(again.hu, volume.hu)
    assert again.source_format == itk_format(name) and again.source_path == out
    # NIfTI stores its geometry in float32; NRRD in full double precision
    atol = 1e-4 if name.startswith("v.nii") else 1e-9
    np.testing.assert_allclose(again.spacing_zyx_mm, volume.spacing_zyx_mm, atol=atol)
    np.testing.assert_allclose(again.origin_xyz_mm, volume.origin_xyz_mm, atol=atol)
    np.testing.assert_allclose(again.direction, volume.direction, atol=atol)
    stored = sitk.ReadImage(str(out)).GetPixelIDTypeAsString()
    assert stored == ("16-bit signed integer" if integer else "32-bit float")


def test_axis_order_is_itk_x_y_z_to_array_z_y_x(tmp_path):
    image = sitk.Image([4, 3, 2], sitk.sitkInt16)  # x=4 columns, y=3 rows, z=2 slices
    image.SetSpacing((0.5, 0.6, 2.0))
    image.SetOrigin((1.0, 2.0, 3.0))
    image.SetPixel(3, 1, 0, 100)  # x=3, y=1, z=0
    sitk.WriteImage(image, str(tmp_path / "axes.nrrd"))
    volume = read_volume(tmp_path / "axes.nrrd")
    assert volume.shape == (2, 3, 4)
    assert volume.hu[0, 1, 3] == 100
    assert volume.spacing_zyx_mm == (2.0, 0.6, 0.5)
    np.testing.assert_allclose(volume.slice_positions_xyz_mm()[1], [1.0, 2.0, 5.0])


def test_derivation_is_recorded_in_the_nrrd_header(tmp_path):
    volume = _volume(np.eye(3), integer=True)
    out = write_volume(volume, tmp_path / "h.nrrd", derivation=Derivation("RadiomicGAN", "harmonized", "m1"))
    header = sitk.ReadImage(str(out))
    assert header.GetMetaData("radiomicgan_method") == "RadiomicGAN"
    assert header.GetMetaData("radiomicgan_model_id") == "m1"


def test_two_d_image_is_one_slice(tmp_path):
    sitk.WriteImage(sitk.Image([5, 4], sitk.sitkFloat32), str(tmp_path / "flat.nii.gz"))
    assert read_volume(tmp_path / "flat.nii.gz").shape == (1, 4, 5)


def test_vector_image_is_refused(tmp_path):
    sitk.WriteImage(sitk.Image([5, 4, 3], sitk.sitkVectorFloat32, 2), str(tmp_path / "vec.nrrd"))
    with pytest.raises(InputError, match="not a scalar image"):
        read_volume(tmp_path / "vec.nrrd")


def test_write_refusals(tmp_path, tree_digests):
    volume = _volume(np.eye(3), integer=True)
    out = write_volume(volume, tmp_path / "v.nrrd")
    with pytest.raises(OutputError, match="already exists"):
        write_volume(volume, out)
    source = read_volume(out)
    before = tree_digests(out)
    with pytest.raises(OutputError, match="is the input file"):
        write_volume(source, out, overwrite=True)
    assert tree_digests(out) == before
    write_volume(volume.with_hu(volume.hu + 1), out, overwrite=True)
    assert np.array_equal(read_volume(out).hu, volume.hu + 1)
    nan = volume.hu.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(OutputError, match="NaN"):
        write_volume(volume.with_hu(nan), tmp_path / "nan.nii.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.nrrd"]


def test_read_refusals(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_volume(tmp_path / "missing.nrrd")
    (tmp_path / "broken.nrrd").write_text("NRRD0004\nthis is not a header\n")
    with pytest.raises(InputError, match="cannot read NRRD file"):
        read_volume(tmp_path / "broken.nrrd")
    write_volume(_volume(np.eye(3), integer=True), tmp_path / "v.nii")
    with pytest.raises(InputError, match="series_uid applies to DICOM input only"):
        read_volume(tmp_path / "v.nii", series_uid="1.2.3")


@pytest.mark.skipif(not LUNG1.exists(), reason=f"shared real CT {LUNG1} is absent on this machine")
def test_shared_lung1_ct_reads(tree_digests):
    before = tree_digests(LUNG1)
    volume = read_volume(LUNG1)
    assert volume.shape == (48, 512, 512)
    np.testing.assert_allclose(volume.spacing_zyx_mm, (5.0, 0.5703125, 0.5703125))
    np.testing.assert_allclose(volume.origin_xyz_mm, (-146.0, -325.0, -777.5), atol=1e-6)
    assert -1100 < volume.hu.min() < -900 and volume.hu.max() > 500  # air and bone in HU
    assert tree_digests(LUNG1) == before
