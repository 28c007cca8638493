"""The waveform + pattern network: learns a known separable toy, is reproducible, refuses bad
shapes, NaN values and a missing class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from darkfit._errors import DarkfitInputError
from darkfit.ml import metrics
from darkfit.ml.datasets import EventDataset
from darkfit.ml.networks import NetworkClassifier

ARCH = {"channels": 4, "hidden": 8}


def toy_dataset(n: int, seed: int) -> EventDataset:
    """Class 1: S1 decays with 3 ns, class 0 with 25 ns (singlet vs triplet-like), 30 photons
    per pulse in 10 ns samples; S2 and patterns carry no class information. A shape cut on
    the fraction in the first sample separates them almost perfectly (AUC ~ 1)."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    tau = np.where(y == 1, 3.0, 25.0)
    t = rng.exponential(tau[:, None], (2 * n, 30))
    s1 = np.stack([np.histogram(row, bins=np.arange(0, 330, 10.0))[0] for row in t])
    s2 = rng.poisson(5.0, (2 * n, 40)).astype(float)
    pat = rng.poisson(2.0, (2 * n, 8, 8)).astype(float)
    feats = pd.DataFrame({"drift_time": rng.uniform(0, 100, 2 * n)})
    return EventDataset("toy", feats, s1.astype(np.float32), s2.astype(np.float32),
                        pat.astype(np.float32), y, np.where(y == 1, "nr", "er"))  # fmt: skip


@pytest.fixture(scope="module")
def fitted():
    return NetworkClassifier("toy", arch=dict(ARCH), seed=1).fit(
        toy_dataset(256, 0), epochs=10, batch_size=64, learning_rate=1e-2, show_progress=False
    )


def test_network_learns_the_pulse_shape(fitted):
    test = toy_dataset(256, 1)
    s = fitted.score(test)
    assert s.shape == (512,) and np.isfinite(s).all()
    assert metrics.report(test.labels, s, 0.0)["auc"] > 0.97


def test_same_seed_same_network(fitted):
    again = NetworkClassifier("toy", arch=dict(ARCH), seed=1).fit(
        toy_dataset(256, 0), epochs=10, batch_size=64, learning_rate=1e-2, show_progress=False
    )
    test = toy_dataset(32, 2)
    np.testing.assert_array_equal(fitted.score(test), again.score(test))


def test_wrong_shapes_and_nan(fitted):
    ds = toy_dataset(8, 3)
    short = EventDataset("toy", ds.features, ds.s1_waveforms[:, :20], ds.s2_waveforms,
                         ds.patterns, ds.labels, ds.sources)  # fmt: skip
    with pytest.raises(DarkfitInputError, match=r"s1_waveforms.*shape \(16, 20\)"):
        fitted.score(short)
    square = EventDataset("toy", ds.features, ds.s1_waveforms, ds.s2_waveforms,
                          ds.patterns[:, :6, :], ds.labels, ds.sources)  # fmt: skip
    with pytest.raises(DarkfitInputError, match="patterns"):
        fitted.score(square)
    flat = EventDataset("toy", ds.features, ds.s1_waveforms, ds.s2_waveforms,
                        ds.patterns.reshape(16, -1), ds.labels, ds.sources)  # fmt: skip
    with pytest.raises(DarkfitInputError, match="patterns"):
        fitted.score(flat)
    nan = ds.s2_waveforms.copy()
    nan[2, 5] = np.nan
    with pytest.raises(DarkfitInputError, match=r"s2_waveforms.*NaN"):
        fitted.score(EventDataset("toy", ds.features, ds.s1_waveforms, nan, ds.patterns,
                                  ds.labels, ds.sources))  # fmt: skip
    feats = ds.features.copy()
    feats.loc[0, "drift_time"] = np.nan
    with pytest.raises(DarkfitInputError, match="drift_time"):
        fitted.score(EventDataset("toy", feats, ds.s1_waveforms, ds.s2_waveforms, ds.patterns,
                                  ds.labels, ds.sources))  # fmt: skip


def test_missing_class_and_unfitted():
    ds = toy_dataset(8, 4)
    only_er = ds.subset(np.flatnonzero(ds.labels == 0))
    with pytest.raises(DarkfitInputError, match="no events of class 1"):
        NetworkClassifier("toy", arch=dict(ARCH)).fit(only_er, epochs=1, show_progress=False)
    with pytest.raises(DarkfitInputError, match="not fitted"):
        NetworkClassifier("toy").score(ds)
