"""Anti-aliased shapes: signed distances, partial-volume coverage, tubes cut by the slice plane."""

from __future__ import annotations

import numpy as np
import pytest

from radiomicgan.simulate.shapes import SliceGrid, Tube, coverage, ellipse_distance, paint, paint_tubes


def test_coverage_is_a_one_pixel_linear_edge() -> None:
    np.testing.assert_allclose(
        coverage(np.array([-2.0, -0.5, 0.0, 0.25, 0.5, 3.0]), 1.0), [1, 1, 0.5, 0.25, 0, 0]
    )


def test_ellipse_distance_is_exact_on_the_axes() -> None:
    grid = SliceGrid(np.array([[0.0, 5.0, 13.0, 0.0]]), np.array([[0.0], [4.0]]), 0.0, 1.0)
    distance = ellipse_distance(grid, (0.0, 0.0), (10.0, 5.0))
    assert distance[0, 1] == pytest.approx(-5.0) and distance[0, 2] == pytest.approx(3.0)
    assert distance[1, 0] == pytest.approx(-1.0)
    assert distance[0, 0] == pytest.approx(-5.0)  # the centre: the short semi-axis


def test_paint_blends_by_fraction() -> None:
    hu = np.array([0.0, 0.0, 100.0])
    paint(hu, np.array([0.0, 0.5, 1.0]), -1000.0)
    np.testing.assert_allclose(hu, [0.0, -500.0, -1000.0])


def test_a_tube_appears_only_near_the_planes_it_crosses() -> None:
    tube = Tube((-20.0, 0.0, -10.0), (20.0, 0.0, 10.0), 3.0, 500.0)  # oblique: 30 mm of x per 15 of z
    sections = []
    for z in (-15.0, 0.0, 5.0):
        hu = np.zeros((64, 64))
        paint_tubes(hu, SliceGrid.centred(64, 1.0, z), [tube])
        sections.append(hu)
    assert sections[0].max() == 0.0  # beyond the end and its rounded cap
    assert sections[1][31:33, 31:33].min() == pytest.approx(500.0)  # the axis crosses z = 0 at x = 0
    assert sections[2][31:33, 41:43].min() == pytest.approx(500.0)  # ... and z = 5 at x = 10
    full = np.zeros((64, 64))
    paint(full, coverage(_brute_distance(SliceGrid.centred(64, 1.0, 5.0), tube), 1.0), 500.0)
    np.testing.assert_allclose(sections[2], full)  # the bounding box cuts nothing off


def _brute_distance(grid: SliceGrid, tube: Tube) -> np.ndarray:
    a, b = np.array(tube.start_mm), np.array(tube.end_mm)
    points = np.stack(np.broadcast_arrays(grid.x_mm, grid.y_mm, np.full_like(grid.x_mm, grid.z_mm)), axis=-1)
    t = np.clip(((points - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    return np.linalg.norm(points - (a + t[..., None] * (b - a)), axis=-1) - tube.radius_mm
