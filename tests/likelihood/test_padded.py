"""Padded (masked, fixed-shape) likelihood for toys: equals the plain unbinned likelihood, and
its frozen-S1 form equals it too when rates, S2-side and NEST yield parameters move."""

from __future__ import annotations

import pytest

import darkfit  # noqa: F401  (float64)
from darkfit._errors import DarkfitInputError
from darkfit.detector import load_detector
from darkfit.likelihood.padded import PaddedLikelihood
from darkfit.likelihood.unbinned import UnbinnedLikelihood
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics.spectra import FlatSpectrum

DET = load_detector("flamedisx").with_updates(quanta_model="nest", electron_lifetime_us=2000.0)
SOURCES = [
    Source("er", FlatSpectrum(20.0, 0.5, 8.0, "er")),
    Source("nr", FlatSpectrum(2.0, 1.0, 25.0, "nr")),
]


@pytest.fixture(scope="module")
def setup():
    ref = simulate(DET, SOURCES, n_events=[3000, 1500], seed=3)
    ref = ref[ref.in_roi].reset_index(drop=True)
    plik = PaddedLikelihood(UnbinnedLikelihood(DET, SOURCES, ref, 1.0), n_max=400)
    toy = simulate(DET, SOURCES, 1.0, seed=4)
    toy = toy[toy.in_roi].reset_index(drop=True)
    return plik, toy


@pytest.mark.slow
def test_padded_and_s1_frozen_equal_unbinned(setup):
    plik, toy = setup
    data, mask = plik.pad(toy)
    assert mask.sum() == len(toy) and mask.size == 400
    d = plik.likelihood.defaults()
    states = plik.s1_states(d, data)
    exact = UnbinnedLikelihood(DET, SOURCES, toy, 1.0)
    for shift in [{}, {"er_rate": 1.3, "nr_rate": 0.6, "g2": 1.05, "alpha": 1.1}]:
        th = {**d, **{k: d[k] * f for k, f in shift.items()}}
        ref = -float(exact.log_likelihood(th))
        assert float(plik.nll(th, data, mask)) == pytest.approx(ref, rel=1e-10)
        # the frozen S1 side is the same sum truncated by windows frozen at the defaults
        assert float(plik.nll_s1_frozen(th, data, mask, states)) == pytest.approx(ref, abs=1e-6)


def test_too_many_events_is_an_error(setup):
    plik, _ = setup
    big = simulate(DET, SOURCES, n_events=[1200, 0], seed=5)
    with pytest.raises(DarkfitInputError, match="n_max"):
        plik.pad(big[big.in_roi])
