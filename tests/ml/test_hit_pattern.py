"""Hexagonal top array, light response, hit-pattern images and position smearing."""

from __future__ import annotations

import numpy as np
import pytest

from darkfit.ml import pulse_config as pc
from darkfit.ml.hit_pattern import hex_array, hit_patterns, light_response, reconstructed_xy
from darkfit.ml.pulse_config import pulse_config


@pytest.mark.parametrize("name", ["lz", "darwin"])
def test_hex_array_has_the_detector_pmt_count(name, lz, darwin):
    det = {"lz": lz, "darwin": darwin}[name]
    pmts = hex_array(det.radius_cm, pc.TOP_PMTS[name])
    assert len(pmts) == pc.TOP_PMTS[name]
    # the hexagonal cells tile the TPC disk: the outermost centres sit about half a pitch in
    pitch = pc.hex_pitch_cm(det.radius_cm, pc.TOP_PMTS[name])
    assert det.radius_cm - 1.5 * pitch < np.hypot(pmts[:, 0], pmts[:, 1]).max() < det.radius_cm
    # nearest-neighbour distance equals the hexagonal pitch
    d = np.hypot(*(pmts[:, None, :] - pmts[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(d.min(axis=1), pitch, rtol=1e-9)


def test_light_response_is_normalised_and_peaks_under_the_source(lz):
    pmts = hex_array(lz.radius_cm, 253)
    x, y = np.array([0.0, 30.0, -50.0]), np.array([0.0, -20.0, 10.0])
    eta = light_response(x, y, pmts)
    np.testing.assert_allclose(eta.sum(axis=1), 1.0, rtol=1e-12)
    nearest = np.argmin(np.hypot(pmts[None, :, 0] - x[:, None], pmts[None, :, 1] - y[:, None]),
                        axis=1)  # fmt: skip
    np.testing.assert_array_equal(eta.argmax(axis=1), nearest)


def test_images_conserve_the_poisson_light(lz):
    cfg = pulse_config(lz)
    n = 400
    rng = np.random.default_rng(8)
    r = 60 * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    x, y = r * np.cos(phi), r * np.sin(phi)
    top = np.full(n, 3000.0)
    img = hit_patterns(rng, x, y, top, cfg)
    assert img.shape == (n, cfg.image_size, cfg.image_size)
    totals = img.sum(axis=(1, 2))
    # totals are Poisson(3000): mean and variance
    assert abs(totals.mean() - 3000) < 5 * np.sqrt(3000 / n)
    assert totals.var(ddof=1) == pytest.approx(3000, rel=0.25)
    # the brightest pixel lies within 1.5 pixels of the source
    edge = 2 * cfg.radius_cm / cfg.image_size
    iy, ix = np.unravel_index(img.reshape(n, -1).argmax(axis=1), img.shape[1:])
    px, py = -cfg.radius_cm + (ix + 0.5) * edge, -cfg.radius_cm + (iy + 0.5) * edge
    assert np.all(np.hypot(px - x, py - y) < 1.5 * edge * np.sqrt(2))


def test_position_smearing_has_the_nest_resolution():
    """E|d|^2 = sigma_R^2 with sigma_R^2 = kappa^2 / A + flat^2 (|N(0, sigma)| displacement)."""
    n = 100_000
    a = np.full(n, 1000.0)
    x, y = reconstructed_xy(np.random.default_rng(9), np.zeros(n), np.zeros(n), a)
    expected = pc.POS_RES_KAPPA_CM**2 / 1000 + pc.POS_RES_FLAT_CM**2
    assert np.mean(x**2 + y**2) == pytest.approx(expected, rel=0.02)
