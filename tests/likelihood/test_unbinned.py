"""Extended unbinned likelihood: bad input, zero events, consistency of its pieces, and a
fit cross-checked against iminuit."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit._errors import DarkfitInputError
from darkfit.detector import load_detector
from darkfit.inference.fit import fit_likelihood, fit_minuit
from darkfit.likelihood.unbinned import UnbinnedLikelihood
from darkfit.model.simulate import simulate
from darkfit.model.sources import Source
from darkfit.physics.spectra import FlatSpectrum

DET = load_detector("flamedisx")
ER = Source("er", FlatSpectrum(20.0, 0.0, 10.0, "er"))
NR = Source("nr", FlatSpectrum(1.0, 0.7, 150.0, "nr"))


@pytest.fixture(scope="module")
def events():
    df = simulate(DET, [ER, NR], 1.0, seed=8)
    return df[df.in_roi].reset_index(drop=True)


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("s1", np.nan, "NaN"),
        ("s2", np.inf, "NaN"),
        ("s1", -3.0, "outside the region of interest"),
        ("s1", 500.0, "outside the region of interest"),
        ("s2", 1e7, "outside the region of interest"),
        ("r", 80.0, "outside the region of interest"),
    ],
)
def test_bad_events_rejected_with_one_line(events, column, value, needle):
    bad = events.iloc[:20].copy()
    bad.loc[5, column] = value
    with pytest.raises(DarkfitInputError, match=needle) as exc:
        UnbinnedLikelihood(DET, [ER, NR], bad, 1.0)
    assert "\n" not in str(exc.value)


def test_missing_column_and_bad_exposure(events):
    with pytest.raises(DarkfitInputError, match="s2"):
        UnbinnedLikelihood(DET, [ER], events.drop(columns=["s2"]), 1.0)
    with pytest.raises(DarkfitInputError, match="exposure"):
        UnbinnedLikelihood(DET, [ER], events, -1.0)


def test_parameter_errors(events):
    lik = UnbinnedLikelihood(DET, [ER, NR], events.iloc[:30], 1.0)
    with pytest.raises(DarkfitInputError, match="nosuch"):
        fit_likelihood(lik, ["nosuch"])
    with pytest.raises(DarkfitInputError, match="g2"):
        fit_likelihood(lik, ["g2"], start={"g2": 1e6})  # outside its bounds
    with pytest.raises(DarkfitInputError, match="er_rate"):
        lik.check_parameters({"er_rate": -1.0})


def test_zero_events_gives_minus_mu():
    lik = UnbinnedLikelihood(DET, [ER, NR], simulate(DET, [ER], n_events=0), 1.0)
    mu = sum(float(v) for v in lik.expected_events({}).values())
    assert float(lik.log_likelihood({})) == pytest.approx(-mu, rel=1e-12)


def test_rate_multiplier_derivative_is_analytic(events):
    """d lnL / d m_j = -mu_j/m_j + sum_i R_ij / (m_j sum_k R_ik): a check of the assembly."""
    lik = UnbinnedLikelihood(DET, [ER, NR], events.iloc[:200], 1.0)
    th = {"er_rate": 1.3, "nr_rate": 0.8}
    g = jax.grad(lambda t: lik.log_likelihood(t))(th)
    mu = {k: float(v) for k, v in lik.expected_events(th).items()}
    lr = np.asarray(lik.log_rates(th))
    w = np.exp(lr - lr.max(axis=1, keepdims=True))
    frac = w / w.sum(axis=1, keepdims=True)
    for j, name in enumerate(["er", "nr"]):
        m = th[f"{name}_rate"]
        expect = -mu[name] / m + frac[:, j].sum() / m
        assert float(g[f"{name}_rate"]) == pytest.approx(expect, rel=1e-9)


@pytest.mark.slow
def test_fit_agrees_with_minuit(events):
    ev = events.iloc[:300].reset_index(drop=True)
    lik = UnbinnedLikelihood(DET, [ER, NR], ev, 300 / len(events))
    free = ["er_rate", "nr_rate", "g2"]
    ours = fit_likelihood(lik, free)
    assert ours.valid, ours.message
    start = {**lik.defaults()}
    ref = fit_minuit(
        lambda t: -lik.log_likelihood(t),
        {k: start[k] for k in free},
        free,
        {"er_rate": (0, 100), "nr_rate": (0, 100), "g2": (10, 30)},
    )
    assert ref.valid
    assert ours.nll <= ref.nll + 1e-4
    for k in free:
        assert ours.values[k] == pytest.approx(ref.values[k], abs=1e-2 * ref.errors[k])
        assert ours.errors[k] == pytest.approx(ref.errors[k], rel=2e-2)


def test_fit_from_a_distant_start_refreezes_to_the_same_minimum(events):
    """Started with g2 45% above its default (outside the S1 side frozen there once the fit
    moves), fit_likelihood re-freezes and ends at the minimum found from the defaults."""
    ev = events.iloc[:300].reset_index(drop=True)
    lik = UnbinnedLikelihood(DET, [ER, NR], ev, 300 / len(events))
    free = ["er_rate", "nr_rate", "g2"]
    near = fit_likelihood(lik, free)
    far = fit_likelihood(lik, free, start={"g2": 1.45 * lik.defaults()["g2"], "nr_rate": 3.0})
    assert near.valid and far.valid, (near.message, far.message)
    assert far.nll == pytest.approx(near.nll, abs=1e-5)
    for k in free:
        assert far.values[k] == pytest.approx(near.values[k], abs=1e-2 * near.errors[k])
