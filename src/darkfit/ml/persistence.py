"""Saving and loading trained ML models: a directory with ``config.json`` plus weights.

``config.json`` holds the model kind, the detector name, the input feature list, the darkfit
version, the hyperparameters and the small fitted arrays (standardisation constants, the
uniform-transform knots, the NR band medians; JSON floats round-trip exactly). Weights:

* equinox networks (``network``, ``compression``): ``weights.eqx`` written with
  ``equinox.tree_serialise_leaves`` and read into a skeleton rebuilt from the config;
* scikit-learn models (``bdt``, ``electrode_bdt``): ``model.joblib`` (joblib pickle -- load
  only files you trust: unpickling runs code);
* ``nr_band_cut``: the config alone.

:func:`load_model` refuses a model saved for another detector or another feature list with a
one-line :class:`~darkfit._errors.DarkfitInputError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import numpy as np

import darkfit
from darkfit._errors import bad_value
from darkfit.ml.classifiers import BDTClassifier, NRBandCut
from darkfit.ml.compression import CompressionModel
from darkfit.ml.networks import NetworkClassifier

FORMAT = "darkfit-ml-model"
FORMAT_VERSION = 1
_ARRAYS = {
    "network": ("scalar_mean", "scalar_std"),
    "compression": ("mean", "std", "knots"),
    "nr_band_cut": ("s1_nodes", "medians"),
    "bdt": (),
    "electrode_bdt": (),
}
_SCALARS = {
    "network": ("arch", "seed", "shapes", "history", "threshold"),
    "compression": (
        "hidden",
        "seed",
        "reference",
        "input_mi",
        "mi_inputs",
        "mi_inputs_knn",
        "mi_inputs_bdt",
        "mi_score",
        "orientation",
        "stop_reason",
        "history",
    ),
    "nr_band_cut": ("electron_lifetime_us", "n_bins", "threshold"),
    "bdt": ("params", "seed", "threshold"),
    "electrode_bdt": ("params", "seed", "threshold"),
}


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    return v


def save_model(model, directory: str | Path) -> Path:
    """Write ``model`` (any darkfit.ml model) to ``directory`` (created if needed)."""
    kind = getattr(model, "kind", None)
    if kind not in _ARRAYS:
        raise bad_value("model", type(model).__name__, f"a darkfit.ml model ({sorted(_ARRAYS)})")
    fitted = {
        "network": "net",
        "compression": "net",
        "nr_band_cut": "s1_nodes",
        "bdt": "model",
        "electrode_bdt": "model",
    }[kind]
    if getattr(model, fitted) is None:
        raise bad_value("model", "not fitted", "a trained model (call fit() first)")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "detector": model.detector,
        "features": list(model.features),
        "darkfit_version": darkfit.__version__,
        "params": {k: _jsonable(getattr(model, k)) for k in _SCALARS[kind]},
        "arrays": {k: _jsonable(getattr(model, k)) for k in _ARRAYS[kind]},
    }
    (path / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True))
    if kind in ("network", "compression"):
        eqx.tree_serialise_leaves(path / "weights.eqx", model.net)
    elif kind in ("bdt", "electrode_bdt"):
        import joblib

        joblib.dump(model.model, path / "model.joblib")
    return path


def read_config(directory: str | Path) -> dict:
    """The ``config.json`` of a saved model (checked for format)."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise bad_value("model directory", str(directory), "a directory written by save_model")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise bad_value("model format", config.get("format"), f"{FORMAT} v{FORMAT_VERSION}")
    return config


def load_model(directory: str | Path, detector, features=None):
    """Load a saved model for ``detector`` (a Detector or its name).

    Raises:
        DarkfitInputError: the model was trained for another detector, or ``features`` is
            given and differs from the model's feature list.
    """
    config = read_config(directory)
    name = detector if isinstance(detector, str) else detector.name
    if config["detector"] != name:
        raise bad_value(
            "detector",
            name,
            f"{config['detector']!r}, the detector the model was "
            "trained for (retrain it for this detector)",
        )
    if features is not None and list(features) != config["features"]:
        raise bad_value(
            "features", list(features), f"the model's feature list {config['features']}"
        )
    kind = config["kind"]
    p = dict(config["params"])
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in config["arrays"].items()}
    feats = tuple(config["features"])
    path = Path(directory)
    if kind == "network":
        model = NetworkClassifier(name, feats, **p, **arrays)
        model.net = eqx.tree_deserialise_leaves(path / "weights.eqx", model.skeleton())
    elif kind == "compression":
        p["hidden"] = tuple(p["hidden"])
        model = CompressionModel(name, feats, **p, **arrays)
        model.net = eqx.tree_deserialise_leaves(path / "weights.eqx", model.skeleton())
    elif kind == "nr_band_cut":
        model = NRBandCut(name, features=feats, **p, **arrays)
    elif kind in ("bdt", "electrode_bdt"):
        import joblib

        model = BDTClassifier(name, feats, kind=kind, **p)
        model.model = joblib.load(path / "model.joblib")
    else:
        raise bad_value("model kind", kind, f"one of {sorted(_ARRAYS)}")
    return model
