"""An equinox network on the raw event record: S1 and S2 waveforms, hit pattern, scalars.

Architecture (hyperparameters in :data:`DEFAULT_ARCH`; ml_methods.md A.3 recommends
per-branch encoders and warns against hard-coding "paper" values, which are not public):

* S1 and S2 branches: three 1-D convolutions (kernel 5; strides 1, 2, 2; ReLU), flattened, one
  dense layer to ``hidden`` units;
* hit-pattern branch: two 2-D convolutions (kernel 3; strides 1, 2; ReLU), flattened, dense;
* a dense branch on scalars: log10 of the S1, S2 and pattern areas (computed from the
  waveforms themselves) plus the listed event features (default: the S2 - S1 time, i.e. the
  measured drift time), standardised with training means and widths;
* a head: dense (``hidden``, ReLU) -> one logit (larger = more NR-like).

Waveforms and patterns enter the convolutions normalised to their maximum, so the shape and
the size information arrive separately. :class:`NetworkClassifier` is the friendly layer:
it validates shapes and values, builds, trains (:func:`~darkfit.ml.training.train_binary`,
rich progress bar) and scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from darkfit._errors import bad_value
from darkfit.ml._validate import array_shape, binary_labels, feature_matrix
from darkfit.ml.training import predict, train_binary

DEFAULT_ARCH = {"channels": 8, "hidden": 32}
#: Networks run in float32 (darkfit enables float64 globally for the likelihood code).
F32 = jnp.float32
NETWORK_FEATURES = ("drift_time",)


def _conv_len(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


class Branch1D(eqx.Module):
    convs: list
    dense: eqx.nn.Linear

    def __init__(self, length: int, channels: int, hidden: int, key):
        k = jax.random.split(key, 4)
        c = channels
        self.convs = [
            eqx.nn.Conv1d(1, c, 5, stride=1, padding=2, key=k[0], dtype=F32),
            eqx.nn.Conv1d(c, c, 5, stride=2, padding=2, key=k[1], dtype=F32),
            eqx.nn.Conv1d(c, c, 5, stride=2, padding=2, key=k[2], dtype=F32),
        ]
        n = length
        for s in (1, 2, 2):
            n = _conv_len(n, 5, s, 2)
        self.dense = eqx.nn.Linear(c * n, hidden, key=k[3], dtype=F32)

    def __call__(self, x):
        h = x[None, :]
        for conv in self.convs:
            h = jax.nn.relu(conv(h))
        return jax.nn.relu(self.dense(h.ravel()))


class Branch2D(eqx.Module):
    convs: list
    dense: eqx.nn.Linear

    def __init__(self, size: int, channels: int, hidden: int, key):
        k = jax.random.split(key, 3)
        c = channels
        self.convs = [
            eqx.nn.Conv2d(1, c, 3, stride=1, padding=1, key=k[0], dtype=F32),
            eqx.nn.Conv2d(c, c, 3, stride=2, padding=1, key=k[1], dtype=F32),
        ]
        n = _conv_len(_conv_len(size, 3, 1, 1), 3, 2, 1)
        self.dense = eqx.nn.Linear(c * n * n, hidden, key=k[2], dtype=F32)

    def __call__(self, x):
        h = x[None, :, :]
        for conv in self.convs:
            h = jax.nn.relu(conv(h))
        return jax.nn.relu(self.dense(h.ravel()))


class WaveformNet(eqx.Module):
    """S1 branch + S2 branch + pattern branch + scalar branch -> logit (one event)."""

    s1: Branch1D
    s2: Branch1D
    pattern: Branch2D
    scalars: eqx.nn.Linear
    head: eqx.nn.MLP

    def __init__(self, s1_len, s2_len, image_size, n_scalars, channels, hidden, key):
        k = jax.random.split(key, 5)
        self.s1 = Branch1D(s1_len, channels, hidden, k[0])
        self.s2 = Branch1D(s2_len, channels, hidden, k[1])
        self.pattern = Branch2D(image_size, channels, hidden, k[2])
        self.scalars = eqx.nn.Linear(n_scalars, hidden, key=k[3], dtype=F32)
        self.head = eqx.nn.MLP(
            4 * hidden, "scalar", hidden, 1, activation=jax.nn.relu, key=k[4], dtype=F32
        )

    def __call__(self, s1, s2, pattern, scalars):
        z = jnp.concatenate(
            [self.s1(s1), self.s2(s2), self.pattern(pattern), jax.nn.relu(self.scalars(scalars))]
        )
        return self.head(z)


def _peak_normalised(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = a.reshape(a.shape[0], -1)
    peak = flat.max(axis=1)
    area = flat.sum(axis=1, dtype=np.float64)
    scale = np.where(peak > 0, peak, 1.0).astype(np.float32)
    return a / scale.reshape((-1,) + (1,) * (a.ndim - 1)), area


@dataclass
class NetworkClassifier:
    """Friendly layer around :class:`WaveformNet` (see the module docstring).

    Args:
        detector: detector name (checked when a saved model is loaded).
        features: event-feature columns for the scalar branch (default: drift time).
        arch: ``channels`` and ``hidden`` sizes.
        seed: seed of the initialisation and of the minibatch order.
    """

    detector: str
    features: tuple[str, ...] = NETWORK_FEATURES
    arch: dict = field(default_factory=lambda: dict(DEFAULT_ARCH))
    seed: int = 0
    shapes: dict | None = None  # s1_len, s2_len, image_size
    scalar_mean: np.ndarray | None = None
    scalar_std: np.ndarray | None = None
    net: WaveformNet | None = None
    history: list = field(default_factory=list)
    kind: str = "network"
    threshold: float = 0.0

    def skeleton(self) -> WaveformNet:
        """A freshly initialised network of this configuration (needs ``shapes``)."""
        sh = self.shapes
        return WaveformNet(
            sh["s1_len"],
            sh["s2_len"],
            sh["image_size"],
            3 + len(self.features),
            self.arch["channels"],
            self.arch["hidden"],
            jax.random.key(self.seed),
        )

    def _inputs(self, ds) -> list[np.ndarray]:
        sh = self.shapes
        s1 = array_shape("s1_waveforms", ds.s1_waveforms, (sh["s1_len"],))
        s2 = array_shape("s2_waveforms", ds.s2_waveforms, (sh["s2_len"],))
        pat = array_shape("patterns", ds.patterns, (sh["image_size"], sh["image_size"]))
        n = s1.shape[0]
        if s2.shape[0] != n or pat.shape[0] != n or len(ds.features) != n:
            raise bad_value("dataset", "arrays of different lengths", "one entry per event")
        s1n, a1 = _peak_normalised(s1)
        s2n, a2 = _peak_normalised(s2)
        patn, a3 = _peak_normalised(pat)
        extra = feature_matrix(ds.features, self.features) if self.features else np.zeros((n, 0))
        logs = np.log10(np.maximum(np.stack([a1, a2, a3], axis=1), 1e-3))
        scal = np.concatenate([logs, extra], axis=1)
        if self.scalar_mean is None:
            self.scalar_mean = scal.mean(axis=0)
            self.scalar_std = np.where(scal.std(axis=0) > 0, scal.std(axis=0), 1.0)
        scal = ((scal - self.scalar_mean) / self.scalar_std).astype(np.float32)
        return [s1n, s2n, patn, scal]

    def fit(
        self,
        ds,
        *,
        epochs: int = 10,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        show_progress: bool = True,
    ) -> NetworkClassifier:
        """Train on an :class:`~darkfit.ml.datasets.EventDataset` (both classes required)."""
        self.features = tuple(self.features)
        self.shapes = {
            "s1_len": int(np.shape(ds.s1_waveforms)[1]),
            "s2_len": int(np.shape(ds.s2_waveforms)[1]),
            "image_size": int(np.shape(ds.patterns)[1]),
        }
        self.scalar_mean = self.scalar_std = None
        inputs = self._inputs(ds)
        y = binary_labels(ds.labels, inputs[0].shape[0])
        net, self.history = train_binary(
            self.skeleton(),
            inputs,
            y,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=self.seed,
            show_progress=show_progress,
            description=f"network ({self.detector})",
        )
        self.net = net
        return self

    def score(self, ds) -> np.ndarray:
        """NR logit of every event of a dataset."""
        if self.net is None:
            raise bad_value("NetworkClassifier", "not fitted", "call fit() first")
        return predict(self.net, self._inputs(ds))
