"""ROC metrics against analytic Gaussian-score values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

from darkfit._errors import DarkfitInputError
from darkfit.ml import metrics


@pytest.fixture(scope="module")
def gaussian_scores():
    rng = np.random.default_rng(3)
    n = 400_000
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    s = np.r_[rng.standard_normal(n), 2.0 + rng.standard_normal(n)]
    return y, s


def test_acceptance_at_rejection_matches_the_normal_quantile(gaussian_scores):
    y, s = gaussian_scores
    for rej in (0.995, 0.9998):
        acc, thr, n_above = metrics.acceptance_at_rejection(y, s, rej)
        assert thr == pytest.approx(stats.norm.ppf(rej), abs=0.02 if rej < 0.999 else 0.08)
        assert acc == pytest.approx(stats.norm.sf(stats.norm.ppf(rej) - 2.0), abs=0.006)
        assert n_above <= (1 - rej) * np.sum(y == 0)


def test_auc_and_threshold_metrics(gaussian_scores):
    y, s = gaussian_scores
    r = metrics.report(y, s, threshold=1.0)
    assert r["auc"] == pytest.approx(stats.norm.cdf(2.0 / np.sqrt(2.0)), abs=2e-3)
    pred = (s > 1.0).astype(int)
    assert r["accuracy"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert r["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    tpr, fpr = stats.norm.sf(-1.0), stats.norm.sf(1.0)
    assert r["recall"] == pytest.approx(tpr, abs=3e-3)
    assert r["precision"] == pytest.approx(tpr / (tpr + fpr), abs=3e-3)


def test_bootstrap_error_is_binomial_sized():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(20000, int), np.ones(5000, int)]
    s = np.r_[rng.standard_normal(20000), 2.0 + rng.standard_normal(5000)]
    r = metrics.report(y, s, 0.0, n_boot=60)
    e = r["at_er_rejection"]["0.995"]
    # dominated by NR binomial noise plus the threshold's own spread: same order as binomial
    binom = np.sqrt(e["nr_acceptance"] * (1 - e["nr_acceptance"]) / 5000)
    assert binom < e["nr_acceptance_std"] < 6 * binom


def test_bad_scores_are_refused():
    with pytest.raises(DarkfitInputError, match="NaN"):
        metrics.report([0, 1, 0, 1], [0.1, np.nan, 0.2, 0.3], 0.0)
    with pytest.raises(DarkfitInputError, match="class"):
        metrics.report([0, 0, 0], [0.1, 0.2, 0.3], 0.0)
