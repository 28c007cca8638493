"""Binned template likelihood: bin expectations against the exact ROI count, gradients against
finite differences, the extended-Poisson maximum-likelihood identities, a fit of a simulated
dataset, and bad input. (The bin expectations against a 10^7-event Monte Carlo are in
tests/model/test_binned_pulls.py, next to the simulation they share.)"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit._errors import DarkfitInputError
from darkfit.detector import load_detector
from darkfit.inference.fit import fit_likelihood
from darkfit.likelihood.binned import BinnedLikelihood
from darkfit.likelihood.unbinned import Constraint
from darkfit.model.binned import BinnedRateModel
from darkfit.model.rate_model import SourceRateModel
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics import yields
from darkfit.physics.spectra import FlatSpectrum

DET = load_detector("lz")
ROI = DET.roi
# ~1500 ER and ~1000 NR events in the ROI per tonne-year
ER = Source("er", FlatSpectrum(100.0, 0.0, 20.0, "er"))
NR = Source("nr", FlatSpectrum(25.0, 0.5, 60.0, "nr"))
S1_EDGES = np.array([3.0, 6.0, 10.0, 15.0, 22.0, 32.0, 45.0, 60.0, 80.0])
S2_EDGES = np.append(10 ** np.arange(np.log10(ROI.s2_min), 4.4, 0.15), ROI.s2_max)
FV, V = DET.fiducial, DET.drift_velocity_cm_us
DRIFT_EDGES = np.linspace(-FV.z_max_cm / V, -FV.z_min_cm / V, 4)
ALPHA = yields.NRYieldParams().alpha


@pytest.fixture(scope="module")
def events():
    df = simulate(DET, [ER, NR], 1.0, seed=21)
    return df[df.in_roi].reset_index(drop=True)


@pytest.fixture(scope="module")
def lik(events):
    return BinnedLikelihood(DET, [ER, NR], events, 1.0, S1_EDGES, S2_EDGES)


def test_bins_sum_to_roi_expectation():
    """Over a binning that covers the ROI the bins add up to mu(theta), also off defaults."""
    m = SourceRateModel(DET, NR)
    bm = BinnedRateModel(m, S1_EDGES, S2_EDGES)
    bm3 = BinnedRateModel(m, S1_EDGES, S2_EDGES, DRIFT_EDGES)
    # (at the defaults the same holds: tests/model/test_binned_pulls.py)
    theta = {"g1": DET.g1 * 1.05, "g2": DET.g2 * 0.93, "electron_lifetime_us": 600.0}
    theta["alpha"] = ALPHA * 1.05
    mu = float(m.expected_events(theta, 2.0))
    p = np.asarray(jax.jit(bm.bin_fractions)(theta))
    assert p.shape == (S1_EDGES.size - 1, S2_EDGES.size - 1)
    assert np.all(p >= 0)
    assert float(np.sum(bm.model.cells.total * 2.0 * p)) == pytest.approx(mu, rel=1e-9)
    p3 = np.asarray(jax.jit(bm3.bin_fractions)(theta))
    # drift-time bins partition the fiducial volume: they add up to the 2-D bins (to the
    # z-quadrature error: 3 x 8 Gauss-Legendre nodes against 16)
    np.testing.assert_allclose(p3.sum(axis=2), p, rtol=1e-5, atol=1e-12)


def test_bins_sum_to_roi_expectation_with_position_maps():
    """With S1/S2 position maps (quadrature in r^2 as well) the bins still add up to mu."""
    d0 = load_detector("flamedisx")
    fv, roi = d0.fiducial, d0.roi
    det = d0.with_updates(
        s1_map={
            "r_cm": [0.0, fv.r_max_cm],
            "z_cm": [fv.z_min_cm, fv.z_max_cm],
            "values": [[1.1, 0.9], [0.95, 0.85]],
        },
        s2_map={"r_cm": [0.0, fv.r_max_cm], "values": [1.05, 0.9]},
    )
    m = SourceRateModel(det, Source("nr", FlatSpectrum(1.0, 1.0, 50.0, "nr")))
    bm = BinnedRateModel(
        m, np.linspace(roi.s1_min, roi.s1_max, 6), np.geomspace(roi.s2_min, roi.s2_max, 6)
    )
    theta = {"g2": det.g2 * 1.03}
    p = float(np.sum(jax.jit(bm.bin_fractions)(theta)))
    assert p == pytest.approx(float(m.roi_fraction(theta)), rel=1e-9)


def test_gradient_matches_finite_differences(lik):
    theta = {
        "er_rate": 1.2,
        "nr_rate": 0.8,
        "g2": DET.g2,
        "electron_lifetime_us": DET.electron_lifetime_us,
        "alpha": ALPHA,
    }
    f = jax.jit(lik.log_likelihood)
    g = jax.jit(jax.grad(lik.log_likelihood))(theta)
    for name in ("g2", "electron_lifetime_us", "alpha"):
        v = theta[name]
        h = 1e-4 * v
        fd = (f({**theta, name: v + h}) - f({**theta, name: v - h})) / (2 * h)
        assert float(g[name]) == pytest.approx(float(fd), rel=1e-4, abs=1e-6 / v), name
    # rate multipliers: d lnL / d m_j = sum_b n_b nu_jb / (m_j nu_b) - mu_j / m_j (analytic)
    nu = {k: np.asarray(v) for k, v in lik.expected_bins(theta).items()}
    tot = nu["er"] + nu["nr"]
    for k in ("er", "nr"):
        m = theta[f"{k}_rate"]
        expect = np.sum(lik.counts * nu[k] / tot) / m - nu[k].sum() / m
        assert float(g[f"{k}_rate"]) == pytest.approx(expect, rel=1e-9)


def test_fit_recovers_rate_multipliers(lik, events):
    res = fit_likelihood(lik, ["er_rate", "nr_rate"])
    assert res.valid, res.message
    for k in ("er_rate", "nr_rate"):
        # the data were simulated with multipliers 1 (fixed seed; 3 sigma)
        assert abs(res.values[k] - 1.0) < 3 * res.errors[k], (k, res.values[k], res.errors[k])
        assert 0.01 < res.errors[k] < 0.1
    # extended Poisson MLE with free normalisations: fitted total = observed total
    nu = sum(float(v) for v in lik.expected_events(res.values).values())
    assert nu == pytest.approx(len(events), rel=1e-6)
    assert lik.counts.sum() == len(events)


def test_constraint_and_parameter_api(lik):
    lc = BinnedLikelihood(
        DET, [ER, NR], lik.events, 1.0, S1_EDGES, S2_EDGES, {"nr_rate": Constraint(1.0, 0.1)}
    )
    th = {"er_rate": 1.0, "nr_rate": 1.3}
    diff = float(lik.log_likelihood(th) - lc.log_likelihood(th))
    assert diff == pytest.approx(0.5 * 0.3**2 / 0.1**2, rel=1e-9)
    assert lik.parameter_names()[:2] == ("er_rate", "nr_rate")
    assert set(lik.defaults()) == set(lik.parameter_names())
    with pytest.raises(DarkfitInputError, match="nosuch"):
        lik.check_parameters({"nosuch": 1.0})
    with pytest.raises(DarkfitInputError, match="nr_rate"):
        lik.check_parameters({"nr_rate": -1.0})


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"s1_edges": [3.0, 10.0, 10.0, 20.0]}, "strictly increasing"),
        ({"s1_edges": [3.0, 20.0, 10.0]}, "strictly increasing"),
        ({"s1_edges": [3.0]}, "at least two"),
        ({"s1_edges": [3.0, np.nan]}, "at least two finite"),
        ({"s1_edges": [1.0, 20.0]}, "inside"),  # below the ROI
        ({"s2_edges": [500.0, 1e6]}, "inside"),  # above the ROI
        ({"drift_edges": [100.0, 50.0]}, "strictly increasing"),
        ({"drift_edges": [10.0, 500.0]}, "inside"),  # above the fiducial volume
        ({"s2_edges": "abc"}, "numbers"),
    ],
)
def test_bad_edges_rejected(events, kwargs, needle):
    args = {"s1_edges": S1_EDGES, "s2_edges": S2_EDGES, **kwargs}
    with pytest.raises(DarkfitInputError, match=needle) as exc:
        BinnedLikelihood(DET, [NR], events.iloc[:50], 1.0, **args)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("s1", 2.0, "s1 = 2.0 is outside"),
        ("s2", 3e4, "s2 = 30000.0 is outside"),
        ("s1", np.nan, "finite"),
        ("r", 80.0, "outside"),
    ],
)
def test_events_outside_binning_rejected(events, column, value, needle):
    bad = events[events.s2 < 1.5e4].iloc[:50].reset_index(drop=True)
    bad.loc[7, column] = value
    with pytest.raises(DarkfitInputError, match=needle) as exc:
        # S2 bins that stop at 2e4 phd, so 3e4 is inside the ROI but outside the binning
        BinnedLikelihood(DET, [NR], bad, 1.0, S1_EDGES, [ROI.s2_min, 2e3, 2e4])
    if not np.isnan(value):  # a NaN column is reported without an index
        assert "event 7:" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_drift_binning_needs_drift_time(events):
    with pytest.raises(DarkfitInputError, match="drift_time"):
        BinnedLikelihood(
            DET,
            [NR],
            events.iloc[:50].drop(columns=["drift_time", "z"]),
            1.0,
            S1_EDGES,
            S2_EDGES,
            drift_edges=DRIFT_EDGES,
        )
