"""Engineered per-event features computed from the waveforms and the hit pattern.

Columns of the feature table (units):
    s1, s2 [phd] (waveform areas); s1_tba, s2_tba (top-bottom asymmetry (T - B) / (T + B));
    s1_prompt_fraction (area in the first :data:`PROMPT_WINDOW_NS` from the pulse start over
    the total; the pulse starts at the first sample above :data:`START_THRESHOLD_PHD`);
    s1_rms_ns, s1_rise_ns (10% -> 50% area time); s2_rms_us, s2_t10_90_us, s2_t25_75_us,
    s2_rise_us (10% -> 50%); drift_time [us] (S2 centroid minus its expected delay
    tau_trap + T_EL / 2); x, y, r [cm] (smeared position, :func:`~.hit_pattern.reconstructed_xy`);
    z [cm] (= -v_d drift_time); log10_s2_s1.
Reconstructed quantities keep the events-table names (``r``, ``z``, ``drift_time``), so a model
trained on ("r", "z", "s1", "s2") also reads a :func:`~darkfit.model.simulate.simulate` table
(with true positions). Undefined values (an empty pulse) are NaN, and the classifiers refuse
NaN input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from darkfit.ml.pulse_config import PulseConfig
from darkfit.ml.waveforms import Pulses

#: Prompt window of the S1 prompt fraction [ns]: three 10 ns samples, about the singlet plus
#: electronics time scale; choice of this module (LUX arXiv:1802.06162 used prompt windows of
#: tens of ns on 10 ns-sampled pulses).
PROMPT_WINDOW_NS = 30.0
#: A pulse starts at the first sample with at least this area [phd] (half a photon).
START_THRESHOLD_PHD = 0.5

FEATURE_NAMES = (
    "s1",
    "s2",
    "s1_tba",
    "s2_tba",
    "s1_prompt_fraction",
    "s1_rms_ns",
    "s1_rise_ns",
    "s2_rms_us",
    "s2_t10_90_us",
    "s2_t25_75_us",
    "s2_rise_us",
    "drift_time",
    "x",
    "y",
    "r",
    "z",
    "log10_s2_s1",
)


def area_quantile_times(waveforms: np.ndarray, dt: float, q: float) -> np.ndarray:
    """Time at which the cumulative area reaches a fraction ``q`` (linear within a sample)."""
    w = np.asarray(waveforms, dtype=np.float64)
    c = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w, axis=1)], axis=1)
    total = c[:, -1]
    target = q * total
    j = np.argmax(c >= target[:, None] - 1e-12 * np.abs(total)[:, None], axis=1)
    j = np.clip(j, 1, w.shape[1])
    rows = np.arange(w.shape[0])
    c0, c1 = c[rows, j - 1], c[rows, j]
    frac = np.where(c1 > c0, (target - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0)
    t = (j - 1 + frac) * dt
    return np.where(total > 0, t, np.nan)


def rms_width(waveforms: np.ndarray, dt: float) -> np.ndarray:
    """Area-weighted RMS of the sample times (sample centres) [units of ``dt``]."""
    w = np.asarray(waveforms, dtype=np.float64)
    t = (np.arange(w.shape[1]) + 0.5) * dt
    a = w.sum(axis=1)
    safe = np.where(a > 0, a, 1.0)
    mean = (w * t).sum(axis=1) / safe
    var = (w * (t[None, :] - mean[:, None]) ** 2).sum(axis=1) / safe
    return np.where(a > 0, np.sqrt(np.maximum(var, 0.0)), np.nan)


def prompt_fraction(waveforms: np.ndarray, dt_ns: float) -> np.ndarray:
    """Fraction of the area in the first ``PROMPT_WINDOW_NS`` after the pulse start."""
    w = np.asarray(waveforms, dtype=np.float64)
    above = w >= START_THRESHOLD_PHD
    start = np.argmax(above, axis=1)
    k = round(PROMPT_WINDOW_NS / dt_ns)
    c = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w, axis=1)], axis=1)
    rows = np.arange(w.shape[0])
    end = np.minimum(start + k, w.shape[1])
    prompt = c[rows, end] - c[rows, start]
    total = c[:, -1]
    ok = above.any(axis=1) & (total > 0)
    return np.where(ok, prompt / np.where(total > 0, total, 1.0), np.nan)


def _tba(top, bottom):
    top, bottom = np.asarray(top, float), np.asarray(bottom, float)
    s = top + bottom
    return np.where(s > 0, (top - bottom) / np.where(s > 0, s, 1.0), np.nan)


def s2_shape_features(s2: Pulses, cfg: PulseConfig) -> dict[str, np.ndarray]:
    """S2 area, widths, rise time and top-bottom asymmetry (also used for S2-only events)."""
    dt_us = cfg.s2_dt_ns * 1e-3
    q = {p: area_quantile_times(s2.waveforms, dt_us, p) for p in (0.1, 0.25, 0.5, 0.75, 0.9)}
    return {
        "s2": s2.waveforms.sum(axis=1, dtype=np.float64),
        "s2_tba": _tba(s2.top_area, s2.bottom_area),
        "s2_rms_us": rms_width(s2.waveforms, dt_us),
        "s2_t10_90_us": q[0.9] - q[0.1],
        "s2_t25_75_us": q[0.75] - q[0.25],
        "s2_rise_us": q[0.5] - q[0.1],
    }


def event_features(
    s1: Pulses, s2: Pulses, s2_centroid_us: np.ndarray, x_rec, y_rec, cfg: PulseConfig
) -> pd.DataFrame:
    """The feature table (columns :data:`FEATURE_NAMES`) of rendered events."""
    s1_area = s1.waveforms.sum(axis=1, dtype=np.float64)
    f = {"s1": s1_area}
    shape2 = s2_shape_features(s2, cfg)
    f["s2"] = shape2.pop("s2")
    f["s1_tba"] = _tba(s1.top_area, s1.bottom_area)
    f["s2_tba"] = shape2.pop("s2_tba")
    f["s1_prompt_fraction"] = prompt_fraction(s1.waveforms, cfg.s1_dt_ns)
    f["s1_rms_ns"] = rms_width(s1.waveforms, cfg.s1_dt_ns)
    f["s1_rise_ns"] = area_quantile_times(s1.waveforms, cfg.s1_dt_ns, 0.5) - area_quantile_times(
        s1.waveforms, cfg.s1_dt_ns, 0.1
    )
    f.update(shape2)
    drift = np.asarray(s2_centroid_us) - cfg.tau_trap_us - 0.5 * cfg.el_duration_us
    f["drift_time"] = drift
    f["x"], f["y"] = np.asarray(x_rec, float), np.asarray(y_rec, float)
    f["r"] = np.hypot(f["x"], f["y"])
    f["z"] = -cfg.drift_velocity_cm_us * drift
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            (s1_area > 0) & (f["s2"] > 0), f["s2"] / np.where(s1_area > 0, s1_area, 1), np.nan
        )
        f["log10_s2_s1"] = np.log10(ratio)
    return pd.DataFrame({k: f[k] for k in FEATURE_NAMES})
