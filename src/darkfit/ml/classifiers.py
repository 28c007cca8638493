"""The classical NR-band cut and a gradient-boosted-trees classifier on engineered features.

Both score events so that larger means more NR-like (1 = NR signal, 0 = ER background) and
refuse bad input (missing or NaN features, a missing class) with a one-line
:class:`~darkfit._errors.DarkfitInputError`.

* :class:`NRBandCut`: the classical discrimination. The NR band median of
  y = log10(cS2 / S1) versus S1 is estimated from NR training events in S1 bins of equal NR
  count (medians joined linearly, flat outside); the score is median(S1) - y, and the cut
  keeps events *below* the median (score > 0), about 50% of NR by construction. cS2 corrects
  the S2 area for the electron lifetime, cS2 = S2 exp(t_d / tau_e), as the band analyses of
  LUX/LZ do (cS1, cS2); S1 is not corrected (the presets have no S1 map).
* :class:`BDTClassifier`: scikit-learn's ``HistGradientBoostingClassifier``; the score is its
  ``decision_function`` (log-odds, never saturating).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from darkfit._errors import bad_value
from darkfit.ml._validate import binary_labels, feature_matrix

#: The BDT feature set of the docs table: raw areas and reconstructed position.
BDT_FEATURES = ("s1", "s2", "r", "z")


@dataclass
class NRBandCut:
    """NR band-median cut in log10(cS2/S1) vs S1 (see the module docstring)."""

    detector: str
    electron_lifetime_us: float
    n_bins: int = 20
    s1_nodes: np.ndarray | None = None
    medians: np.ndarray | None = None
    features: tuple[str, ...] = ("s1", "s2", "drift_time")
    kind: str = "nr_band_cut"
    threshold: float = 0.0  # the cut: score > 0 (below the NR median)

    def _log_ratio(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = feature_matrix(table, self.features)
        s1, s2, t = x[:, 0], x[:, 1], x[:, 2]
        if np.any(s1 <= 0) or np.any(s2 <= 0):
            raise bad_value("s1/s2", "non-positive areas", "positive S1 and S2 (in-ROI events)")
        return s1, np.log10(s2 * np.exp(t / self.electron_lifetime_us) / s1)

    def fit(self, table: pd.DataFrame, labels) -> NRBandCut:
        """Estimate the NR band median from the NR events (label 1) of a training table."""
        y = binary_labels(labels, len(table))
        s1, ly = self._log_ratio(table)
        s1, ly = s1[y == 1], ly[y == 1]
        n_bins = int(min(self.n_bins, max(1, s1.size // 20)))
        edges = np.quantile(s1, np.linspace(0.0, 1.0, n_bins + 1))
        idx = np.clip(np.searchsorted(edges, s1, side="right") - 1, 0, n_bins - 1)
        self.s1_nodes = np.array([np.median(s1[idx == i]) for i in range(n_bins)])
        self.medians = np.array([np.median(ly[idx == i]) for i in range(n_bins)])
        return self

    def band_median(self, s1: np.ndarray) -> np.ndarray:
        """The NR band median of log10(cS2/S1) at ``s1`` [phd]."""
        if self.s1_nodes is None:
            raise bad_value("NRBandCut", "not fitted", "call fit() first")
        return np.interp(s1, self.s1_nodes, self.medians)

    def score(self, table: pd.DataFrame) -> np.ndarray:
        """median(S1) - log10(cS2/S1): positive below the NR median (the cut keeps > 0)."""
        s1, ly = self._log_ratio(table)
        return self.band_median(s1) - ly


@dataclass
class BDTClassifier:
    """HistGradientBoostingClassifier on a fixed list of engineered features.

    Args:
        detector: detector name (checked when a saved model is loaded).
        features: feature-table columns used as inputs.
        params: keyword arguments of ``HistGradientBoostingClassifier``.
    """

    detector: str
    features: tuple[str, ...] = BDT_FEATURES
    params: dict = field(
        default_factory=lambda: {"max_iter": 300, "learning_rate": 0.1, "max_leaf_nodes": 31}
    )
    seed: int = 0
    model: HistGradientBoostingClassifier | None = None
    kind: str = "bdt"
    threshold: float = 0.0  # decision_function > 0 <=> P(NR) > 0.5

    def fit(self, table: pd.DataFrame, labels) -> BDTClassifier:
        """Train on the feature table and labels (both classes required)."""
        self.features = tuple(self.features)
        x = feature_matrix(table, self.features)
        y = binary_labels(labels, x.shape[0])
        self.model = HistGradientBoostingClassifier(random_state=self.seed, **self.params)
        self.model.fit(x, y)
        return self

    def score(self, table: pd.DataFrame) -> np.ndarray:
        """Log-odds of NR for each event of ``table``."""
        if self.model is None:
            raise bad_value("BDTClassifier", "not fitted", "call fit() first")
        return self.model.decision_function(feature_matrix(table, self.features))


def check_features(model, features: Sequence[str]) -> None:
    """Refuse a feature list that differs from the one a model was trained on."""
    if tuple(features) != tuple(model.features):
        raise bad_value("features", list(features), f"the trained list {list(model.features)}")
