"""k-NN mutual information against analytic values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.feature_selection import mutual_info_classif

from darkfit._errors import DarkfitInputError
from darkfit.ml.mutual_info import mi_continuous, mi_continuous_discrete, to_bits


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_ksg_bivariate_normal(rho):
    """I = -1/2 ln(1 - rho^2) for a bivariate normal (mean of 4 samples of 2000)."""
    est = []
    for s in range(4):
        z = np.random.default_rng(s).multivariate_normal([0, 0], [[1, rho], [rho, 1]], 2000)
        est.append(mi_continuous(z[:, 0], z[:, 1], k=3))
    assert np.mean(est) == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.03)


def _mixture_mi(mu: float) -> float:
    """I(X; Y) for Y ~ Bernoulli(1/2), X | Y ~ N(+-mu, 1): h(mixture) - h(N(0, 1)) (quadrature)."""

    def f(t):
        return 0.5 * (stats.norm.pdf(t, -mu) + stats.norm.pdf(t, mu))

    h = integrate.quad(lambda t: -f(t) * np.log(f(t)), -mu - 12, mu + 12)[0]
    return h - 0.5 * np.log(2 * np.pi * np.e)


@pytest.mark.parametrize("mu", [0.5, 1.0, 2.0])
def test_continuous_discrete_gaussian_mixture(mu):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    x = rng.standard_normal(4000) + np.where(y == 1, mu, -mu)
    assert mi_continuous_discrete(x, y) == pytest.approx(_mixture_mi(mu), abs=0.025)
    # independent implementation of the same estimator
    ref = mutual_info_classif(x[:, None], y, n_neighbors=3, random_state=0)[0]
    assert mi_continuous_discrete(x, y) == pytest.approx(ref, abs=2e-3)


def test_extra_noise_dimensions_do_not_add_information():
    """MI of (signal dim + 3 noise dims) equals the 1-D MI up to the k-NN bias."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 4000)
    x = np.column_stack([rng.standard_normal(4000) + np.where(y == 1, 1.0, -1.0),
                         rng.standard_normal((4000, 3))])  # fmt: skip
    assert mi_continuous_discrete(x, y) == pytest.approx(_mixture_mi(1.0), abs=0.05)


def test_bits_and_bad_input():
    assert to_bits(np.log(2.0)) == pytest.approx(1.0)
    with pytest.raises(DarkfitInputError, match="k"):
        mi_continuous_discrete(np.arange(10.0), np.r_[np.zeros(8), np.ones(2)], k=3)
    with pytest.raises(DarkfitInputError, match="NaN"):
        mi_continuous(np.array([1.0, np.nan, 2.0, 3.0, 4.0]), np.arange(5.0), k=1)
    with pytest.raises(DarkfitInputError, match="two classes"):
        mi_continuous_discrete(np.arange(10.0), np.zeros(10))
