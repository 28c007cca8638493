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


@pytest.mark.parametrize("start,stop,batch", [(0, 10, 4), (3, 10, 4), (2, 5, 8), (0, 12, 4)])
def test_map_rows_equals_vmap_over_the_rows(start, stop, batch):
    """Batches are dynamic slices of the whole arrays, the last one moved back to end at
    ``stop``: every row of start:stop exactly once, in order, whatever the remainder."""
    rng = np.random.default_rng(1)
    c, x = rng.normal(size=(12, 2, 3)), rng.normal(size=12)
    fn = lambda ci, xi: (ci.sum(axis=1) * xi, xi**2)  # noqa: E731
    got = frozen_s1._map_rows(fn, c, x, start, stop, batch)
    want = jax.vmap(fn)(c[start:stop], x[start:stop])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def _frozen_together(n_events: list[int], n_keep: int, seed: int):
    """(data, models, theta0, window sizes, frozen) of ER and NR frozen together on the first
    ``n_keep`` in-ROI events of a simulation, in two S2 parts (rows sorted)."""
    df = simulate(DET, SOURCES, n_events=n_events, seed=seed)
    ev = df[df.in_roi].iloc[:n_keep].reset_index(drop=True)
    data = {c: np.asarray(ev[c], float) for c in ("s1", "s2", "r", "z", "drift_time")}
    models = [SourceRateModel(DET, s) for s in SOURCES]
    th0 = {"g2": DET.g2, "electron_lifetime_us": DET.electron_lifetime_us}
    sizes = [m.window_sizes(th0, data) for m in models]
    frozen = frozen_s1.freeze_sources(models, [th0, th0], data, sizes, s2_groups=2)
    return data, models, th0, sizes, frozen


def test_sources_frozen_together_share_the_s2_factor():
    """ER and NR frozen together share one electron grid per event (so the fit computes
    B(s2 | Ne) once for both); each one's density equals its own freeze alone."""
    data, models, th0, sizes, both = _frozen_together([400, 200], 150, seed=12)
    assert both[0].groups is both[1].groups and [f.column for f in both] == [0, 1]
    (grp,) = both[0].groups
    assert grp.c.shape[:2] == (len(data["s1"]), 2) and len(grp.parts) == 2
    th = {"g2": 1.03 * DET.g2, "electron_lifetime_us": 0.96 * DET.electron_lifetime_us}
    joint = jax.jit(lambda t: frozen_s1.log_densities(models, [t, t], data, both))(th)
    for m, s, f_joint in zip(models, sizes, joint, strict=True):
        alone = frozen_s1.log_density(m, th, data, frozen_s1.freeze(m, th0, data, s))
        assert np.all(np.isfinite(np.asarray(alone)))
        np.testing.assert_allclose(np.asarray(f_joint), np.asarray(alone), rtol=0, atol=1e-6)


def test_fit_program_holds_one_copy_of_the_frozen_factors():
    """The compiled value + gradient takes the frozen factors once plus a few per-event arrays
    (data columns, scales, grids, one row index): a NumPy row index used per array added three
    (n,) constants to the program for each (23 per-event arrays at 10^5 events: 18 MB)."""
    data, models, th0, _, frozen = _frozen_together([1200, 300], 800, seed=13)
    n = len(data["s1"])
    (grp,) = frozen[0].groups
    assert not np.array_equal(grp.idx, np.arange(n))  # rows sorted: gathered, scattered

    def total(th):
        return sum(f.sum() for f in frozen_s1.log_densities(models, [th, th], data, frozen))

    compiled = jax.jit(jax.value_and_grad(total)).lower(th0).compile()
    per_event = (compiled.memory_analysis().argument_size_in_bytes - grp.c.nbytes) / n
    assert per_event <= 16 * 8, per_event  # at most 16 float64 / int64 arrays of (n,)
