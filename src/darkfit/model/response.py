"""Detector response: from produced photons/electrons and a position to S1 and S2.

The chain (DESIGN.md, "The heart"), for one event at radius r, depth z, drift time t:

* photons detected ``n_det ~ Binomial(Nph, g1 * m1(r, z))`` where g1 is the photon detection
  efficiency [phd/photon] and m1 the optional relative S1 light-collection map;
* photoelectrons ``n_pe = n_det + Binomial(n_det, p_dpe)`` (double-photoelectron emission,
  Faham et al., arXiv:1506.08748);
* ``S1_pe ~ Normal(n_pe, sqrt(n_pe) * sigma_pe)`` (single-PE area resolution) and S1 reported
  in phd, ``S1 = S1_pe / (1 + p_dpe)``, or in PE (``s1_units = "pe"``);
* electrons extracted ``n_ext ~ Binomial(Ne, eps_ext * exp(-t / tau_e))`` (electron lifetime
  tau_e, extraction efficiency eps_ext);
* ``S2 ~ Normal(n_ext * G_SE * m2(r), sqrt(n_ext) * sigma_SE)`` with the single-electron gain
  G_SE [phd/electron], its width sigma_SE and the optional relative S2 map m2.

With this convention g2 = eps_ext * G_SE [phd per electron at the liquid surface] and the means
are <S1> = g1 Nph, <S2> = g2 exp(-t/tau_e) Ne, as in NEST (Szydagis et al., arXiv:2211.10726).
An event passes the S1 coincidence requirement when ``n_det >= s1_coincidence``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from darkfit.detector import Detector


class PositionMap1D(NamedTuple):
    """Relative factor tabulated against radius [cm]; linear interpolation, flat outside."""

    r_cm: Array
    values: Array


class PositionMap2D(NamedTuple):
    """Relative factor tabulated on an (r [cm], z [cm]) grid; bilinear, flat outside."""

    r_cm: Array
    z_cm: Array
    values: Array  # shape (len(r_cm), len(z_cm))


class ResponseParams(NamedTuple):
    """Detector numbers used by the response kernels (a pytree of floats / arrays).

    Build from a :class:`~darkfit.detector.Detector` with :func:`response_params`. Any field
    can be a traced JAX value, so gradients flow to g1, electron lifetime, ...
    """

    g1: Array  # photon detection efficiency [phd / photon]
    double_pe_fraction: Array
    pe_resolution: Array  # single-PE area sigma [PE]
    s1_divisor: Array  # 1 + p_dpe when S1 is in phd, 1 when in PE
    extraction_efficiency: Array
    se_gain: Array  # [phd / extracted electron]
    se_width: Array  # [phd]
    electron_lifetime_us: Array
    s1_map: PositionMap2D | None = None
    s2_map: PositionMap1D | None = None


def response_params(detector: Detector) -> ResponseParams:
    """Collect the response numbers of a detector into a :class:`ResponseParams` pytree."""
    s1_map = None
    if detector.s1_map is not None:
        s1_map = PositionMap2D(
            jnp.asarray(detector.s1_map.r_cm, dtype=jnp.float64),
            jnp.asarray(detector.s1_map.z_cm, dtype=jnp.float64),
            jnp.asarray(detector.s1_map.values, dtype=jnp.float64),
        )
    s2_map = None
    if detector.s2_map is not None:
        s2_map = PositionMap1D(
            jnp.asarray(detector.s2_map.r_cm, dtype=jnp.float64),
            jnp.asarray(detector.s2_map.values, dtype=jnp.float64),
        )
    f = np.float64
    dpe = f(detector.double_pe_fraction)
    return ResponseParams(
        g1=f(detector.g1),
        double_pe_fraction=dpe,
        pe_resolution=f(detector.pe_resolution),
        s1_divisor=(1.0 + dpe) if detector.s1_units == "phd" else f(1.0),
        extraction_efficiency=f(detector.extraction_efficiency),
        se_gain=f(detector.se_gain),
        se_width=f(detector.se_width),
        electron_lifetime_us=f(detector.electron_lifetime_us),
        s1_map=s1_map,
        s2_map=s2_map,
    )


def _interp_2d(m: PositionMap2D, r: Array, z: Array) -> Array:
    """Bilinear interpolation of a position map, clamped to the grid edges."""
    r = jnp.clip(r, m.r_cm[0], m.r_cm[-1])
    z = jnp.clip(z, m.z_cm[0], m.z_cm[-1])
    i = jnp.clip(jnp.searchsorted(m.r_cm, r, side="right") - 1, 0, m.r_cm.size - 2)
    j = jnp.clip(jnp.searchsorted(m.z_cm, z, side="right") - 1, 0, m.z_cm.size - 2)
    tr = (r - m.r_cm[i]) / (m.r_cm[i + 1] - m.r_cm[i])
    tz = (z - m.z_cm[j]) / (m.z_cm[j + 1] - m.z_cm[j])
    v = m.values
    return (
        v[i, j] * (1 - tr) * (1 - tz)
        + v[i + 1, j] * tr * (1 - tz)
        + v[i, j + 1] * (1 - tr) * tz
        + v[i + 1, j + 1] * tr * tz
    )


def photon_detection_efficiency(p: ResponseParams, r_cm: Array, z_cm: Array) -> Array:
    """Probability that a produced scintillation photon is detected, g1 * m1(r, z)."""
    eff = p.g1 * jnp.ones_like(r_cm)
    if p.s1_map is not None:
        eff = eff * _interp_2d(p.s1_map, r_cm, z_cm)
    return jnp.clip(eff, 0.0, 1.0)


def electron_survival(p: ResponseParams, drift_time_us: Array) -> Array:
    """Probability that a produced electron is extracted: eps_ext * exp(-t / tau_e)."""
    return p.extraction_efficiency * jnp.exp(-drift_time_us / p.electron_lifetime_us)


def s2_gain(p: ResponseParams, r_cm: Array) -> Array:
    """Mean S2 area per extracted electron [phd], G_SE * m2(r)."""
    g = p.se_gain * jnp.ones_like(r_cm)
    if p.s2_map is not None:
        g = g * jnp.interp(r_cm, p.s2_map.r_cm, p.s2_map.values)
    return g


class Response(NamedTuple):
    """Detected quanta and observables of a batch of events (float arrays)."""

    n_photons_detected: Array
    n_photoelectrons: Array
    n_electrons_detected: Array
    s1: Array  # [phd] or [PE]
    s2: Array  # [phd]


@jax.jit
def _efficiencies_kernel(p: ResponseParams, r_cm, z_cm, drift_time_us):
    return (
        photon_detection_efficiency(p, r_cm, z_cm),
        electron_survival(p, drift_time_us),
        s2_gain(p, r_cm),
    )


def _efficiencies(p: ResponseParams, r_cm, z_cm, drift_time_us) -> tuple[np.ndarray, ...]:
    """Photon efficiency, electron survival and S2 gain per event, as NumPy arrays.

    Inputs are padded to a power-of-two length so varying event counts reuse compilations.
    """
    n = np.size(r_cm)
    size = max(1024, 1 << int(np.ceil(np.log2(max(n, 1)))))

    def pad(a):
        a = np.asarray(a, dtype=np.float64)
        return jnp.asarray(np.concatenate([a, np.zeros(size - n)]))

    out = _efficiencies_kernel(p, pad(r_cm), pad(z_cm), pad(drift_time_us))
    return tuple(np.asarray(a)[:n] for a in out)


def sample_response(
    rng: np.random.Generator,
    p: ResponseParams,
    n_photons: np.ndarray,
    n_electrons: np.ndarray,
    r_cm: np.ndarray,
    z_cm: np.ndarray,
    drift_time_us: np.ndarray,
) -> Response:
    """Draw the detector response for produced photons/electrons at given positions.

    Efficiencies come from the JAX functions above (shared with the likelihood); the draws
    use the NumPy generator ``rng``.
    """
    eff, surv, gain = _efficiencies(p, r_cm, z_cm, drift_time_us)
    n_det = rng.binomial(n_photons.astype(np.int64), eff)
    n_pe = n_det + rng.binomial(n_det, float(p.double_pe_fraction))
    s1_pe = n_pe + np.sqrt(n_pe) * float(p.pe_resolution) * rng.standard_normal(n_pe.shape)
    n_ext = rng.binomial(n_electrons.astype(np.int64), surv)
    s2 = n_ext * gain + np.sqrt(n_ext) * float(p.se_width) * rng.standard_normal(n_ext.shape)
    return Response(n_det, n_pe, n_ext, s1_pe / float(p.s1_divisor), s2)
