"""The JAX Newton fit against closed forms: a correlated Gaussian NLL has its minimum at the
mean and inverse-Hessian errors equal to the covariance (independent of the optimiser)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import darkfit  # noqa: F401  (float64)
from darkfit._errors import DarkfitInputError
from darkfit.inference.fit import fit

MEAN = np.array([1.0, -2.0, 30.0])
COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.3], [0.0, 0.3, 4.0]])
PREC = np.linalg.inv(COV)


def gaussian_nll(theta):
    x = jnp.stack([theta["a"], theta["b"], theta["c"]]) - MEAN
    # a quartic term in c with zero curvature at the minimum keeps the closed form exact
    return 0.5 * x @ PREC @ x + 1e-3 * x[2] ** 4


def test_minimum_and_errors_match_closed_form():
    res = fit(gaussian_nll, {"a": 0.5, "b": 0.0, "c": 25.0}, ["a", "b", "c"])
    assert res.valid
    # EDM < 1e-6 puts the minimum within ~1e-3 sigma of the mean
    sigma = np.sqrt(np.diag(COV))
    np.testing.assert_allclose(([res.values[k] for k in "abc"] - MEAN) / sigma, 0, atol=1e-2)
    np.testing.assert_allclose(res.covariance, COV, rtol=1e-4, atol=1e-9)


def test_free_parameter_must_be_in_start():
    with pytest.raises(DarkfitInputError, match="free parameter"):
        fit(gaussian_nll, {"a": 0.5, "b": 0.0, "c": 25.0}, ["a", "d"])


def test_minos_of_a_gaussian_is_the_covariance():
    from darkfit.inference.fit import fit_minuit

    def nll(theta):
        x = jnp.stack([theta["a"], theta["b"], theta["c"]]) - MEAN
        return 0.5 * x @ PREC @ x

    res = fit_minuit(nll, {"a": 0.5, "b": 0.0, "c": 25.0}, ["a", "b", "c"], minos=["a", "c"])
    assert set(res.minos) == {"a", "c"}
    for k, i in (("a", 0), ("c", 2)):
        lo, hi = res.minos[k]
        assert -lo == pytest.approx(np.sqrt(COV[i, i]), rel=1e-3)
        assert hi == pytest.approx(np.sqrt(COV[i, i]), rel=1e-3)
    with pytest.raises(DarkfitInputError, match="minos parameter"):
        fit_minuit(nll, {"a": 0.5, "b": 0.0, "c": 25.0}, ["a", "b"], minos=["c"])


def test_region_stops_the_fit_and_recentring_reaches_the_minimum():
    """A fit confined to |c - c0| < 1 (c's minimum is 5 sigma away) stops at the region with
    message "left the region", never beyond it; re-centring the region there and fitting
    again, as fit_likelihood does with its frozen S1 side, reaches the closed-form minimum."""
    start = {"a": 0.5, "b": 0.0, "c": 20.0}
    c0 = start["c"]
    res = fit(gaussian_nll, start, ["a", "b", "c"], region=lambda t: abs(t["c"] - c0) < 1.0)
    assert res.message == "left the region"
    assert abs(res.values["c"] - c0) < 1.0
    assert res.nll < float(gaussian_nll(start))  # it did move downhill inside the region
    for _ in range(30):
        c0 = res.values["c"]
        res = fit(
            gaussian_nll, res.values, ["a", "b", "c"], region=lambda t, c0=c0: abs(t["c"] - c0) < 1
        )
        if res.message != "left the region":
            break
    assert res.valid, res.message
    sigma = np.sqrt(np.diag(COV))
    np.testing.assert_allclose(([res.values[k] for k in "abc"] - MEAN) / sigma, 0, atol=1e-2)


def test_parameter_held_at_a_bound_converges_to_the_conditional_minimum():
    # the minimum of a lies below its bound 1.2: the fit must stop there with (b, c) at the
    # conditional mean of the Gaussian given a = 1.2 (b = mu_b + S_ba / S_aa (1.2 - mu_a),
    # c = mu_c since S_ca = 0); a full Newton step clipped to the bound never converges
    res = fit(gaussian_nll, {"a": 2.0, "b": 0.0, "c": 25.0}, ["a", "b", "c"], {"a": (1.2, 5.0)})
    assert res.message == "converged" and res.n_iter < 30
    b_cond = MEAN[1] + COV[1, 0] / COV[0, 0] * (1.2 - MEAN[0])
    np.testing.assert_allclose([res.values[k] for k in "abc"], [1.2, b_cond, 30.0], atol=2e-3)
