"""Saved models reload with identical scores; another detector or feature list is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import darkfit
from darkfit._errors import DarkfitInputError
from darkfit.ml.classifiers import BDTClassifier, NRBandCut
from darkfit.ml.compression import CompressionModel
from darkfit.ml.networks import NetworkClassifier
from darkfit.ml.persistence import load_model, read_config, save_model


@pytest.fixture(scope="module")
def models(lz, lz_data):
    train, _ = lz_data
    small = train.subset(np.r_[0:150, len(train) - 150 : len(train)])
    half = len(small) // 2
    comp = CompressionModel("lz", ("r", "z", "s1", "s2"), seed=2)
    comp.fit(small.features, small.labels, small.features, small.labels, epochs=2,
             show_progress=False)  # fmt: skip
    return {
        "nr_band_cut": NRBandCut("lz", lz.electron_lifetime_us).fit(train.features, train.labels),
        "bdt": BDTClassifier("lz", params={"max_iter": 20}).fit(train.features, train.labels),
        "network": NetworkClassifier("lz", arch={"channels": 2, "hidden": 4}).fit(
            small, epochs=1, batch_size=half, show_progress=False
        ),
        "compression": comp,
    }


def _score(model, ds):
    return model.score(ds) if model.kind == "network" else model.score(ds.features)


@pytest.mark.parametrize("kind", ["nr_band_cut", "bdt", "network", "compression"])
def test_round_trip_gives_identical_scores(kind, models, lz_data, tmp_path):
    _, test = lz_data
    model = models[kind]
    save_model(model, tmp_path / kind)
    config = read_config(tmp_path / kind)
    assert config["kind"] == kind and config["detector"] == "lz"
    assert config["darkfit_version"] == darkfit.__version__
    assert config["features"] == list(model.features)
    loaded = load_model(tmp_path / kind, "lz", features=model.features)
    np.testing.assert_array_equal(_score(loaded, test), _score(model, test))
    if kind == "compression":
        np.testing.assert_array_equal(loaded.transform(test.features),
                                      model.transform(test.features))  # fmt: skip


def test_other_detector_or_features_refused(models, darwin, tmp_path):
    save_model(models["bdt"], tmp_path / "bdt")
    with pytest.raises(DarkfitInputError, match="trained for"):
        load_model(tmp_path / "bdt", darwin)
    with pytest.raises(DarkfitInputError, match="feature list"):
        load_model(tmp_path / "bdt", "lz", features=("s1", "s2"))


def test_not_a_model_and_unfitted(tmp_path):
    with pytest.raises(DarkfitInputError, match="save_model"):
        load_model(tmp_path, "lz")
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(DarkfitInputError, match="format"):
        load_model(tmp_path, "lz")
    with pytest.raises(DarkfitInputError, match="not fitted"):
        save_model(BDTClassifier("lz"), tmp_path / "x")
    with pytest.raises(DarkfitInputError, match=r"darkfit\.ml model"):
        save_model(object(), tmp_path / "y")
