"""Named physical backgrounds for a generic liquid-xenon TPC, with cited default rates.

``make_background("ar37", rate=50.0)`` returns a :class:`~darkfit.physics.spectra.Spectrum`
in events / (tonne year keV). Every factory accepts ``rate`` (integrated events /
(tonne year) over the support, replacing the default normalisation) and ``scale`` (a
multiplier). See ``docs/physics/backgrounds.md`` for the formulas, numbers and sources.

LZ numbers come from the LZ sensitivity paper, arXiv:1802.06039 (Phys. Rev. D 101,
052002): the exposure, 1000 live days x 5.6 t fiducial (= 15.33 t yr), is verified from
its abstract. The Table III counts used below (ER in 1.5-6.5 keVee, NR in 6-30 keVnr,
before discrimination / NR acceptance) are UNVERIFIED: from memory of that table, whose
text could not be read when this was checked; confirm them before relying on them.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from darkfit._errors import bad_value
from darkfit.physics.form_factor import helm_form_factor_sq
from darkfit.physics.spectra import (
    ExponentialSpectrum,
    FlatSpectrum,
    FunctionSpectrum,
    LineSpectrum,
    Spectrum,
)
from darkfit.physics.units import AMU_GEV, HBARC_GEV_FM, SECONDS_PER_YEAR, XENON_A

# ------------------------------------------------------------------ constants
#: Fermi constant [MeV^-2] (PDG 2022: 1.1663788e-5 GeV^-2).
G_F_MEV = 1.1663788e-11
#: Weak mixing angle sin^2(theta_W) at low momentum transfer (PDG 2022, MS-bar Q->0: 0.23867).
SIN2_THETA_W = 0.23867
#: Electron mass [MeV] (CODATA 2018).
M_E_MEV = 0.51099895
#: (hbar c)^2 [MeV^2 cm^2] from CODATA 2018 hbar c = 197.3269804 MeV fm.
HBARC2_MEV2_CM2 = (HBARC_GEV_FM * 1e3 * 1e-13) ** 2
#: Avogadro constant [1/mol] (exact, SI 2019).
AVOGADRO = 6.02214076e23
#: Xenon atoms per tonne (natural xenon, standard atomic weight 131.293, IUPAC 2013).
XE_ATOMS_PER_TONNE = 1e6 / XENON_A * AVOGADRO
#: Natural xenon: (mass number, atom fraction, atomic mass [u]). Fractions: IUPAC isotopic
#: compositions, Meija et al., Pure Appl. Chem. 88 (2016) 293; masses: AME2020
#: (Wang et al., Chin. Phys. C 45 (2021) 030003).
XE_ISOTOPES: tuple[tuple[int, float, float], ...] = (
    (124, 0.000952, 123.905892),
    (126, 0.000890, 125.904298),
    (128, 0.019102, 127.903531),
    (129, 0.264006, 128.904781),
    (130, 0.040710, 129.903509),
    (131, 0.212324, 130.905084),
    (132, 0.269086, 131.904155),
    (134, 0.104357, 133.905395),
    (136, 0.088573, 135.907214),
)
#: LZ 1802.06039 exposure: 1000 live days x 5.6 t [tonne year] (abstract; verified).
LZ_EXPOSURE_T_YR = 5.6 * 1000.0 / 365.25


# ------------------------------------------------------------------ neutrino spectra
def _tail_moments(enu: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Tail integrals M_k(x) = int_x^max phi(E) E^-k dE, k = 0, 1, 2, on the grid ``enu``."""
    out = []
    for k in range(3):
        f = phi * np.where(enu > 0, enu, np.inf) ** -k if k else phi
        seg = 0.5 * (f[1:] + f[:-1]) * np.diff(enu)
        out.append(np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]]))
    return np.array(out)


@functools.lru_cache(maxsize=1)
def b8_neutrino_spectrum() -> tuple[np.ndarray, np.ndarray]:
    """Approximate 8B solar-neutrino spectrum: (E_nu [MeV], normalised dN/dE [1/MeV]).

    The Winter et al. table (PRC 73 (2006) 025503) is not shipped. Approximation: the
    8Be final-state excitation E_x is distributed as a Breit-Wigner of the 2+ level
    (E_x = 3.03 MeV, Gamma = 1.513 MeV; Tilley et al., Nucl. Phys. A 745 (2004) 155),
    read as the observed alpha-spectrum shape, and each E_x contributes a unit-normalised
    allowed beta+ spectrum E_nu^2 p W F(Z=4, W) (non-relativistic Fermi function) with
    endpoint T0 = Q_EC - 2 m_e - E_x, Q_EC = 17.9799 MeV (AME2020 mass excesses: 8B
    22921.6 keV, 8Be 4941.7 keV). Recoil-order corrections are neglected. Result: mean
    energy 6.99 MeV vs 6.735 MeV of Bahcall et al., PRC 54 (1996) 411 (that reference value
    is unverified: from memory), i.e. ~4 % too hard (tested); pass your own table with
    ``make_background("b8_cevns", spectrum_csv=...)``.
    """
    alpha = 1.0 / 137.035999084  # CODATA 2018
    t0_gs = 17.9799 - 2.0 * M_E_MEV
    ex = np.linspace(0.0, t0_gs - 0.01, 3000)
    bw = 1.0 / ((ex - 3.03) ** 2 + (1.513 / 2.0) ** 2)
    enu = np.linspace(0.0, t0_gs, 4001)
    t0 = t0_gs - ex[:, None]
    w = np.maximum(t0 - enu[None, :] + M_E_MEV, M_E_MEV)  # positron total energy [MeV]
    p = np.sqrt(np.clip(w**2 - M_E_MEV**2, 1e-300, None))
    x = 2.0 * np.pi * 4.0 * alpha * w / p  # -2 pi eta for a positron, daughter Z = 4
    fermi = x * np.exp(-x) / -np.expm1(-x)  # = 2 pi eta / (1 - exp(-2 pi eta)), stable
    shape = np.where(enu[None, :] < t0, enu[None, :] ** 2 * p * w * fermi, 0.0)
    shape /= np.trapezoid(shape, enu, axis=1)[:, None]
    phi = np.trapezoid(bw[:, None] * shape, ex, axis=0)
    return enu, phi / np.trapezoid(phi, enu)


def cevns_spectrum_fn(
    enu_mev: np.ndarray, phi: np.ndarray, flux_cm2_s: float, form_factor: bool = True
) -> Callable:
    """dR/dE_R [events/(tonne year keV)] of coherent elastic nu-nucleus scattering in Xe.

    dsigma/dE_R = G_F^2 M Q_W^2 / (4 pi) (1 - M E_R / (2 E_nu^2)) F^2(E_R)  (Freedman,
    PRD 9 (1974) 1389; Akimov et al., Science 357 (2017) 1123, eq. 1), Q_W = N -
    (1 - 4 sin^2 theta_W) Z, summed over natural-xenon isotopes; ``phi`` is the normalised
    neutrino spectrum [1/MeV] on ``enu_mev`` and ``flux_cm2_s`` its total flux.
    The E_nu integral uses tail moments of ``phi`` above E_nu,min = sqrt(M E_R / 2).
    """
    mom = _tail_moments(enu_mev, phi)
    grid, m0, m2 = jnp.asarray(enu_mev), jnp.asarray(mom[0]), jnp.asarray(mom[2])
    iso = []
    for a, frac, mass_u in XE_ISOTOPES:
        m_mev = mass_u * AMU_GEV * 1e3
        qw = (a - 54) - (1.0 - 4.0 * SIN2_THETA_W) * 54
        # [events / (tonne year MeV)] prefactor: N_T * flux * G_F^2 M Q_W^2/(4 pi) * (hbar c)^2
        pref = XE_ATOMS_PER_TONNE * frac * flux_cm2_s * SECONDS_PER_YEAR
        pref *= G_F_MEV**2 * m_mev * qw**2 / (4.0 * math.pi) * HBARC2_MEV2_CM2
        iso.append((m_mev, pref, float(a)))

    def dr_de(e_kev):
        e = jnp.asarray(e_kev, dtype=jnp.float64)
        e_mev = e * 1e-3
        total = jnp.zeros_like(e)
        for m_mev, pref, a in iso:
            emin = jnp.sqrt(m_mev * e_mev / 2.0)
            tail = jnp.interp(emin, grid, m0, right=0.0)
            tail -= m_mev * e_mev / 2.0 * jnp.interp(emin, grid, m2, right=0.0)
            ff = helm_form_factor_sq(e, m_mev * 1e-3, a) if form_factor else 1.0
            total += pref * jnp.clip(tail, 0.0) * ff * 1e-3  # per MeV -> per keV
        return total

    return dr_de


# Solar nu-e scattering ---------------------------------------------------------------
#: B16-GS98 standard-solar-model fluxes [cm^-2 s^-1] (Vinyoles et al., ApJ 835 (2017) 202,
#: arXiv:1611.09867), the values recommended in Baxter et al., arXiv:2105.00599.
SOLAR_FLUX = {"pp": 5.98e10, "pep": 1.44e8, "be7": 4.93e9, "b8": 5.46e6}
#: pp neutrino endpoint [MeV] (Bahcall's tabulated pp spectrum, 840 steps of 5.0406e-4 MeV;
#: J. N. Bahcall, "Neutrino Astrophysics" (1989), ch. 6).
PP_ENDPOINT_MEV = 0.42341
#: 7Be lines [MeV] and branches (ENSDF 7Be EC: 89.56 % g.s., 10.44 % to 7Li* 477.6 keV).
BE7_LINES = ((0.8618, 0.8956), (0.3843, 0.1044))
#: pep line [MeV] (Bahcall 1989).
PEP_LINE_MEV = 1.442
#: Xenon shell binding energies [keV] and occupancies (X-ray Data Booklet, LBNL 2009,
#: Table 1-1), for the stepping approximation of Chen et al., PLB 774 (2017) 656,
#: arXiv:1610.04177: an electron contributes only if T > its binding energy.
XE_SHELLS = (
    (34.561, 2), (5.453, 2), (5.107, 2), (4.786, 4), (1.1487, 2), (1.0021, 2), (0.9406, 4),
    (0.689, 4), (0.6764, 6), (0.2132, 2), (0.1467, 2), (0.1455, 4), (0.0695, 4), (0.0675, 6),
    (0.0233, 2), (0.0134, 2), (0.0121, 4),
)  # fmt: skip


def pee_vacuum(sin2_12: float = 0.307, sin2_13: float = 0.0220) -> float:
    """Averaged vacuum nu_e survival probability cos^4 t13 (1 - sin^2 2t12 / 2) + sin^4 t13.

    Mixing angles: PDG 2022 (sin^2 t12 = 0.307, sin^2 t13 = 0.0220). Valid below ~1 MeV
    where MSW effects are small (Borexino, Nature 562 (2018) 505: P_ee(7Be) = 0.53 +- 0.05).
    """
    c13 = 1.0 - sin2_13
    return c13**2 * (1.0 - 2.0 * sin2_12 * (1.0 - sin2_12)) + sin2_13**2


def solar_er_fn(pee: float, fluxes: dict[str, float]) -> Callable:
    """dR/dT [events/(tonne year keV)] of pp + 7Be + pep neutrino-electron scattering in Xe.

    Tree-level dsigma/dT = (2 G_F^2 m_e / pi) [g_L^2 + g_R^2 (1 - T/E)^2 - g_L g_R m_e T/E^2]
    ('t Hooft, PLB 37 (1971) 195), g_R = sin^2 t_W, g_L = +-1/2 + sin^2 t_W (nu_e / nu_mu,tau)
    mixed with the survival probability ``pee``; atomic binding via the stepping
    approximation (:data:`XE_SHELLS`). E_nu,min = (T + sqrt(T^2 + 2 m_e T)) / 2.
    """
    gr = SIN2_THETA_W
    gl_e, gl_mu = 0.5 + gr, -0.5 + gr
    a = pee * gl_e**2 + (1 - pee) * gl_mu**2 + gr**2
    c = gr * (pee * gl_e + (1 - pee) * gl_mu)
    # events/(tonne year MeV) per unit (flux x electron count) for the bracket above
    pref = 2.0 * G_F_MEV**2 * M_E_MEV / math.pi * HBARC2_MEV2_CM2 * SECONDS_PER_YEAR
    pref *= XE_ATOMS_PER_TONNE
    enu = np.linspace(0.0, PP_ENDPOINT_MEV, 4001)
    w = PP_ENDPOINT_MEV - enu + M_E_MEV  # positron total energy; allowed shape E^2 p W
    pp = enu**2 * w * np.sqrt(np.clip(w**2 - M_E_MEV**2, 0.0, None))
    mom = jnp.asarray(_tail_moments(enu, pp / np.trapezoid(pp, enu)))
    grid = jnp.asarray(enu)
    lines = [(e, fluxes["be7"] * br) for e, br in BE7_LINES] + [(PEP_LINE_MEV, fluxes["pep"])]
    shells_b = jnp.asarray([b for b, _ in XE_SHELLS])
    shells_n = jnp.asarray([float(n) for _, n in XE_SHELLS])

    def dr_dt(t_kev):
        t_kev = jnp.asarray(t_kev, dtype=jnp.float64)
        t = t_kev * 1e-3
        emin = 0.5 * (t + jnp.sqrt(t**2 + 2.0 * M_E_MEV * t))

        def bracket(m0, m1, m2):
            return a * m0 - 2 * gr**2 * t * m1 + (gr**2 * t**2 - c * M_E_MEV * t) * m2

        mk = [jnp.interp(emin, grid, mom[k], right=0.0) for k in range(3)]
        total = fluxes["pp"] * bracket(*mk)
        for e_line, flux in lines:
            on = (emin < e_line).astype(jnp.float64)
            total += flux * on * bracket(1.0, 1.0 / e_line, 1.0 / e_line**2)
        z_eff = jnp.sum(shells_n * (t_kev[..., None] > shells_b), axis=-1)
        return pref * z_eff * jnp.clip(total, 0.0) * 1e-3

    return dr_dt


# ------------------------------------------------------------------ named backgrounds
def _finish(spec: Spectrum, name: str, rate: float | None, scale: float) -> Spectrum:
    """Apply the common ``rate`` (events/(tonne year) over the support) and ``scale``."""
    if rate is not None:
        r = float(rate)
        if not (math.isfinite(r) and r >= 0):
            raise bad_value(f"{name}.rate", rate, "a finite number >= 0 of events/(tonne year)")
        spec = spec.scaled(r / spec.total_rate())
    s = float(scale)
    if not (math.isfinite(s) and s >= 0):
        raise bad_value(f"{name}.scale", scale, "a finite number >= 0")
    return spec.scaled(s) if s != 1.0 else spec


def _window_rate(counts: float, lo: float = 6.0, hi: float = 30.0) -> tuple[float, float, float]:
    """(events/(tonne year), lo, hi) for LZ 1802.06039 Table III counts in a window.

    The 6-30 keVnr window is unverified: from memory of 1802.06039 Table III.
    """
    return counts / LZ_EXPOSURE_T_YR, lo, hi


def flat_er(
    rate_per_kev: float | None = None,
    e_min_kev: float = 0.0,
    e_max_kev: float = 100.0,
    rate: float | None = None,
    scale: float = 1.0,
) -> Spectrum:
    """Flat ER from beta decays of 214Pb (222Rn chain), 212Pb (220Rn) and 85Kr.

    Default: 222Rn 681 + 220Rn 111 + natKr 24.5 counts in 1.5-6.5 keVee (unverified:
    from memory of LZ 1802.06039 Table III) over 15.33 t yr (verified) -> 10.65
    events/(tonne year keV); flat below ~100 keV.
    """
    if rate_per_kev is None:
        rate_per_kev = (681.0 + 111.0 + 24.5) / (LZ_EXPOSURE_T_YR * 5.0)
    spec = FlatSpectrum(rate_per_kev, e_min_kev, e_max_kev, "er", "flat_er")
    return _finish(spec, "flat_er", rate, scale)


#: 37Ar electron-capture lines [keV] and capture fractions K / L / M. Verified: lines at
#: 2.82 and 0.27 keV (XENON1T, EPJC 83 (2023) 542, abstract; Boulton et al., JINST 12
#: (2017) P08004, arXiv:1705.08958, abstract: 2.8 and 0.27 keV). Unverified: from memory of
#: Boulton et al.: the 4-digit energies 2.8224 / 0.2702 keV, the M line 0.0175 keV and the
#: K / L / M fractions 0.902 / 0.089 / 0.009.
AR37_LINES = ((2.8224, 0.902), (0.2702, 0.089), (0.0175, 0.009))


def ar37(rate: float | None = None, scale: float = 1.0) -> Spectrum:
    """37Ar (T1/2 = 35.0 d) EC lines; exposure-dependent, so set ``rate`` for your run.

    T1/2: 35.01 d (arXiv:2509.04829, abstract; "35-day half-life" in XENON1T, EPJC 83
    (2023) 542, abstract).
    Default: LZ first science run, 60 live days x 5.5 t (PRL 131 (2023) 041002,
    arXiv:2207.03764, abstract; verified) with 52.5 fitted 37Ar events (unverified: from
    memory of its Table I) -> 58 events/(tonne year) in the K line; L and M lines by ratio.
    """
    k_rate = 52.5 / (5.5 * 60.0 / 365.25)
    total = k_rate / AR37_LINES[0][1]
    spec = LineSpectrum(
        tuple(e for e, _ in AR37_LINES), tuple(total * f for _, f in AR37_LINES), "er", "ar37"
    )
    return _finish(spec, "ar37", rate, scale)


#: 124Xe two-neutrino double-electron-capture energy deposits [keV] and capture fractions
#: (KK, KL, KM, LL). Unverified: from memory of XENON1T, Nature 568 (2019) 532,
#: arXiv:1904.11002 and PRC 106 (2022) 024328, arXiv:2205.04158 (Doi & Kotani fractions);
#: the papers' tables could not be read when this was checked. LZ, arXiv:2408.17391, uses
#: its own (newer) signal model for the KK fraction, not these numbers.
XE124_LINES = ((64.3, 0.767), (36.7, 0.186), (32.9, 0.037), (10.0, 0.010))


def xe124(
    half_life_yr: float = 1.09e22,
    abundance: float = 0.000952,
    rate: float | None = None,
    scale: float = 1.0,
) -> Spectrum:
    """124Xe 2nu-ECEC lines; rate = N(124Xe) ln2 / T1/2.

    Defaults: T1/2 = 1.09e22 yr (LZ, arXiv:2408.17391, abstract: (1.09 +- 0.14 stat
    +- 0.05 sys) x 1e22 yr; verified), natural abundance 0.0952 % (Meija et al. 2016)
    -> 277.7 decays/(tonne year).
    """
    t = float(half_life_yr)
    if not (math.isfinite(t) and t > 0):
        raise bad_value("xe124.half_life_yr", half_life_yr, "a finite number > 0 of years")
    f = float(abundance)
    if not (math.isfinite(f) and 0 <= f <= 1):
        raise bad_value("xe124.abundance", abundance, "an atom fraction in [0, 1]")
    total = XE_ATOMS_PER_TONNE * f * math.log(2.0) / t
    spec = LineSpectrum(
        tuple(e for e, _ in XE124_LINES), tuple(total * p for _, p in XE124_LINES), "er", "xe124"
    )
    return _finish(spec, "xe124", rate, scale)


def solar_nu_er(
    pee: float | None = None,
    pp_flux: float = SOLAR_FLUX["pp"],
    be7_flux: float = SOLAR_FLUX["be7"],
    pep_flux: float = SOLAR_FLUX["pep"],
    e_min_kev: float = 0.0,
    e_max_kev: float = 100.0,
    rate: float | None = None,
    scale: float = 1.0,
) -> Spectrum:
    """pp + 7Be + pep solar-neutrino elastic scattering on xenon electrons (ER).

    Computed with :func:`solar_er_fn` (stepping approximation; CNO neutrinos omitted,
    ~1 % of the low-energy rate); P_ee from :func:`pee_vacuum` unless ``pee`` is given.
    ~2.8 events/(tonne year keV) at 2-10 keV (cf. 191 counts in 1.5-6.5 keVee over
    15.33 t yr = 2.5; the 191 is unverified: from memory of LZ 1802.06039 Table III).
    """
    p = pee_vacuum() if pee is None else float(pee)
    if not (math.isfinite(p) and 0 <= p <= 1):
        raise bad_value("solar_nu_er.pee", pee, "a probability in [0, 1]")
    fluxes = {"pp": float(pp_flux), "be7": float(be7_flux), "pep": float(pep_flux)}
    for key, val in fluxes.items():
        if not (math.isfinite(val) and val >= 0):
            raise bad_value(f"solar_nu_er.{key}_flux", val, "a finite flux >= 0 [cm^-2 s^-1]")
    spec = FunctionSpectrum(
        solar_er_fn(p, fluxes), e_min_kev, e_max_kev, "er", "solar_nu_er",
        breakpoints=tuple(b for b, _ in XE_SHELLS),
    )  # fmt: skip
    return _finish(spec, "solar_nu_er", rate, scale)


def _read_nu_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    from darkfit.physics.spectra import TabulatedSpectrum

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise bad_value("spectrum_csv", path, f"a readable CSV ({type(err).__name__})") from None
    cols = ("energy_mev", "dn_de")
    if not all(c in df.columns for c in cols):
        raise bad_value(f"{path} columns", list(df.columns), "columns energy_mev,dn_de")
    vals = [pd.to_numeric(df[c], errors="coerce").to_numpy(float) for c in cols]
    for c, v in zip(cols, vals, strict=True):
        if np.isnan(v).any():
            i = int(np.flatnonzero(np.isnan(v))[0])
            raise bad_value(f"{path} {c}[{i}]", df[c].iloc[i], "a number")
    tab = TabulatedSpectrum(vals[0], vals[1], "nr", "nu")  # validates order and signs
    return tab.energies_kev, tab.rates / tab.total_rate()


def b8_cevns(
    flux: float = SOLAR_FLUX["b8"],
    e_min_kev: float = 0.0,
    e_max_kev: float | None = None,
    form_factor: bool = True,
    spectrum_csv: str | None = None,
    rate: float | None = None,
    scale: float = 1.0,
) -> Spectrum:
    """8B solar-neutrino CEvNS on natural xenon (NR), from :func:`cevns_spectrum_fn`.

    Flux 5.46e6 cm^-2 s^-1 (B16-GS98, recommended by Baxter et al. arXiv:2105.00599);
    spectrum :func:`b8_neutrino_spectrum` or a CSV (``energy_mev,dn_de``). The default
    upper edge is the kinematic endpoint 2 E_max^2 / M(124Xe).
    """
    fl = float(flux)
    if not (math.isfinite(fl) and fl >= 0):
        raise bad_value("b8_cevns.flux", flux, "a finite flux >= 0 [cm^-2 s^-1]")
    enu, phi = b8_neutrino_spectrum() if spectrum_csv is None else _read_nu_csv(spectrum_csv)
    if e_max_kev is None:
        m_min = XE_ISOTOPES[0][2] * AMU_GEV * 1e3
        e_max_kev = 2.0 * float(enu[phi > 0].max()) ** 2 / m_min * 1e3
    fn = cevns_spectrum_fn(np.asarray(enu), np.asarray(phi), fl, bool(form_factor))
    spec = FunctionSpectrum(fn, e_min_kev, e_max_kev, "nr", "b8_cevns")
    return _finish(spec, "b8_cevns", rate, scale)


def atm_nu_nr(
    e_min_kev: float = 0.0, e_max_kev: float = 100.0, rate: float | None = None, scale: float = 1.0
) -> Spectrum:
    """Atmospheric-neutrino CEvNS (NR): shape = Helm F^2(E) (Lewin & Smith 1996).

    For E_nu >> sqrt(M E / 2) the CEvNS recoil spectrum is flat times F^2; this neglects
    the kinematic suppression (overestimates the tail above ~30 keV). F^2 ~ exp(-E/16 keV)
    at low E. Normalisation: 0.46 counts in 6-30 keVnr / 15.33 t yr (unverified: from
    memory of LZ 1802.06039 Table III).
    """
    mass = XENON_A * AMU_GEV

    def shape(e):
        return helm_form_factor_sq(e, mass, XENON_A)

    r_win, lo, hi = _window_rate(0.46)
    unit = FunctionSpectrum(shape, e_min_kev, e_max_kev, "nr", "atm_nu_nr")
    win = float(FunctionSpectrum(shape, lo, hi, "nr").total_rate())
    return _finish(unit.scaled(r_win / win), "atm_nu_nr", rate, scale)


#: Neutron-xenon elastic kinematic factor 4 m M / (m + M)^2 (m_n = 1.00866491595 u,
#: CODATA 2018; M = 131.293 u): the maximum recoil fraction of the neutron energy.
NEUTRON_XE_KIN = 4 * 1.00866491595 * XENON_A / (1.00866491595 + XENON_A) ** 2


def neutrons(
    decay_kev: float | None = None,
    e_min_kev: float = 0.0,
    e_max_kev: float = 100.0,
    rate: float | None = None,
    scale: float = 1.0,
) -> Spectrum:
    """Radiogenic neutrons (single-scatter NR), exponential in recoil energy.

    Shape approximation: isotropic elastic scattering of a Maxwellian fission-like neutron
    spectrum (T = 1.42 MeV, the 252Cf standard, Mannhart 1987) gives dR/dE ~
    erfc(sqrt(E / (k T))), k = :data:`NEUTRON_XE_KIN`; modelled as exp(-E / (k T)) =
    exp(-E / 43 keV). Normalisation: detector-component NR 0.07 counts in 6-30 keVnr /
    15.33 t yr (unverified: from memory of LZ 1802.06039 Table III).
    """
    d = NEUTRON_XE_KIN * 1420.0 if decay_kev is None else float(decay_kev)
    if not (math.isfinite(d) and d > 0):
        raise bad_value("neutrons.decay_kev", decay_kev, "a finite number > 0 [keV]")
    r_win, lo, hi = _window_rate(0.07)
    # integral of exp(-E/d) over [a, b], up to the common factor d
    frac = (math.exp(-float(e_min_kev) / d) - math.exp(-float(e_max_kev) / d)) / (
        math.exp(-lo / d) - math.exp(-hi / d)
    )
    spec = ExponentialSpectrum(r_win * frac, d, e_min_kev, e_max_kev, "nr", "neutrons")
    return _finish(spec, "neutrons", rate, scale)


BACKGROUNDS: dict[str, Callable[..., Spectrum]] = {
    "flat_er": flat_er,
    "ar37": ar37,
    "xe124": xe124,
    "solar_nu_er": solar_nu_er,
    "b8_cevns": b8_cevns,
    "atm_nu_nr": atm_nu_nr,
    "neutrons": neutrons,
}
_STRING_OPTIONS = {"spectrum_csv"}
_BOOL_OPTIONS = {"form_factor"}


def _coerce(name: str, key: str, value):
    if key in _STRING_OPTIONS or value is None:
        return value
    if key in _BOOL_OPTIONS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "false", "0", "no"):
            return text in ("true", "1", "yes")
        raise bad_value(f"{name}.{key}", value, "true or false")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise bad_value(f"{name}.{key}", value, "a number") from None
    if not math.isfinite(x):
        raise bad_value(f"{name}.{key}", value, "a finite number")
    return x


def make_background(name: str, **overrides) -> Spectrum:
    """Build the named background with keyword overrides (numbers may be strings).

    >>> make_background("ar37", rate=10.0).total_rate()
    10.0
    """
    if name not in BACKGROUNDS:
        raise bad_value("background", name, f"one of {sorted(BACKGROUNDS)}")
    factory = BACKGROUNDS[name]
    allowed = list(inspect.signature(factory).parameters)
    for key in overrides:
        if key not in allowed:
            raise bad_value(f"{name} override", key, f"one of {allowed}")
    return factory(**{k: _coerce(name, k, v) for k, v in overrides.items()})
