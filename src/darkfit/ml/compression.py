"""NN likelihood compression (LUX, arXiv:2201.05734; ml_methods.md B.1).

An MLP maps the event variables (default (r, z, S1, S2); optionally the S1 prompt fraction)
to one score. Training stops when the k-NN mutual information between the score and the
signal/background label reaches ``mi_fraction`` (default 97.5%, the LUX notebook's
``mi_thres = 0.025``) of the mutual information between the inputs and the label, or when
it has not improved for ``patience`` epochs (then the best epoch is kept). The input MI is
the larger of its k-NN estimate in the d-dimensional input space and the k-NN MI of a
gradient-boosted-trees score trained on the same inputs (``input_mi="knn+bdt"``): by the
data-processing inequality the latter is a lower bound of I(X; Y), and at 10^4 validation
events the d-D k-NN estimate is biased low by ~0.02 nats (LZ, (r, z, S1, S2): 0.575 nats at
2.5k events per class, 0.597 at 20k), enough to fire the 97.5% rule on an undertrained
network. ``input_mi="knn"`` is the plain LUX rule. The score is
mapped to u in [0, 1] by the CDF of a reference population -- a 50/50 signal/background
mixture (as LUX's ``find_uniform_transform``) or the background alone -- and
:func:`score_templates` turns simulated events of each source into normalised 1-D
histograms of u: the templates of a binned Poisson likelihood
(expected counts in bin b = mu_source * template[b]).

Differences from the LUX code, by choice: binary cross-entropy instead of mean squared error
(both are minimised by a monotone function of the likelihood ratio), the pre-sigmoid logit as
the score (no saturation, so the CDF is well defined), SELU hidden layers (10, 5) as in the
LUX paper notebook's [4, 10, 5, 1] topology, inputs z-scored with training means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from darkfit._errors import bad_value
from darkfit.ml._validate import binary_labels, feature_matrix
from darkfit.ml.mutual_info import mi_continuous_discrete
from darkfit.ml.training import predict, train_binary

COMPRESSION_FEATURES = ("r", "z", "s1", "s2")
F32 = jnp.float32


class MLP(eqx.Module):
    """Dense network, SELU hidden layers, one output logit."""

    layers: list

    def __init__(self, n_in: int, hidden: tuple[int, ...], key):
        sizes = (n_in, *hidden, 1)
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = [
            eqx.nn.Linear(a, b, key=k, dtype=F32)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        ]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jax.nn.selu(layer(x))
        return self.layers[-1](x)[0]


def weighted_cdf_knots(scores: np.ndarray, weights: np.ndarray, n_knots: int = 2001):
    """Knots (strictly increasing) of the weighted empirical CDF at levels linspace(0, 1, n)."""
    order = np.argsort(scores)
    s, w = scores[order], weights[order]
    cdf = np.cumsum(w) / np.sum(w)
    levels = np.linspace(0.0, 1.0, n_knots)
    knots = np.interp(levels, cdf, s)
    knots[0], knots[-1] = s[0], s[-1]
    # strictly increasing, so that np.interp is a proper monotone map
    step = 1e-9 * max(float(np.ptp(s)), 1e-12)
    return knots + step * np.arange(n_knots), levels


@dataclass
class CompressionModel:
    """MLP compression of event variables to one score, and its uniform transform."""

    detector: str
    features: tuple[str, ...] = COMPRESSION_FEATURES
    hidden: tuple[int, ...] = (10, 5)
    seed: int = 0
    reference: str = "mixture"  # or "background"
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    knots: np.ndarray | None = None
    net: MLP | None = None
    history: list = field(default_factory=list)  # per epoch: {"loss", "mi"}
    input_mi: str = "knn+bdt"  # how MI(inputs; label) is estimated (see fit)
    mi_inputs: float | None = None  # MI(inputs; label) [nats], validation events
    mi_inputs_knn: float | None = None  # its k-NN estimate in the input space
    mi_inputs_bdt: float | None = None  # MI(BDT score; label), a lower bound
    mi_score: float | None = None  # MI(score; label) of the kept network [nats]
    stop_reason: str = ""
    orientation: float = 1.0  # +1, or -1 if the kept network scores signal lower
    kind: str = "compression"

    def skeleton(self) -> MLP:
        return MLP(len(self.features), tuple(self.hidden), jax.random.key(self.seed))

    def _x(self, table: pd.DataFrame) -> np.ndarray:
        x = feature_matrix(table, self.features)
        return ((x - self.mean) / self.std).astype(np.float32)

    def fit(
        self,
        table: pd.DataFrame,
        labels,
        val_table: pd.DataFrame,
        val_labels,
        *,
        epochs: int = 50,
        batch_size: int = 250,  # capped at n / 50: at least 50 steps per epoch
        learning_rate: float = 3e-3,
        mi_fraction: float = 0.975,
        patience: int = 5,
        k: int = 3,
        show_progress: bool = True,
    ) -> CompressionModel:
        """Train with the mutual-information stopping rule (validation events: ``val_*``)."""
        if self.input_mi not in ("knn", "knn+bdt"):
            raise bad_value("input_mi", self.input_mi, "'knn' or 'knn+bdt'")
        if self.reference not in ("mixture", "background"):
            raise bad_value("reference", self.reference, "'mixture' or 'background'")
        if not 0.0 < mi_fraction <= 1.0:
            raise bad_value("mi_fraction", mi_fraction, "a number in (0, 1]")
        self.features, self.hidden = tuple(self.features), tuple(self.hidden)
        raw = feature_matrix(table, self.features)
        y = binary_labels(labels, raw.shape[0])
        self.mean = raw.mean(axis=0)
        self.std = np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
        x = self._x(table)
        xv = self._x(val_table)
        yv = binary_labels(val_labels, xv.shape[0])
        self.mi_inputs_knn = mi_continuous_discrete(xv, yv, k=k, seed=self.seed)
        self.mi_inputs = self.mi_inputs_knn
        if self.input_mi == "knn+bdt":
            # data-processing inequality: I(f(X); Y) <= I(X; Y) for any f, and the 1-D k-NN
            # estimate is far less biased than the d-D one, so a BDT score's MI is a sharper
            # lower bound of the input MI at moderate N
            from darkfit.ml.classifiers import BDTClassifier

            bdt = BDTClassifier(self.detector, self.features, seed=self.seed).fit(table, y)
            self.mi_inputs_bdt = mi_continuous_discrete(
                bdt.score(val_table), yv, k=k, seed=self.seed
            )
            self.mi_inputs = max(self.mi_inputs_knn, self.mi_inputs_bdt)
        best = {"mi": -np.inf, "net": None, "epoch": -1}
        self.history = []

        def on_epoch(epoch, net):
            mi = mi_continuous_discrete(predict(net, [xv]), yv, k=k, seed=self.seed)
            self.history.append({"epoch": epoch, "mi": mi})
            if mi > best["mi"] + 1e-4:
                best.update(mi=mi, net=net, epoch=epoch)
            if mi >= mi_fraction * self.mi_inputs:
                self.stop_reason = f"MI ratio {mi / self.mi_inputs:.3f} >= {mi_fraction}"
                return True, f"MI ratio {mi / self.mi_inputs:.3f}"
            if epoch - best["epoch"] >= patience:
                self.stop_reason = f"no MI improvement in {patience} epochs"
                return True, f"MI ratio {mi / self.mi_inputs:.3f}"
            return False, f"MI ratio {mi / self.mi_inputs:.3f}"

        net, losses = train_binary(
            self.skeleton(),
            [x],
            y,
            epochs=epochs,
            batch_size=int(min(batch_size, max(16, x.shape[0] // 50))),
            learning_rate=learning_rate,
            seed=self.seed,
            on_epoch=on_epoch,
            show_progress=show_progress,
            description=f"compression ({self.detector})",
        )
        for h, loss in zip(self.history, losses, strict=False):
            h["loss"] = loss
        if not self.stop_reason:
            self.stop_reason = f"reached {epochs} epochs"
        if self.stop_reason.startswith("MI ratio"):
            self.net, self.mi_score = net, self.history[-1]["mi"]
        else:  # keep the best epoch
            self.net, self.mi_score = best["net"], best["mi"]
        # orientation: larger = more signal-like (MI ignores the sign, so an early "best"
        # epoch may be anti-aligned)
        self.orientation = 1.0
        s = predict(self.net, [x])
        if np.mean(s[y == 1]) < np.mean(s[y == 0]):
            self.orientation, s = -1.0, -s
        # uniform transform from the training scores
        if self.reference == "mixture":
            w = np.where(y == 1, 0.5 / np.sum(y == 1), 0.5 / np.sum(y == 0))
        else:
            w = np.where(y == 0, 1.0, 0.0)
        self.knots, _ = weighted_cdf_knots(s, w)
        return self

    @property
    def mi_ratio(self) -> float:
        """MI(score; label) / MI(inputs; label) of the kept network (validation events)."""
        return self.mi_score / self.mi_inputs

    def logit(self, table: pd.DataFrame) -> np.ndarray:
        """The network score (pre-sigmoid) of each event."""
        if self.net is None:
            raise bad_value("CompressionModel", "not fitted", "call fit() first")
        return self.orientation * predict(self.net, [self._x(table)])

    score = logit

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """The uniformised score u in [0, 1] (uniform for the reference population)."""
        s = self.logit(table)
        return np.interp(s, self.knots, np.linspace(0.0, 1.0, self.knots.size))


def score_templates(model: CompressionModel, events_by_source: dict, bins) -> dict:
    """Normalised histograms of the uniformised score for each source.

    Args:
        model: a fitted :class:`CompressionModel`.
        events_by_source: ``{name: table}`` with the model's feature columns (a simulate()
            table works for the default (r, z, s1, s2) features).
        bins: number of equal bins on [0, 1], or explicit increasing edges within [0, 1].

    Returns:
        ``{name: template}``, each a float array of length n_bins summing to 1: multiply by
        the source's expected event count to get the expected counts of a binned Poisson
        likelihood.
    """
    if np.ndim(bins) == 0:
        n = int(bins)
        if n < 1:
            raise bad_value("bins", bins, "a positive number of bins or increasing edges")
        edges = np.linspace(0.0, 1.0, n + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] > 0 or edges[-1] < 1:
            raise bad_value("bins", list(edges[:4]), "increasing edges covering [0, 1]")
    out = {}
    for name, table in events_by_source.items():
        u = model.transform(table)
        h, _ = np.histogram(u, bins=edges)
        out[name] = h / u.size
    return out
