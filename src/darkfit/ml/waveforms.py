"""Summed S1 and S2 waveforms of simulated events (vectorised NumPy, seeded).

Built on the truth columns of :func:`darkfit.model.simulate.simulate`; every number comes from
:mod:`darkfit.ml.pulse_config` (NEST / LUX / LZ citations there).

S1: each detected photon gets an emission time (recombination delay, then singlet or triplet
decay, NEST ``PhotonTime``), an optical travel time (LZ empirical model) and an electronics
smear; the summed waveform is the histogram of these times in 10 ns samples, aligned so that
the first photon falls in sample ``s1_pre_samples`` after a random sampling phase. Photon
areas carry the double-PE and single-PE fluctuations and are scaled so that each waveform
sums exactly to the event's ``s1``.

S2: each extracted electron arrives at the surface after the drift time plus a Gaussian
diffusion delay sigma_t = sqrt(2 D_L t_d) / v_d and an exponential trapping delay; it then
emits light uniformly during the gas-gap transit T_EL. The waveform (100 ns samples) is
centred on the S2 centroid and sums exactly to the event's ``s2``.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd

from darkfit._errors import bad_value
from darkfit.ml import pulse_config as pc
from darkfit.ml.pulse_config import PulseConfig

_S1_COLUMNS = (
    "recoil_type",
    "n_photons_detected",
    "n_photons",
    "n_electrons",
    "energy_kev",
    "z",
    "s1",
)
_S2_COLUMNS = ("n_electrons_detected", "drift_time", "s2")


class Pulses(NamedTuple):
    """Waveforms [phd per sample], float32 (n_events, n_samples), and the area split."""

    waveforms: np.ndarray
    top_area: np.ndarray  # [phd]
    bottom_area: np.ndarray  # [phd]


def require_columns(events: pd.DataFrame, columns) -> None:
    """Raise a one-line error naming the first missing column of an events table."""
    for c in columns:
        if c not in events.columns:
            raise bad_value(
                "events column",
                c,
                f"a table with columns {list(columns)} (darkfit.model.simulate.simulate output)",
            )


@partial(jax.jit, static_argnames=("recoil_type",))
def _exciton_ratio(e_kev, recoil_type: str, field_v_cm, density):
    from darkfit.physics import yields

    fn = yields.er_mean_yields if recoil_type == "er" else yields.nr_mean_yields
    return fn(e_kev, field_v_cm, density).exciton_ratio


def exciton_fraction(events: pd.DataFrame, field_v_cm: float, density: float) -> np.ndarray:
    """Fraction of S1 photons from direct excitation (the rest come from recombination).

    N_ex = N_q x / (1 + x) with the NEST mean exciton-to-ion ratio x(E) of
    :mod:`darkfit.physics.yields` and the event's produced quanta N_q = N_ph + N_e.
    """
    e = np.asarray(events["energy_kev"], dtype=np.float64)
    is_er = np.asarray(events["recoil_type"] == "er")
    x = np.zeros_like(e)
    for kind, mask in (("er", is_er), ("nr", ~is_er)):
        n = int(mask.sum())
        if n:
            size = max(1024, 1 << int(np.ceil(np.log2(n))))  # few compilations
            padded = np.concatenate([e[mask], np.ones(size - n)])
            x[mask] = np.asarray(_exciton_ratio(padded, kind, field_v_cm, density))[:n]
    nq = np.asarray(events["n_photons"] + events["n_electrons"], dtype=np.float64)
    nph = np.asarray(events["n_photons"], dtype=np.float64)
    n_ex = nq * x / (1.0 + x)
    return np.clip(n_ex / np.maximum(nph, 1.0), 0.0, 1.0)


def optical_transit_ns(rng: np.random.Generator, height_cm: np.ndarray, cfg: PulseConfig):
    """Photon travel time to the PMTs [ns] for photons emitted at ``height_cm`` above the cathode.

    LZ empirical model (NEST ``LZ_WS2024.hh::OptTrans``, arXiv:2603.26877), with z the height in
    m: with probability A(z) = 0.113 - 0.19 z + 0.185 z^2 a direct path, uniform between
    Z_min / v and T_direct; otherwise T_direct plus a draw from
    B_a/tau_a exp(-t/tau_a) + B_b/tau_b exp(-t/tau_b) on [0, 250) ns; then a uniform
    U(0, z[cm] / 2) ns. v = 17.75 cm/ns; T_direct = sqrt(82.73^2 + Z_max^2) / v with
    Z_max = max(153.9 - 100 z, 14.8 + 100 z) cm. For other detectors, heights and times are
    scaled by drift_length / 145.6 cm (assumed).
    """
    scale = cfg.drift_length_cm / pc.LZ_OPTICS_DRIFT_LENGTH_CM
    z = np.clip(height_cm / scale, 0.0, pc.LZ_OPTICS_DRIFT_LENGTH_CM) / 100.0  # [m], LZ frame
    n = z.size
    v = 17.75
    zmax = np.maximum(153.9 - 100 * z, 14.8 + 100 * z)
    zmin = np.minimum(153.9 - 100 * z, 14.8 + 100 * z)
    t_direct = np.sqrt(82.73**2 + zmax**2) / v
    a = np.maximum(0.113 - 0.19 * z + 0.185 * z**2, 0.0)
    direct = rng.random(n) < a
    t_dir = zmin / v + (t_direct - zmin / v) * rng.random(n)
    # reflected: inverse CDF of the two-exponential pdf on [0, 250) ns, tabulated on a z grid
    zg = np.linspace(0.0, pc.LZ_OPTICS_DRIFT_LENGTH_CM / 100.0, 65)
    tg = np.arange(251.0)
    b_a = 0.983 + 0.137 * zg + 0.033 * zg**2
    tau_a = 47.304 + 3.26 * zg - 5.077 * zg**2 + 1.468 * zg**3
    tau_b = np.maximum(14.138 - 30.180 * zg + 52.954 * zg**2 - 19.330 * zg**3, 1e-3)
    # CDF of the pdf, analytically: B_a (1 - e^{-t/tau_a}) + B_b (1 - e^{-t/tau_b}), normalised
    cdf = b_a[:, None] * -np.expm1(-tg / tau_a[:, None]) + (1 - b_a)[:, None] * -np.expm1(
        -tg / tau_b[:, None]
    )
    cdf = np.maximum.accumulate(np.maximum(cdf, 0.0), axis=1)
    cdf /= cdf[:, -1:]
    row = np.clip(np.rint(z / zg[1]).astype(np.int64), 0, zg.size - 1)
    u = rng.random(n)
    flat = (cdf + 2.0 * np.arange(zg.size)[:, None]).ravel()  # rows kept apart in one sort
    j = np.clip(np.searchsorted(flat, u + 2.0 * row) - row * tg.size, 1, tg.size - 1)
    c0, c1 = cdf[row, j - 1], cdf[row, j]
    t_ref = tg[j - 1] + (u - c0) / np.maximum(c1 - c0, 1e-300)
    t = np.where(direct, t_dir, t_direct + t_ref)
    t = t + 0.5 * (100 * z) * rng.random(n)
    return t * scale


def emission_times_ns(
    rng: np.random.Generator,
    is_er: np.ndarray,
    exciton: np.ndarray,
    energy_kev: np.ndarray,
    field_v_cm: float,
) -> np.ndarray:
    """S1 photon emission times [ns] (NEST ``PhotonTime``), one per entry of the inputs.

    t = tau_R (1/u - 1) (recombination delay: ER recombination photons, NR exciton photons),
    then singlet with probability r / (1 + r) (r the singlet:triplet ratio), else triplet
    exponential decay. As in NEST, tau_1 ~ N(3.27, 0.66) and tau_3 ~ N(23.97, 0.17) (NR) or
    N(25.89, 0.06) (ER) are drawn per photon, kept positive.
    """
    n = is_er.size
    tau_r = np.where(
        is_er,
        np.where(exciton, 0.0, pc.tau_recombination_er_ns(field_v_cm, energy_kev)),
        np.where(exciton, pc.TAU_RECOMB_NR_NS, 0.0),
    )
    u = rng.random(n)
    t = tau_r * (1.0 / np.maximum(u, 1e-300) - 1.0)  # Kubota-like recombination tail
    ratio = np.where(is_er, pc.SINGLET_TRIPLET_RATIO["er"], pc.SINGLET_TRIPLET_RATIO["nr"])
    singlet = rng.random(n) < ratio / (1.0 + ratio)
    tau1 = np.abs(pc.TAU_SINGLET_NS + pc.TAU_SINGLET_ERR_NS * rng.standard_normal(n))
    tau3 = np.abs(
        np.where(is_er, pc.TAU_TRIPLET_NS["er"], pc.TAU_TRIPLET_NS["nr"])
        + np.where(is_er, pc.TAU_TRIPLET_ERR_NS["er"], pc.TAU_TRIPLET_ERR_NS["nr"])
        * rng.standard_normal(n)
    )
    return t + rng.exponential(1.0, n) * np.where(singlet, tau1, tau3)


def s1_photon_times(rng: np.random.Generator, events: pd.DataFrame, cfg: PulseConfig, density):
    """Per-photon event index and detection time [ns] for all detected S1 photons."""
    n_det = np.asarray(events["n_photons_detected"], dtype=np.int64)
    ev = np.repeat(np.arange(n_det.size), n_det)
    is_er = np.asarray(events["recoil_type"] == "er")[ev]
    f_ex = exciton_fraction(events, cfg.drift_field_v_cm, density)[ev]
    exciton = rng.random(ev.size) < f_ex
    e_kev = np.asarray(events["energy_kev"], dtype=np.float64)[ev]
    t = emission_times_ns(rng, is_er, exciton, e_kev, cfg.drift_field_v_cm)
    height = cfg.drift_length_cm + np.asarray(events["z"], dtype=np.float64)[ev]
    t += optical_transit_ns(rng, height, cfg)
    t += pc.ELECTRONICS_SIGMA_NS * rng.standard_normal(ev.size)
    return ev, t


def _normalise(area_per_item, ev, n_events, totals):
    """Scale item areas so that they sum to ``totals`` per event (0 for empty events)."""
    sums = np.bincount(ev, weights=area_per_item, minlength=n_events)
    factor = np.where(
        sums > 0, np.asarray(totals, dtype=np.float64) / np.where(sums > 0, sums, 1), 0.0
    )
    return area_per_item * factor[ev]


def s1_waveforms(
    rng: np.random.Generator, events: pd.DataFrame, cfg: PulseConfig, detector
) -> Pulses:
    """Summed S1 waveforms (n_events, cfg.s1_samples) [phd per 10 ns sample]."""
    require_columns(events, _S1_COLUMNS)
    n = len(events)
    ev, t = s1_photon_times(rng, events, cfg, detector.liquid_density_g_cm3)
    counts = np.bincount(ev, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    t_first = np.zeros(n)
    has = counts > 0
    if has.any():
        t_first[has] = np.minimum.reduceat(t, starts[has])
    phase = rng.random(n) * cfg.s1_dt_ns
    rel = t - t_first[ev] + phase[ev] + cfg.s1_pre_samples * cfg.s1_dt_ns
    sample = np.clip((rel // cfg.s1_dt_ns).astype(np.int64), 0, cfg.s1_samples - 1)
    dpe = 1.0 + (rng.random(ev.size) < detector.double_pe_fraction)
    area = dpe * np.maximum(1.0 + detector.pe_resolution * rng.standard_normal(ev.size), 0.0)
    area = _normalise(area, ev, n, events["s1"].to_numpy())
    top = rng.random(ev.size) < pc.S1_TOP_FRACTION
    wf = np.bincount(ev * cfg.s1_samples + sample, weights=area, minlength=n * cfg.s1_samples)
    top_area = np.bincount(ev, weights=area * top, minlength=n)
    total = np.bincount(ev, weights=area, minlength=n)
    return Pulses(wf.reshape(n, cfg.s1_samples).astype(np.float32), top_area, total - top_area)


def s2_waveforms_from_arrays(
    rng: np.random.Generator,
    n_electrons: np.ndarray,
    drift_time_us: np.ndarray,
    s2_area: np.ndarray,
    cfg: PulseConfig,
    se_relative_width: float,
    *,
    chunk_events: int = 8192,
) -> tuple[Pulses, np.ndarray]:
    """S2 waveforms (n_events, cfg.s2_samples) [phd per sample] and the measured centroid [us].

    The centroid is the area-weighted mean electron arrival time plus T_EL / 2; subtracting
    its expectation (tau_trap + T_EL / 2) gives the reconstructed drift time.
    """
    n_e = np.asarray(n_electrons, dtype=np.int64)
    t_d = np.asarray(drift_time_us, dtype=np.float64)
    s2_area = np.asarray(s2_area, dtype=np.float64)
    n = n_e.size
    fine = 10
    dt_fine = cfg.s2_dt_ns * 1e-3 / fine  # [us]
    n_fine = cfg.s2_samples * fine
    box = max(1, round(cfg.el_duration_us / dt_fine))
    wf = np.zeros((n, cfg.s2_samples), dtype=np.float32)
    centroid = np.zeros(n)
    top_area = np.zeros(n)
    for lo in range(0, n, chunk_events):
        hi = min(lo + chunk_events, n)
        m = hi - lo
        ev = np.repeat(np.arange(m), n_e[lo:hi])
        sigma = cfg.s2_sigma_us(t_d[lo:hi])
        delay = sigma[ev] * rng.standard_normal(ev.size) + rng.exponential(cfg.tau_trap_us, ev.size)
        w = np.maximum(1.0 + se_relative_width * rng.standard_normal(ev.size), 0.0)
        w = _normalise(w, ev, m, s2_area[lo:hi])
        wsum = np.bincount(ev, weights=w, minlength=m)
        mean_delay = np.bincount(ev, weights=w * delay, minlength=m) / np.where(wsum > 0, wsum, 1)
        centroid[lo:hi] = t_d[lo:hi] + mean_delay + 0.5 * cfg.el_duration_us
        # arrival in fine bins, with the light centroid at the window centre
        start = (delay - mean_delay[ev]) + 0.5 * (n_fine * dt_fine - cfg.el_duration_us)
        k = np.clip((start // dt_fine).astype(np.int64), 0, n_fine - box)
        h = np.bincount(ev * n_fine + k, weights=w, minlength=m * n_fine).reshape(m, n_fine)
        c = np.cumsum(h, axis=1)
        light = c.copy()
        light[:, box:] -= c[:, :-box]  # running sum over the EL duration (box of T_EL)
        light /= box
        wf[lo:hi] = light.reshape(m, cfg.s2_samples, fine).sum(axis=2)
        p_top = pc.S2_TOP_FRACTION
        n_phd = np.maximum(np.rint(s2_area[lo:hi]), 0).astype(np.int64)
        k_top = rng.binomial(n_phd, p_top)
        top_area[lo:hi] = np.where(
            n_phd > 0, s2_area[lo:hi] * k_top / np.maximum(n_phd, 1), p_top * s2_area[lo:hi]
        )
    # renormalise: the running sum ends inside the window, but guard rounding
    sums = wf.sum(axis=1, dtype=np.float64)
    scale = np.where(sums > 0, s2_area / np.where(sums > 0, sums, 1.0), 0.0)
    wf *= scale[:, None].astype(np.float32)
    return Pulses(wf, top_area, s2_area - top_area), centroid


def s2_waveforms(
    rng: np.random.Generator, events: pd.DataFrame, cfg: PulseConfig, detector
) -> tuple[Pulses, np.ndarray]:
    """S2 waveforms of an events table (see :func:`s2_waveforms_from_arrays`)."""
    require_columns(events, _S2_COLUMNS)
    rel = detector.se_width / detector.se_gain
    return s2_waveforms_from_arrays(
        rng,
        events["n_electrons_detected"].to_numpy(),
        events["drift_time"].to_numpy(),
        events["s2"].to_numpy(),
        cfg,
        rel,
    )
