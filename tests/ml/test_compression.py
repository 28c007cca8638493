"""NN compression against the Bayes-optimal answer of a Gaussian problem, the uniform
transform, templates, reproducibility and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from darkfit._errors import DarkfitInputError
from darkfit.ml.compression import CompressionModel, score_templates
from darkfit.ml.mutual_info import mi_continuous_discrete

FEATURES = ("r", "z", "s1", "s2")
#: Class means of the 4-D Gaussian problem (identity covariance): Mahalanobis distance d = 2.
DELTA = np.array([1.2, 0.0, -1.6, 0.0])


def gaussian_table(n: int, seed: int):
    """n events per class, X | Y ~ N(+-DELTA/2, I) in four columns named like event features."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    x = rng.standard_normal((2 * n, 4)) + np.where(y[:, None] == 1, 0.5, -0.5) * DELTA
    return pd.DataFrame(x, columns=FEATURES), y


def mixture_mi(half_distance: float) -> float:
    """I(X; Y) [nats], Y ~ Bernoulli(1/2), X | Y ~ N(+-m, 1): h(mixture) - h(N(0, 1))."""

    def f(t):
        return 0.5 * (stats.norm.pdf(t, -half_distance) + stats.norm.pdf(t, half_distance))

    h = integrate.quad(lambda t: -f(t) * np.log(f(t)), -20, 20)[0]
    return h - 0.5 * np.log(2 * np.pi * np.e)


@pytest.fixture(scope="module")
def trained():
    tr, y = gaussian_table(3000, 1)
    va, yv = gaussian_table(1500, 2)
    model = CompressionModel("test", FEATURES, seed=3)
    model.fit(tr, y, va, yv, epochs=40, show_progress=False)
    return model


def test_score_reaches_the_bayes_information(trained):
    """For equal covariances the likelihood ratio is monotone in DELTA . x, so
    I(X; Y) = I(DELTA . x; Y) = the 1-D mixture MI with half-distance |DELTA| / 2 = 1."""
    te, yt = gaussian_table(4000, 4)
    exact = mixture_mi(np.linalg.norm(DELTA) / 2)
    mi_score = mi_continuous_discrete(trained.logit(te), yt)
    assert mi_score == pytest.approx(exact, abs=0.03)
    assert trained.mi_ratio >= 0.975 or "no MI improvement" in trained.stop_reason
    # the score is (nearly) a monotone function of the optimal projection
    rho = stats.spearmanr(trained.logit(te), te.to_numpy() @ DELTA).statistic
    assert rho > 0.99


def test_uniform_transform_of_the_mixture_and_templates(trained):
    te, yt = gaussian_table(4000, 5)
    u = trained.transform(te)  # a 50/50 mixture: the reference population
    assert u.min() >= 0.0 and u.max() <= 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    tmpl = score_templates(trained, {"bkg": te[yt == 0], "sig": te[yt == 1]}, 10)
    for h in tmpl.values():
        assert h.sum() == pytest.approx(1.0)
    # signal-like events at high u; the two halves average to the uniform 0.1 per bin
    assert tmpl["sig"][-1] > 5 * tmpl["bkg"][-1]
    np.testing.assert_allclose(0.5 * (tmpl["sig"] + tmpl["bkg"]), 0.1, atol=0.02)


def test_same_seed_same_model():
    tr, y = gaussian_table(400, 6)
    va, yv = gaussian_table(200, 7)
    a = CompressionModel("t", FEATURES, seed=9).fit(tr, y, va, yv, epochs=3, show_progress=False)
    b = CompressionModel("t", FEATURES, seed=9).fit(tr, y, va, yv, epochs=3, show_progress=False)
    np.testing.assert_array_equal(a.logit(va), b.logit(va))


def test_bad_input():
    tr, y = gaussian_table(100, 8)
    model = CompressionModel("t", FEATURES)
    with pytest.raises(DarkfitInputError, match="not fitted"):
        model.logit(tr)
    bad = tr.copy()
    bad.loc[5, "s2"] = np.nan
    with pytest.raises(DarkfitInputError, match=r"'s2'.*NaN"):
        model.fit(bad, y, tr, y, epochs=1, show_progress=False)
    with pytest.raises(DarkfitInputError, match="no events of class 1"):
        model.fit(tr, np.zeros_like(y), tr, y, epochs=1, show_progress=False)
    with pytest.raises(DarkfitInputError, match="column"):
        model.fit(tr.drop(columns="r"), y, tr, y, epochs=1, show_progress=False)
    with pytest.raises(DarkfitInputError, match="reference"):
        CompressionModel("t", FEATURES, reference="x").fit(tr, y, tr, y, show_progress=False)
    fitted = CompressionModel("t", FEATURES).fit(tr, y, tr, y, epochs=1, show_progress=False)
    with pytest.raises(DarkfitInputError, match="bins"):
        score_templates(fitted, {"a": tr}, [0.2, 0.5, 1.0])
