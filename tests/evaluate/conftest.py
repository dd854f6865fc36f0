"""Shared fixtures: a small synthetic chest in HU and a light PyRadiomics setting for protocol tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.evaluate.settings import RadiomicsSettings, validate_settings

Phantom = Callable[..., NDArray[np.float32]]


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float) -> NDArray[np.bool_]:
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.asarray(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0)


@pytest.fixture
def make_chest() -> Phantom:
    """Build [z, y, x] chests: air outside, a soft-tissue body with textured lungs and (optionally) bone.

    Texture is smooth random structure plus white noise, different on every slice, so features vary
    across ROIs as they do on real scans.
    """

    def make(slices: int = 3, size: int = 128, seed: int = 0, bone: bool = True) -> NDArray[np.float32]:
        rng = np.random.default_rng(seed)
        shape = (size, size)
        body = _ellipse(shape, size / 2, size / 2, 0.42 * size, 0.47 * size)
        lungs = _ellipse(shape, size / 2, 0.3 * size, 0.28 * size, 0.13 * size)
        lungs |= _ellipse(shape, size / 2, 0.7 * size, 0.28 * size, 0.13 * size)
        spine = _ellipse(shape, 0.8 * size, size / 2, 0.06 * size, 0.06 * size)
        volume = []
        for _ in range(slices):
            texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 2.0) * 250.0
            image = np.full(shape, -1000.0)
            image[body] = 40.0 + 0.4 * texture[body]
            image[lungs] = -650.0 + texture[lungs]
            if bone:
                image[spine] = 600.0 + 0.5 * texture[spine]
            volume.append(image + rng.normal(0.0, 15.0, shape))
        return np.asarray(volume, dtype=np.float32)

    return make


@pytest.fixture(scope="session")
def light_settings() -> RadiomicsSettings:
    """Original image only, every feature class: the protocol's logic at a fraction of the cost."""
    params = {
        "setting": {"binWidth": 25, "label": 1, "force2D": False, "additionalInfo": False},
        "imageType": {"Original": {}},
        "featureClass": {
            name: None for name in ("firstorder", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
        },
    }
    return validate_settings(params, "light-test-settings")
