"""Cited pulse-shape and transport numbers, and the per-detector :class:`PulseConfig`.

Every number of the toy waveform simulator lives here, with its source. Provenance tags as in
the team's method notes (``ml_methods.md``): values read in the NEST source at HEAD 6f889f9
(``NESTCollaboration/nest``; ``src/NEST.cpp`` and ``include/Detectors/LZ_WS2024.hh``) are
"[NEST]"; numbers that are this module's own assumptions say "assumed:" and why.

S1 (``NESTcalc::PhotonTime``; the NEST comments cite LUX, arXiv:1802.06162):
    singlet decay 3.27 ns for ER and NR; triplet 23.97 ns (NR), 25.89 ns (ER, NEST default
    ``tripERavg``); singlet:triplet *ratio* 0.269 (NR) and 0.042 (ER); recombination delay
    t = tau_R (1/u - 1), u ~ U(0, 1), with tau_R = exp(-0.009 F) (7.3138 + 3.8431 log10 E) ns
    for ER recombination photons (arXiv:1310.1117; E in keV capped at 1000) and 0.5 ns for NR
    exciton photons.
S1 optical transport: the LZ empirical photon-travel-time model of ``LZ_WS2024.hh::OptTrans``
    (following arXiv:2603.26877), see :func:`darkfit.ml.waveforms.optical_transit_ns`.
S1 electronics: a Gaussian of sigma 3.84 ns ("the overall width added to photon time spectra by
    the effects in the electronics and the data reduction pipeline", LZ_WS2024.hh).
S2: longitudinal diffusion D_L(F) = 57.381 F^-0.22221 + 127.27 exp(-F / 32.821) cm^2/s
    (``GetDiffLong_Liquid``, default model); electron trapping at the surface,
    exponential with tau_trap = 0.28326 + 5303 / F^2 us (F = drift field in V/cm); the
    electroluminescence light of one electron spread uniformly over the gas-gap transit time
    T_EL = gap / v_gas (``NESTcalc::GetS2``: photon origin uniform in the gap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from darkfit.detector import Detector

# ---- S1 emission (NEST PhotonTime; LUX arXiv:1802.06162) -------------------------------------
TAU_SINGLET_NS = 3.27
TAU_SINGLET_ERR_NS = 0.66
TAU_TRIPLET_NS = {"er": 25.89, "nr": 23.97}
TAU_TRIPLET_ERR_NS = {"er": 0.06, "nr": 0.17}
SINGLET_TRIPLET_RATIO = {"er": 0.042, "nr": 0.269}
#: NR exciton photons are delayed by tau_R = 0.5 ns (NEST PhotonTime).
TAU_RECOMB_NR_NS = 0.5


def tau_recombination_er_ns(field_v_cm: float, energy_kev):
    """ER recombination-light time constant [ns] (NEST PhotonTime, arXiv:1310.1117).

    tau_R = exp(-0.009 F) (7.3138 + 3.8431 log10 E), E [keV] capped at 1000 (NEST caps MIPs).
    """
    import numpy as np

    e = np.clip(np.asarray(energy_kev, dtype=np.float64), 1e-3, 1e3)
    return np.maximum(math.exp(-0.009 * field_v_cm) * (7.3138 + 3.8431 * np.log10(e)), 0.0)


# ---- S1 optical transport and electronics (NEST LZ_WS2024.hh) --------------------------------
#: Drift length of the LZ geometry the OptTrans fit was made for [cm] (gate at 1456 mm above
#: the cathode in LZ_WS2024.hh). Other detectors: heights and times scaled by their drift
#: length over this one (assumed: travel times scale with the TPC size).
LZ_OPTICS_DRIFT_LENGTH_CM = 145.6
#: Sigma of the electronics / processing time smear [ns] (LZ_WS2024.hh).
ELECTRONICS_SIGMA_NS = 3.84

# ---- light sharing (NEST LZ_WS2024.hh FitTBA) --------------------------------------------------
#: S1 bottom-to-total 0.60 -> top fraction 0.40; S2 bottom-to-total 0.356 -> top 0.644.
S1_TOP_FRACTION = 0.40
S2_TOP_FRACTION = 0.644

# ---- S2 timing ------------------------------------------------------------------------------
#: Gas gap between the liquid surface and the anode [cm]: anode 1469 mm - TopDrift 1461 mm in
#: LZ_WS2024.hh. Assumed for every detector (no other preset has one).
GAS_GAP_CM = 0.8
#: Electron drift velocity in the gas [cm/us]: NEST's ``GetDriftVelocity_MagBoltz`` (R3/R4
#: PyBoltz refit at HEAD 6f889f9) evaluated at LZ_WS2024's E_gas = 8.301 kV/cm, 1.86 bar,
#: 175.9 K (gas density 0.0172 g/cm^3 from nestpy 2.1.3 GetDensity; E/N = 10.5 Td) = 2.81
#: mm/us, computed for this module. T_EL = 0.8 cm / 0.281 cm/us = 2.85 us.
GAS_DRIFT_VELOCITY_CM_US = 0.281

# ---- position reconstruction (NEST LZ_WS2024.hh + NEST.cpp) ----------------------------------
#: sigma_R = sqrt(kappa^2 / A_top + flat^2) [cm] with the top S2 area A_top [phd]:
#: PosResBase = 120.6 mm, PosResFlat = 3.0 mm. (LUX, arXiv:1710.02752: 0.82 cm at 200 phd,
#: 0.17 cm at 4000 phd, consistent with the 1/sqrt(A) scaling.)
POS_RES_KAPPA_CM = 12.06
POS_RES_FLAT_CM = 0.30

# ---- top PMT array (ml_methods.md F.5, [K]: not re-checked) ----------------------------------
#: Top-array 3-inch PMT counts: LZ and XENONnT 253 of 494; DARWIN designs ~1800 PMTs over two
#: arrays (assumed: half on top); XENON1T 127 of 248 (from memory, unverified).
TOP_PMTS = {"lz": 253, "xenonnt": 253, "darwin": 900, "xenon1t": 127, "flamedisx": 127}
#: Assumed: distance of the electroluminescence region below the top photocathodes [cm] and
#: the fraction of top-array light spread uniformly (PTFE reflections). Not fitted to data;
#: they set how wide the hit pattern is (LRF of ml_methods.md F.4, small-disk solid angle).
LRF_HEIGHT_CM = 6.0
LRF_UNIFORM_FRACTION = 0.2


def diffusion_long_cm2_s(field_v_cm: float) -> float:
    """Longitudinal diffusion constant of electrons in LXe [cm^2/s] (NEST default model)."""
    f = float(field_v_cm)
    return 57.381 * f**-0.22221 + 127.27 * math.exp(-f / 32.821)


def tau_trap_us(field_v_cm: float) -> float:
    """Mean electron trapping time below the liquid surface [us] (NEST GetS2 waveform)."""
    return 0.28326 + 5303.0 / float(field_v_cm) ** 2


@dataclass(frozen=True)
class PulseConfig:
    """Per-detector numbers of the waveform and hit-pattern toy (times in ns or us as named).

    Build with :func:`pulse_config`. ``s1_samples`` x ``s1_dt_ns`` is the S1 window,
    ``s2_samples`` x ``s2_dt_ns`` the S2 window (centred on the S2 centroid).
    """

    detector: str
    drift_field_v_cm: float
    drift_velocity_cm_us: float
    drift_length_cm: float
    radius_cm: float
    diffusion_cm2_s: float
    tau_trap_us: float
    el_duration_us: float
    n_top_pmts: int
    image_size: int
    s1_dt_ns: float = 10.0
    s1_samples: int = 64
    s1_pre_samples: int = 2
    s2_dt_ns: float = 100.0
    s2_samples: int = 160

    @property
    def max_drift_time_us(self) -> float:
        return self.drift_length_cm / self.drift_velocity_cm_us

    def s2_sigma_us(self, drift_time_us):
        """Diffusion width of the electron cloud in time [us]: sqrt(2 D_L t) / v_d."""
        import numpy as np

        t = np.maximum(np.asarray(drift_time_us, dtype=np.float64), 0.0)
        return np.sqrt(2.0 * self.diffusion_cm2_s * 1e-6 * t) / self.drift_velocity_cm_us


def pulse_config(detector: Detector, *, s1_samples: int = 64) -> PulseConfig:
    """The :class:`PulseConfig` of a detector.

    The S2 window covers T_EL + 8 sigma_diff(max drift) + 10 tau_trap (rounded up to 16
    samples of 100 ns), so cathode events fit; the image has about one pixel per PMT pitch.
    """
    field = detector.drift_field_v_cm
    dl = diffusion_long_cm2_s(field)
    trap = tau_trap_us(field)
    t_el = GAS_GAP_CM / GAS_DRIFT_VELOCITY_CM_US
    t_max = detector.drift_length_cm / detector.drift_velocity_cm_us
    sigma_max = math.sqrt(2.0 * dl * 1e-6 * t_max) / detector.drift_velocity_cm_us
    window_us = t_el + 8.0 * sigma_max + 10.0 * trap
    s2_samples = 16 * math.ceil(window_us / 0.1 / 16)
    n_top = TOP_PMTS.get(detector.name, 253)
    pitch = hex_pitch_cm(detector.radius_cm, n_top)
    image = int(min(32, max(12, math.ceil(2 * detector.radius_cm / pitch))))
    return PulseConfig(
        detector=detector.name,
        drift_field_v_cm=field,
        drift_velocity_cm_us=detector.drift_velocity_cm_us,
        drift_length_cm=detector.drift_length_cm,
        radius_cm=detector.radius_cm,
        diffusion_cm2_s=dl,
        tau_trap_us=trap,
        el_duration_us=t_el,
        n_top_pmts=n_top,
        image_size=image,
        s1_samples=s1_samples,
        s2_samples=s2_samples,
    )


def hex_pitch_cm(radius_cm: float, n_pmts: int) -> float:
    """Pitch of a hexagonal grid that puts ``n_pmts`` PMTs in a disk of ``radius_cm``.

    A hexagonal cell has area (sqrt(3)/2) p^2, so p = sqrt(2 pi R^2 / (sqrt(3) n)).
    """
    return math.sqrt(2.0 * math.pi * radius_cm**2 / (math.sqrt(3.0) * n_pmts))
