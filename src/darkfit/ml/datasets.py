"""Labelled ML datasets: simulated events rendered to waveforms, hit patterns and features.

>>> import darkfit
>>> from darkfit.detector import load_detector
>>> from darkfit.ml.datasets import simulate_dataset
>>> ds = simulate_dataset(load_detector("lz"), n_per_class=50, seed=1)  # doctest: +SKIP
>>> ds.s1_waveforms.shape, ds.patterns.shape  # doctest: +SKIP
((100, 64), (100, 17, 17))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from darkfit._errors import bad_value
from darkfit.detector import Detector
from darkfit.ml.features import event_features
from darkfit.ml.hit_pattern import hit_patterns, reconstructed_xy
from darkfit.ml.pulse_config import PulseConfig, pulse_config
from darkfit.ml.waveforms import require_columns, s1_waveforms, s2_waveforms

#: Default sources: flat ER background (energies capped at 30 keVee: ER above ~25 keVee
#: cannot reach the S1 < 80-100 phd ROI of the presets, so the in-ROI population is the same,
#: with fewer wasted draws) and a 50 GeV spin-independent WIMP.
ER_SOURCE = "flat_er:e_max_kev=30"
NR_SOURCE = "wimp:mass=50,sigma=1e-46"


@dataclass(frozen=True)
class EventDataset:
    """Rendered events: inputs for the classifiers and their labels (1 = NR signal, 0 = ER).

    Attributes:
        detector: detector name the events were rendered for.
        features: the engineered feature table (:mod:`darkfit.ml.features`).
        s1_waveforms: (n, s1_samples) [phd per 10 ns], float32.
        s2_waveforms: (n, s2_samples) [phd per 100 ns], float32.
        patterns: (n, size, size) S2 top hit-pattern images [phd per pixel], float32.
        labels: (n,) int, 1 for NR and 0 for ER.
        sources: (n,) source name of each event.
    """

    detector: str
    features: pd.DataFrame
    s1_waveforms: np.ndarray
    s2_waveforms: np.ndarray
    patterns: np.ndarray
    labels: np.ndarray
    sources: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.size)

    def subset(self, index) -> EventDataset:
        """The events at ``index`` (integer array or boolean mask)."""
        index = np.asarray(index)
        return EventDataset(
            self.detector,
            self.features.iloc[index].reset_index(drop=True),
            self.s1_waveforms[index],
            self.s2_waveforms[index],
            self.patterns[index],
            self.labels[index],
            self.sources[index],
        )


def render_events(
    detector: Detector, events: pd.DataFrame, *, seed: int = 0, cfg: PulseConfig | None = None
) -> EventDataset:
    """Render an events table of :func:`~darkfit.model.simulate.simulate` (all rows kept)."""
    require_columns(events, ("source", "recoil_type", "x", "y"))
    cfg = cfg if cfg is not None else pulse_config(detector)
    rng = np.random.default_rng([seed, 7321])
    s1 = s1_waveforms(rng, events, cfg, detector)
    s2, centroid = s2_waveforms(rng, events, cfg, detector)
    x_true, y_true = events["x"].to_numpy(), events["y"].to_numpy()
    patterns = hit_patterns(rng, x_true, y_true, s2.top_area, cfg)
    x_rec, y_rec = reconstructed_xy(rng, x_true, y_true, s2.top_area)
    feats = event_features(s1, s2, centroid, x_rec, y_rec, cfg)
    labels = (events["recoil_type"].to_numpy() == "nr").astype(np.int64)
    return EventDataset(
        detector.name,
        feats,
        s1.waveforms,
        s2.waveforms,
        patterns,
        labels,
        events["source"].astype(str).to_numpy(),
    )


def simulate_in_roi(detector: Detector, source_text: str, n: int, seed: int) -> pd.DataFrame:
    """Exactly ``n`` in-ROI events of one source (simulating in rounds until enough pass)."""
    from darkfit.model.simulate import simulate
    from darkfit.model.sources import parse_source

    if n < 1:
        raise bad_value("events per class", n, "a positive integer")
    src = parse_source(source_text)
    frames, have, drawn = [], 0, 0
    for attempt in range(200):
        # power-of-two rounds (1024 ... 65536): the simulator compiles once per bucket size,
        # and small requests stay in the 1024 bucket
        frac = max(have / drawn, 0.01) if drawn else 0.5
        want = 1.3 * (n - have) / frac
        draw = 1024 if want <= 4096 else min(1 << 16, 1 << int(np.floor(np.log2(want))))
        df = simulate(detector, [src], n_events=draw, seed=seed * 1000 + attempt)
        frames.append(df[df["in_roi"]])
        have += len(frames[-1])
        drawn += draw
        if have >= n:
            break
        if attempt >= 3 and have < 1e-3 * drawn:
            break
    if have < n:
        raise bad_value("source", source_text, f"a source with events in the {detector.name} ROI")
    return pd.concat(frames, ignore_index=True).iloc[:n].reset_index(drop=True)


def simulate_dataset(
    detector: Detector,
    n_per_class: int,
    seed: int = 0,
    *,
    n_er: int | None = None,
    er_source: str = ER_SOURCE,
    nr_source: str = NR_SOURCE,
) -> EventDataset:
    """Simulate in-ROI ER (``n_er``, default ``n_per_class``) and NR events and render them."""
    n_er = n_per_class if n_er is None else n_er
    er = simulate_in_roi(detector, er_source, n_er, 2 * seed)
    nr = simulate_in_roi(detector, nr_source, n_per_class, 2 * seed + 1)
    for frame, kind in ((er, "er"), (nr, "nr")):
        if not (frame["recoil_type"] == kind).all():
            raise bad_value(
                f"{kind} source",
                er_source if kind == "er" else nr_source,
                f"a source of {kind.upper()} recoils",
            )
    events = pd.concat([er, nr], ignore_index=True)
    events["source"] = events["source"].astype(str)
    return render_events(detector, events, seed=seed)


def split(ds: EventDataset, test_fraction: float, seed: int = 0) -> tuple[EventDataset, ...]:
    """Stratified random split into (train, test); each class is split separately."""
    if not 0.0 < test_fraction < 1.0:
        raise bad_value("test_fraction", test_fraction, "a number in (0, 1)")
    rng = np.random.default_rng([seed, 99])
    test = np.zeros(len(ds), dtype=bool)
    for c in (0, 1):
        idx = np.flatnonzero(ds.labels == c)
        pick = rng.permutation(idx)[: round(test_fraction * idx.size)]
        test[pick] = True
    return ds.subset(np.flatnonzero(~test)), ds.subset(np.flatnonzero(test))
