"""Exact expected counts mu(theta): against dense sums, >= 10^7-event Monte Carlo, and finite
differences of its gradient."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

import darkfit  # noqa: F401  (float64)
from darkfit.detector import load_detector
from darkfit.model import acceptance
from darkfit.model._counting import log_factorial_table
from darkfit.model.rate_model import SourceRateModel
from darkfit.model.response import response_params
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source, parse_source
from darkfit.physics import yields
from darkfit.physics.spectra import FlatSpectrum


@pytest.mark.parametrize("preset", ["lz", "flamedisx"])
def test_s2_acceptance_equals_dense_sum(preset):
    """The threshold-window formula equals the plain sum over all extracted electrons."""
    det = load_detector(preset)
    rp = response_params(det)
    roi = det.roi
    n_el = 400 if preset == "flamedisx" else 1600
    lf = log_factorial_table(4 * n_el)
    p, gain = 0.62, det.se_gain
    w = acceptance.s2_windows(roi.s2_min, roi.s2_max, gain, det.se_width)
    ours = np.asarray(acceptance.s2_acceptance(n_el, w, p, gain, rp, roi.s2_min, roi.s2_max, lf))
    nel = np.arange(n_el + 1)
    k = np.arange(1, n_el + 1)
    sd = det.se_width * np.sqrt(k)
    t2 = stats.norm.cdf((roi.s2_max - k * gain) / sd) - stats.norm.cdf((roi.s2_min - k * gain) / sd)
    dense = stats.binom.pmf(k[None, :], nel[:, None], p) @ t2
    np.testing.assert_allclose(ours, dense, rtol=1e-10, atol=1e-13)


def _shifted(det, src, point):
    """Detector/source for the simulation at a shifted parameter point."""
    upd = {}
    if "g1" in point:
        upd["g1"] = point["g1"]
    if "g2" in point:
        upd["se_gain"] = point["g2"] / det.extraction_efficiency
    if "electron_lifetime_us" in point:
        upd["electron_lifetime_us"] = point["electron_lifetime_us"]
    det2 = det.with_updates(**upd) if upd else det
    if "alpha" in point:
        src = Source(
            src.name,
            src.spectrum,
            (yields.NRYieldParams(alpha=point["alpha"]), yields.NRWidthParams()),
        )
    return det2, src


LZ = load_detector("lz")
POINTS = {
    "defaults": {},
    "g1_g2": {"g1": LZ.g1 * 1.06, "g2": LZ.g2 * 0.93},
    "elife": {"electron_lifetime_us": LZ.electron_lifetime_us * 0.5},
    "nr_alpha": {"alpha": yields.NRYieldParams().alpha * 1.08},
}
SOURCES = {
    "er": Source("er", FlatSpectrum(1.0, 0.0, 30.0, "er")),
    "nr": Source("nr", FlatSpectrum(1.0, 0.3, 80.0, "nr")),
    "wimp50": parse_source("wimp:mass=50,sigma=1e-45"),
}


CASES = [(s, p) for s in SOURCES for p in POINTS if not (s == "er" and p == "nr_alpha")]


@pytest.mark.slow
@pytest.mark.parametrize(("source", "point"), CASES)
def test_mu_matches_1e7_monte_carlo(source, point):
    theta = POINTS[point]
    det, src = _shifted(LZ, SOURCES[source], theta)
    m = SourceRateModel(LZ, SOURCES[source])
    p = float(jax.jit(m.roi_fraction)(theta))
    n = 10_000_000
    k = int(simulate(det, [src], n_events=n, seed=17).in_roi.sum())
    q = k / n
    sigma = np.sqrt(q * (1 - q) / n)
    assert abs(p - q) < 3 * sigma, f"P_ROI {p:.6f} vs MC {q:.6f} +- {sigma:.2g}"


@pytest.mark.parametrize("source", ["er", "nr", "wimp50"])
def test_mu_gradient_matches_finite_differences(source):
    m = SourceRateModel(LZ, SOURCES[source])
    theta = {"g1": LZ.g1, "g2": LZ.g2, "electron_lifetime_us": LZ.electron_lifetime_us}
    if source != "er":
        theta["alpha"] = yields.NRYieldParams().alpha
    f = jax.jit(m.roi_fraction)
    g = jax.jit(jax.grad(m.roi_fraction))(theta)
    for name, v in theta.items():
        h = 1e-4 * v
        fd = (f({**theta, name: v + h}) - f({**theta, name: v - h})) / (2 * h)
        assert float(g[name]) == pytest.approx(float(fd), rel=1e-5, abs=1e-9 / v)
