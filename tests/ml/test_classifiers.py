"""NR-band cut and BDT: band medians, held-out performance on LZ and DARWIN, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from darkfit._errors import DarkfitInputError
from darkfit.ml import metrics
from darkfit.ml.classifiers import BDTClassifier, NRBandCut


def test_band_median_recovers_a_known_band():
    """NR y = log10(cS2/S1) = 2.6 - 0.4 log10(S1) + N(0, 0.1): median at S1 is the line."""
    rng = np.random.default_rng(0)
    n = 40_000
    s1 = rng.uniform(3, 80, n)
    t = rng.uniform(0, 800, n)
    y = 2.6 - 0.4 * np.log10(s1) + 0.1 * rng.standard_normal(n)
    s2 = s1 * 10**y * np.exp(-t / 850.0)  # lifetime-attenuated, as observed
    table = pd.DataFrame({"s1": s1, "s2": s2, "drift_time": t})
    labels = np.r_[np.ones(n - 1, int), 0]  # one ER event: fit() needs both classes
    cut = NRBandCut("test", 850.0, n_bins=20).fit(table, labels)
    grid = np.array([6.0, 20.0, 60.0])
    np.testing.assert_allclose(cut.band_median(grid), 2.6 - 0.4 * np.log10(grid), atol=0.01)
    assert np.mean(cut.score(table) > 0) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("which", ["lz", "darwin"])
def test_held_out_performance(which, lz, darwin, lz_data, darwin_data):
    """On held-out events: the cut keeps ~50% of NR (it is the NR median) with >= 99% ER
    rejection; the BDT on (s1, s2, r, z) reaches AUC > 0.97 and beats the cut's AUC within
    statistics."""
    det, (train, test) = {"lz": (lz, lz_data), "darwin": (darwin, darwin_data)}[which]
    cut = NRBandCut(det.name, det.electron_lifetime_us).fit(train.features, train.labels)
    r_cut = metrics.report(test.labels, cut.score(test.features), cut.threshold)
    n_nr = r_cut["n_nr"]
    assert abs(r_cut["nr_acceptance"] - 0.5) < 4 * np.sqrt(0.25 / n_nr)
    assert r_cut["er_rejection"] > 0.99
    bdt = BDTClassifier(det.name, seed=1).fit(train.features, train.labels)
    r_bdt = metrics.report(test.labels, bdt.score(test.features), bdt.threshold)
    assert r_bdt["auc"] > 0.97
    assert r_bdt["auc"] > r_cut["auc"] - 0.01
    assert r_bdt["accuracy"] > 0.9


def test_bdt_refuses_bad_input(lz_data):
    train, _ = lz_data
    bdt = BDTClassifier("lz")
    bad = train.features.copy()
    bad.loc[3, "r"] = np.nan
    with pytest.raises(DarkfitInputError, match=r"'r'.*1 NaN"):
        bdt.fit(bad, train.labels)
    with pytest.raises(DarkfitInputError, match="class 1"):
        bdt.fit(train.features, np.zeros(len(train), int))
    with pytest.raises(DarkfitInputError, match="column"):
        bdt.fit(train.features.drop(columns="z"), train.labels)
    with pytest.raises(DarkfitInputError, match="not fitted"):
        bdt.score(train.features)
    with pytest.raises(DarkfitInputError, match="only 0 and 1"):
        bdt.fit(train.features, np.full(len(train), 2))
