"""The frozen-S1 fast path equals the full per-event rate and mu for S2-side parameters."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit.detector import load_detector
from darkfit.model import frozen_s1
from darkfit.model.rate_model import SourceRateModel
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics.spectra import FlatSpectrum

DET = load_detector("flamedisx")
SOURCES = [
    Source("er", FlatSpectrum(1.0, 0.0, 10.0, "er")),
    Source("nr", FlatSpectrum(1.0, 1.0, 60.0, "nr")),
]


@pytest.fixture(scope="module", params=SOURCES, ids=lambda s: s.name)
def setup(request):
    src = request.param
    df = simulate(DET, [src], n_events=3000, seed=11)
    ev = df[df.in_roi].iloc[:300].reset_index(drop=True)
    data = {c: np.asarray(ev[c], float) for c in ("s1", "s2", "r", "z", "drift_time")}
    m = SourceRateModel(DET, src)
    th0 = {"g2": DET.g2, "electron_lifetime_us": DET.electron_lifetime_us}
    sizes = m.window_sizes(th0, data)
    return m, data, sizes, frozen_s1.freeze(m, th0, data, sizes)


@pytest.mark.parametrize(
    "shift",
    [
        {},
        {"g2": 1.04, "electron_lifetime_us": 0.95},
        {"extraction_efficiency": 0.97, "se_width": 1.1},
    ],
)
def test_frozen_equals_full(setup, shift):
    m, data, sizes, fr = setup
    d = m.defaults()
    th = {"g2": d["g2"], "electron_lifetime_us": d["electron_lifetime_us"]}
    th.update({k: d[k] * f for k, f in shift.items()})
    assert frozen_s1.covers(m, th, data, fr)
    fast = np.asarray(jax.jit(lambda t: frozen_s1.log_density(m, t, data, fr))(th))
    full = np.asarray(jax.jit(lambda t: m.log_density(t, data, sizes))(th))
    assert np.all(np.isfinite(fast))
    # both are truncations of the same exact sum (electron grids cut differently)
    np.testing.assert_allclose(fast, full, rtol=0, atol=1e-6)
    mu_fast = float(frozen_s1.roi_fraction(m, th, fr))
    assert mu_fast == pytest.approx(float(m.roi_fraction(th)), rel=1e-12)
    # ... although the frozen mu stops at a smaller electron number than the quanta table
    assert fr.s1_table.shape[1] < m.bounds["n_el"] + 1


def test_covers_fails_far_away_and_rules(setup):
    m, data, _, fr = setup
    assert not frozen_s1.covers(m, {"g2": 1.5 * DET.g2}, data, fr)
    assert frozen_s1.can_freeze(m, ["er_rate", "g2", "electron_lifetime_us", "se_width"])
    assert not frozen_s1.can_freeze(m, ["g1"])
    assert not frozen_s1.can_freeze(m, ["drift_field_v_cm"])
