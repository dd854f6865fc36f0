"""Paired kernels from one noisy scan: registration, equal means, ordered noise, independent retest."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from radiomicgan.config import SimulationConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.io.volume import Volume
from radiomicgan.reconstruction import MAX_STRENGTH
from radiomicgan.simulate.phantom import PHANTOM_FOV_MM, make_phantom, sample_anatomy
from radiomicgan.simulate.simulator import (
    reconstruct_slice,
    series_description,
    series_label,
    simulate_kernels,
    simulate_pair,
)

SIZE, SLICES = 128, 2
KERNELS = ("smooth", "medium", "sharp")
CONFIG = SimulationConfig(size_px=SIZE, slices=SLICES, retest=True, jobs=1)


@pytest.fixture(scope="module")
def phantom() -> Volume:
    return make_phantom(SIZE, SLICES, seed=0)


@pytest.fixture(scope="module")
def noisy(phantom: Volume) -> dict[str, Volume]:
    return simulate_kernels(phantom, CONFIG)


@pytest.fixture(scope="module")
def clean(phantom: Volume) -> dict[str, Volume]:
    return simulate_kernels(phantom, replace(CONFIG, retest=False, photons_per_ray=math.inf))


@pytest.fixture(scope="module")
def noise(noisy: dict[str, Volume], clean: dict[str, Volume]) -> dict[str, np.ndarray]:
    """Each output's noise: the noisy image minus the same kernel's noise-free image."""
    fields = {k: noisy[k].hu - clean[k].hu for k in KERNELS}
    fields["retest"] = noisy["sharp_retest"].hu - clean["sharp"].hu
    return fields


@pytest.fixture(scope="module")
def body(phantom: Volume) -> np.ndarray:
    return ndimage.binary_erosion(phantom.hu > -950, structure=np.ones((1, 3, 3)), iterations=2)


@pytest.fixture(scope="module")
def heart() -> np.ndarray:
    """A disc of radius 20 mm in the phantom's uniform 40 HU heart, on both slices."""
    x0, y0, _ = sample_anatomy(0).heart_centre_mm
    c = (np.arange(SIZE) - (SIZE - 1) / 2.0) * PHANTOM_FOV_MM / SIZE
    disc = (c[None, :] - x0) ** 2 + (c[:, None] - y0) ** 2 < 20.0**2
    return np.broadcast_to(disc, (SLICES, SIZE, SIZE))


def _corr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.corrcoef(a[mask], b[mask])[0, 1])


def test_outputs_are_registered_series_of_one_study(phantom: Volume, noisy: dict[str, Volume]) -> None:
    assert list(noisy) == [*KERNELS, "sharp_retest"]
    series = {v.meta.series_uid for v in noisy.values()}
    assert len(series) == 4 and "" not in series
    for key, volume in noisy.items():
        assert volume.shape == phantom.shape
        assert volume.spacing_zyx_mm == phantom.spacing_zyx_mm
        assert volume.origin_xyz_mm == phantom.origin_xyz_mm
        np.testing.assert_array_equal(volume.direction, phantom.direction)
        assert volume.meta.study_uid == noisy["sharp"].meta.study_uid != ""
        assert volume.meta.frame_of_reference_uid == noisy["sharp"].meta.frame_of_reference_uid != ""
        assert volume.meta.kernel == key.removesuffix("_retest")
        assert volume.datasets is None and volume.hu.dtype == np.float32


def test_same_seed_same_images_other_seed_other_noise(phantom: Volume, noisy: dict[str, Volume]) -> None:
    again = simulate_kernels(phantom, CONFIG)
    for key in noisy:
        np.testing.assert_array_equal(again[key].hu, noisy[key].hu)
        assert again[key].meta == noisy[key].meta
    other = simulate_kernels(phantom, replace(CONFIG, seed=1))
    assert not np.allclose(other["sharp"].hu, noisy["sharp"].hu)
    assert other["sharp"].meta.study_uid != noisy["sharp"].meta.study_uid  # another scan, another study


def test_kernels_agree_in_mean_hu(noisy: dict[str, Volume], heart: np.ndarray) -> None:
    means = {k: float(v.hu[heart].mean()) for k, v in noisy.items()}
    for key, mean in means.items():
        assert mean == pytest.approx(40.0, abs=4.0), key
        assert mean == pytest.approx(means["sharp"], abs=3.0), key


def test_noise_and_high_frequency_power_rise_from_smooth_to_sharp(
    noise: dict[str, np.ndarray], body: np.ndarray, heart: np.ndarray
) -> None:
    stds = [float(noise[k][body].std()) for k in KERNELS]
    assert stds == sorted(stds) and stds[0] < 0.6 * stds[2]
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(SIZE), np.fft.fftfreq(SIZE), indexing="ij"))
    high = [float((np.abs(np.fft.fft2(noise[k] * body)) ** 2)[:, frequency > 0.25].sum()) for k in KERNELS]
    assert high == sorted(high) and high[0] < 0.2 * high[2]
    sharp_in_heart = float(noise["sharp"][heart].std())
    assert 10.0 < sharp_in_heart < 30.0  # 2.8 mm pixels; docs/kernels.md has 0.7 mm figures


def test_retest_differs_from_standard_by_independent_noise_only(
    noisy: dict[str, Volume], noise: dict[str, np.ndarray], body: np.ndarray
) -> None:
    difference = noisy["sharp_retest"].hu - noisy["sharp"].hu
    assert abs(float(difference[body].mean())) < 1.0
    assert float(noise["retest"][body].std()) == pytest.approx(float(noise["sharp"][body].std()), rel=0.1)
    assert abs(_corr(noise["retest"], noise["sharp"], body)) < 0.05
    # the kernels share one noise realization: what a learned mapping can exploit and a rescan cannot
    assert _corr(noise["smooth"], noise["sharp"], body) > 0.5
    assert _corr(noise["medium"], noise["sharp"], body) > 0.8


def test_without_noise_the_sharp_kernel_reconstructs_a_phantom_of_flat_regions() -> None:
    size, pixel = 128, 2.0
    c = (np.arange(size) - (size - 1) / 2.0) * pixel
    x, y = c[None, :], c[:, None]
    water = x**2 / 100**2 + y**2 / 80**2 < 1
    bone, lung = (x - 40) ** 2 + y**2 < 20**2, (x + 40) ** 2 + y**2 < 20**2
    hu = np.where(water, 0.0, -1000.0)
    hu[bone], hu[lung] = 800.0, -850.0
    sharp = reconstruct_slice(hu.astype(np.float32), pixel_mm=pixel, kernels=["sharp"], photons_per_ray=1e12)[
        0
    ]
    edges = ndimage.morphological_gradient(hu, size=3) > 0
    far = ~ndimage.binary_dilation(edges, iterations=5)
    for region, value in ((water & ~bone & ~lung, 0.0), (bone, 800.0), (lung, -850.0), (~water, -1000.0)):
        assert float(sharp[region & far].mean()) == pytest.approx(value, abs=4.0)
    # what remains is aliasing speckle of the pixel-sharp edges (docs/kernels.md), not bias
    assert float(np.sqrt(np.mean((sharp - hu)[far] ** 2))) < 12.0


def test_without_noise_the_sharp_kernel_is_the_most_faithful(
    phantom: Volume, clean: dict[str, Volume]
) -> None:
    inside = ndimage.binary_erosion(ndimage.binary_fill_holes(phantom.hu[0] > -500), iterations=3)
    errors = {}
    for key in KERNELS:  # compare at frequencies every kernel passes (Gaussian, sigma 2 pixels)
        error = ndimage.gaussian_filter(clean[key].hu[0], 2) - ndimage.gaussian_filter(phantom.hu[0], 2)
        errors[key] = float(np.sqrt(np.mean(error[inside] ** 2)))
    assert errors["sharp"] < errors["medium"] < errors["smooth"]
    assert errors["sharp"] < 6.0


def test_simulate_pair_gives_non_standard_then_standard(phantom: Volume) -> None:
    small = phantom.subset([0])
    non_standard, standard = simulate_pair(small, "smooth", "sharp", seed=2)
    both = simulate_kernels(
        small, SimulationConfig(kernels=("smooth", "sharp"), size_px=SIZE, slices=1, seed=2, jobs=1)
    )
    np.testing.assert_array_equal(non_standard.hu, both["smooth"].hu)
    np.testing.assert_array_equal(standard.hu, both["sharp"].hu)
    assert (non_standard.meta.kernel, standard.meta.kernel) == ("smooth", "sharp")
    with pytest.raises(ConfigError, match="must differ"):
        simulate_pair(small, "sharp", "sharp")


def test_bad_requests_are_refused(phantom: Volume) -> None:
    with pytest.raises(ConfigError, match="unknown kernel"):
        simulate_kernels(phantom, replace(CONFIG, kernels=("smooth", "B70f"), retest=False))
    wide = Volume(np.zeros((1, 16, 24), np.float32), (1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="square"):
        simulate_kernels(wide, CONFIG)


@pytest.mark.slow
def test_worker_processes_give_the_same_images(phantom: Volume, noisy: dict[str, Volume]) -> None:
    parallel = simulate_kernels(phantom, replace(CONFIG, jobs=2))
    for key in noisy:
        np.testing.assert_array_equal(parallel[key].hu, noisy[key].hu)


# --- doses: binomial thinning of the full-dose counts ------------------------------------------------


def _water_cylinder(size: int = 64, slices: int = 4) -> tuple[Volume, np.ndarray]:
    """A 0 HU disc in air (2 mm pixels, 104 mm across at 64 px), and its central half, away from the edge."""
    c = np.arange(size) - (size - 1) / 2.0
    r = np.hypot(c[None, :], c[:, None]) / size
    hu = np.repeat(np.where(r < 26 / 64, 0.0, -1000.0).astype(np.float32)[None], slices, axis=0)
    return Volume(hu, (2.0, 2.0, 2.0)), np.broadcast_to(r < 16 / 64, hu.shape)


@pytest.mark.usefixtures("one_torch_thread")  # two cores, shared
def test_a_quarter_dose_doubles_the_noise_of_the_same_registered_scan() -> None:
    cylinder, centre = _water_cylinder()
    full_config = SimulationConfig(
        kernels=("smooth", "sharp"), size_px=64, slices=4, photons_per_ray=2e4, jobs=1
    )
    full = simulate_kernels(cylinder, full_config, progress=False)
    low = simulate_kernels(cylinder, replace(full_config, doses={"smooth": 0.25}), progress=False)
    np.testing.assert_array_equal(low["sharp"].hu, full["sharp"].hu)  # the others keep their dose
    quarter, whole = low["smooth"].hu[centre], full["smooth"].hu[centre]
    # Poisson: SD ~ 1/sqrt(dose). Measured over seeds 0-3: 1.93-1.98 (the rest is aliasing of the edge).
    assert 1.85 < quarter.std() / whole.std() < 2.15
    assert abs(quarter.mean() - whole.mean()) < 1.0  # HU; measured < 0.6
    # Thinned counts keep a fraction f of the same photons: corr(N_f, N) = sqrt(f) = 0.5 (measured 0.49-0.55).
    assert 0.4 < np.corrcoef(quarter, whole)[0, 1] < 0.6
    assert low["smooth"].meta.study_uid == full["smooth"].meta.study_uid
    assert low["smooth"].meta.frame_of_reference_uid == full["smooth"].meta.frame_of_reference_uid
    assert low["smooth"].meta.series_uid not in {v.meta.series_uid for v in full.values()}
    assert low["smooth"].meta.description == "smooth kernel (Siemens Br40-like), 25 % dose"
    assert low["smooth"].spacing_zyx_mm == full["smooth"].spacing_zyx_mm
    assert low["smooth"].origin_xyz_mm == full["smooth"].origin_xyz_mm


@pytest.mark.usefixtures("one_torch_thread")  # two cores, shared
def test_series_of_one_dose_share_one_reduced_scan_and_the_retest_has_its_own() -> None:
    cylinder, _ = _water_cylinder(slices=1)
    config = SimulationConfig(size_px=64, slices=1, retest=True, jobs=1)
    full = simulate_kernels(cylinder, config, progress=False)
    low = simulate_kernels(
        cylinder, replace(config, doses={"smooth": 0.5, "medium": 0.5, "sharp_retest": 0.5}), progress=False
    )
    np.testing.assert_array_equal(low["sharp"].hu, full["sharp"].hu)
    for key in ("smooth", "medium", "sharp_retest"):
        assert not np.array_equal(low[key].hu, full[key].hu)
    # smooth and medium at one dose are one half-dose scan reconstructed twice: the medium image
    # does not depend on which other series share its dose
    alone = simulate_kernels(
        cylinder, replace(config, kernels=("medium",), retest=False, doses={"medium": 0.5}), progress=False
    )
    np.testing.assert_array_equal(alone["medium"].hu, low["medium"].hu)
    assert low["sharp_retest"].meta.description == "sharp kernel (Siemens Bl64-like), 50 % dose, retest"


def test_series_labels_and_descriptions_fit_file_systems_and_dicom() -> None:
    assert series_label("smooth+ir3", 0.25) == "smooth+ir3_dose25"
    assert series_label("sharp", 1.0) == "sharp"
    assert series_label("sharp_retest", 0.125) == "sharp_retest_dose12.5"
    assert series_description("smooth+ir3", 0.25) == "smooth kernel + IR strength 3, 25 % dose"
    for name in ("medium+ir5_retest", "medium_retest", "smooth+ir3"):
        for dose in (1.0, 0.25, 1 / 3, 0.001):
            assert len(series_description(name, dose)) <= 64  # LO
            assert set(series_label(name, dose)) <= set("abcdefghijklmnopqrstuvwxyz0123456789+_.")


# --- iterative presets: one PWLS per kernel and dose, blended per strength ------------------------------


@pytest.mark.usefixtures("one_torch_thread")  # two cores, shared
def test_strengths_of_one_kernel_blend_one_pwls_image(pwls_calls: list[np.ndarray]) -> None:
    cylinder, centre = _water_cylinder(size=32, slices=1)
    kernels = ("smooth", "smooth+ir2", f"smooth+ir{MAX_STRENGTH}", "sharp")
    config = SimulationConfig(kernels=kernels, size_px=32, slices=1, photons_per_ray=2e4, jobs=1)
    out = simulate_kernels(cylinder, config, progress=False)
    assert len(pwls_calls) == 1  # one slice, one kernel, one dose: one PWLS for both strengths
    fbp, ir2, pwls = (out[k].hu for k in kernels[:3])
    np.testing.assert_allclose(ir2, fbp + 2 / MAX_STRENGTH * (pwls - fbp), atol=1e-3)
    # smoother with strength (measured SD 8.7-12.5, 5.9-8.6 and 2.8-4.4 HU over seeds 0-3)
    assert pwls[centre].std() < 0.6 * fbp[centre].std() and ir2[centre].std() < 0.85 * fbp[centre].std()
    # HU: the noise PWLS removes moves the mean of these 52 pixels a little (measured 0.2-1.4, seeds 0-3)
    assert abs(pwls[centre].mean() - fbp[centre].mean()) < 3.0
    plain = simulate_kernels(cylinder, replace(config, kernels=("smooth", "sharp")), progress=False)
    np.testing.assert_array_equal(out["sharp"].hu, plain["sharp"].hu)
    assert out["smooth+ir2"].meta.kernel == "smooth\\2" and out["smooth"].meta.kernel == "smooth"
    assert out["smooth+ir2"].meta.description == "smooth kernel + IR strength 2"


@pytest.mark.usefixtures("one_torch_thread")  # two cores, shared
def test_a_reduced_dose_iterative_series_is_weighted_by_its_own_counts(pwls_calls: list[np.ndarray]) -> None:
    cylinder, _ = _water_cylinder(size=32, slices=1)
    config = SimulationConfig(
        kernels=("smooth+ir3", "smooth+ir5", "sharp+ir3"),
        size_px=32,
        slices=1,
        jobs=1,
        doses={"smooth+ir3": 0.25, "smooth+ir5": 0.25},
    )
    simulate_kernels(cylinder, config, progress=False)
    assert len(pwls_calls) == 2  # smooth at a quarter dose (two strengths), sharp at full dose
    quarter, full = (float(c.sum()) for c in pwls_calls)
    assert quarter / full == pytest.approx(0.25, rel=0.01)
