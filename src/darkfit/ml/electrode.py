"""Electrode-event tagging for charge-only (S2-only) searches (LUX, arXiv:2011.09602; B.2).

Few-electron S2-only events have no S1, hence no depth. Their dominant background comes from
the gate and cathode electrodes, which sit at the extremes of the drift time: electrons from
the gate barely diffuse (narrow S2), electrons from the cathode diffuse over the full drift
(widest S2), while real bulk events have intermediate widths at an unknown depth. Here:

* :func:`simulate_s2_only` draws S2-only events of a kind -- ``gate`` (drift time 0),
  ``cathode`` (drift time = drift length / v_d) or ``bulk`` (uniform drift time in between) --
  with a number of extracted electrons uniform in ``n_electrons`` (the same for all kinds, so
  only the pulse *shape* separates them), S2 = N(n_e G_SE, sqrt(n_e) sigma_SE) as in
  :mod:`darkfit.model.response`, and the S2 waveform / features of :mod:`darkfit.ml.waveforms`;
* :func:`electrode_dataset` labels bulk events 1 (signal) and electrode events 0 (half gate,
  half cathode);
* a :class:`~darkfit.ml.classifiers.BDTClassifier` on :data:`ELECTRODE_FEATURES` (S2 area,
  widths, rise time, top-bottom asymmetry, r) tags them; :func:`rejection_curve` gives the
  background rejection factor versus signal efficiency.

Not modelled: the field distortions near the wires that stretch real electrode S2s (LUX
trained on data for that reason, seeds/001); so the separation here comes from diffusion only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from darkfit._errors import bad_value
from darkfit.detector import Detector
from darkfit.ml.features import s2_shape_features
from darkfit.ml.hit_pattern import reconstructed_xy
from darkfit.ml.pulse_config import PulseConfig, pulse_config
from darkfit.ml.waveforms import s2_waveforms_from_arrays

KINDS = ("gate", "cathode", "bulk")
ELECTRODE_FEATURES = (
    "s2",
    "s2_rms_us",
    "s2_t10_90_us",
    "s2_t25_75_us",
    "s2_rise_us",
    "s2_tba",
    "r",
)
#: Extracted electrons of the simulated S2-only events: the few-electron regime of LUX's
#: search (arXiv:2011.09602 abstract: "few electrons"); the range is this module's choice.
N_ELECTRONS = (5, 50)


def simulate_s2_only(
    detector: Detector,
    kind: str,
    n: int,
    seed: int = 0,
    *,
    n_electrons: tuple[int, int] = N_ELECTRONS,
    cfg: PulseConfig | None = None,
) -> pd.DataFrame:
    """``n`` S2-only events of one kind: truth columns and S2 shape features."""
    if kind not in KINDS:
        raise bad_value("kind", kind, f"one of {KINDS}")
    if n < 1:
        raise bad_value("n", n, "a positive number of events")
    lo, hi = n_electrons
    if not 1 <= lo <= hi:
        raise bad_value("n_electrons", n_electrons, "(min, max) with 1 <= min <= max")
    cfg = cfg if cfg is not None else pulse_config(detector)
    rng = np.random.default_rng([seed, KINDS.index(kind), 4242])
    n_e = rng.integers(lo, hi + 1, n)
    t_max = cfg.max_drift_time_us
    drift = {"gate": np.zeros(n), "cathode": np.full(n, t_max), "bulk": rng.uniform(0.0, t_max, n)}[
        kind
    ]
    s2 = n_e * detector.se_gain + np.sqrt(n_e) * detector.se_width * rng.standard_normal(n)
    s2 = np.maximum(s2, 1e-3)
    r = detector.fiducial.r_max_cm * np.sqrt(rng.random(n))
    phi = rng.uniform(0.0, 2 * np.pi, n)
    x, y = r * np.cos(phi), r * np.sin(phi)
    pulses, _ = s2_waveforms_from_arrays(
        rng, n_e, drift, s2, cfg, detector.se_width / detector.se_gain
    )
    x_rec, y_rec = reconstructed_xy(rng, x, y, pulses.top_area)
    feats = s2_shape_features(pulses, cfg)
    table = pd.DataFrame(
        {
            "kind": kind,
            "n_electrons": n_e,
            "drift_time_true": drift,
            "x_true": x,
            "y_true": y,
            **feats,
            "r": np.hypot(x_rec, y_rec),
        }
    )
    return table


def electrode_dataset(
    detector: Detector, n_per_class: int, seed: int = 0, **kwargs
) -> tuple[pd.DataFrame, np.ndarray]:
    """Bulk (label 1) and electrode (label 0: half gate, half cathode) S2-only events."""
    bulk = simulate_s2_only(detector, "bulk", n_per_class, seed, **kwargs)
    n_gate = n_per_class // 2
    gate = simulate_s2_only(detector, "gate", max(n_gate, 1), seed, **kwargs)
    cath = simulate_s2_only(detector, "cathode", max(n_per_class - n_gate, 1), seed, **kwargs)
    table = pd.concat([bulk, gate, cath], ignore_index=True)
    labels = (table["kind"] == "bulk").to_numpy().astype(np.int64)
    return table, labels


def rejection_curve(labels, score, efficiencies=None) -> tuple[np.ndarray, np.ndarray]:
    """Background rejection factor 1 / (electrode acceptance) at each signal efficiency.

    The threshold for efficiency e is the (1 - e) quantile of the signal scores; a rejection
    of ``inf`` means no background event passes.
    """
    y = np.asarray(labels)
    s = np.asarray(score, dtype=np.float64)
    eff = np.linspace(0.05, 0.99, 95) if efficiencies is None else np.asarray(efficiencies)
    sig, bkg = s[y == 1], s[y == 0]
    if sig.size == 0 or bkg.size == 0:
        raise bad_value("labels", "one class only", "signal (1) and background (0) events")
    thr = np.quantile(sig, 1.0 - eff)
    acc = np.array([np.mean(bkg > t) for t in thr])
    with np.errstate(divide="ignore"):
        return eff, np.where(acc > 0, 1.0 / np.where(acc > 0, acc, 1.0), np.inf)
