"""Parameter names shared by several sources: one parameter, one default.

ER and NR NEST models each have recombination-width (omega) parameters with different
defaults; while they shared the names ``omega_center`` / ``omega_width``, a likelihood with ER
and NR sources passed ER's values to the NR model at its defaults, so every ER + NR fit ran
a different NR model than the one the events were simulated with (a 0.4% NR-rate bias in the
large-exposure toys). These tests fail on that code.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit._errors import DarkfitInputError
from darkfit.detector import load_detector
from darkfit.likelihood.binned import BinnedLikelihood
from darkfit.likelihood.unbinned import UnbinnedLikelihood
from darkfit.model.rate_model import SourceRateModel
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics import yields
from darkfit.physics.spectra import FlatSpectrum

DET = load_detector("flamedisx").with_updates(quanta_model="nest", electron_lifetime_us=2000.0)
ER = Source("er", FlatSpectrum(32.0, 0.5, 10.0, "er"))
NR = Source("nr", FlatSpectrum(3.4, 1.0, 30.0, "nr"))


@pytest.fixture(scope="module")
def events():
    df = simulate(DET, [ER, NR], 0.5, seed=3)
    return df[df.in_roi].reset_index(drop=True).iloc[:40]


def _log_density(lik, name, theta):
    m = lik.models[name]
    return np.asarray(jax.jit(lambda t: m.log_density(t, lik.data, lik.sizes[name]))(theta))


def _assert_same_density(a, b):
    """Equal log densities (1e-8) for every event, the far-tail ones included (their
    quanta-table entries, ~1e-20 of the largest and below, differed by up to 1e-4 relative
    between the table computed inside a trace and the one compiled at the defaults while
    P(Nq) beyond the spectrum's endpoint was rounding noise; see test_quanta_table.py)."""
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)


@pytest.mark.parametrize("order", [(ER, NR), (NR, ER)])
def test_every_source_keeps_its_own_defaults(events, order):
    lik = UnbinnedLikelihood(DET, list(order), events, 1.0)
    everything = lik.defaults()
    for name, m in lik.models.items():
        assert {k: everything[k] for k in m.parameter_names()} == m.defaults()
        # the density at the likelihood's defaults is the model's own (theta = {})
        at_defaults = _log_density(lik, name, lik._shape_theta(everything, m))
        _assert_same_density(at_defaults, _log_density(lik, name, {}))


def test_a_sources_quanta_params_are_its_defaults(events):
    alpha = yields.NRYieldParams().alpha + 1.0
    own = Source("nr", NR.spectrum, (yields.NRYieldParams(alpha=alpha), yields.NRWidthParams()))
    assert SourceRateModel(DET, own).defaults()["alpha"] == alpha
    lik_own = UnbinnedLikelihood(DET, [own], events, 1.0)
    lik = UnbinnedLikelihood(DET, [NR], events, 1.0)
    _assert_same_density(_log_density(lik_own, "nr", {}), _log_density(lik, "nr", {"alpha": alpha}))


def test_sources_disagreeing_on_a_shared_parameter_are_refused(events):
    other = Source(
        "wimp_like",
        FlatSpectrum(1.0, 5.0, 30.0, "nr"),
        (yields.NRYieldParams(alpha=12.0), yields.NRWidthParams()),
    )
    with pytest.raises(DarkfitInputError, match="alpha") as exc:
        UnbinnedLikelihood(DET, [ER, NR, other], events, 1.0)
    assert "\n" not in str(exc.value)
    roi = DET.roi
    edges = ([roi.s1_min, roi.s1_max], [roi.s2_min, roi.s2_max])
    with pytest.raises(DarkfitInputError, match="alpha"):
        BinnedLikelihood(DET, [ER, NR, other], events, 1.0, *edges)
