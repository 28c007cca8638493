"""Physical constants and unit conversions used across darkfit.

darkfit works in a small set of explicit units rather than a unit system:
energies in keV, masses in GeV/c^2, velocities in km/s, lengths in cm, times in
microseconds (detector) or years (exposure), cross-sections in cm^2, rates in
events / (tonne year keV).  Values are CODATA 2018 / PDG 2022 unless stated.
"""

from __future__ import annotations

#: Speed of light [km/s] (exact, SI definition).
C_KM_S = 299_792.458
#: Atomic mass unit [GeV/c^2] (CODATA 2018: 931.49410242 MeV).
AMU_GEV = 0.93149410242
#: Proton mass [GeV/c^2] (CODATA 2018: 938.27208816 MeV).
PROTON_MASS_GEV = 0.93827208816
#: hbar * c [GeV fm] (CODATA 2018: 197.3269804 MeV fm).
HBARC_GEV_FM = 0.1973269804
#: Seconds per Julian year (365.25 d), the year used for exposures.
SECONDS_PER_YEAR = 365.25 * 24 * 3600.0
#: Kilograms per tonne.
KG_PER_TONNE = 1000.0
#: Kilograms per GeV/c^2 (CODATA 2018: 1.78266192e-27 kg).
KG_PER_GEV = 1.78266192e-27

#: Xenon atomic number.
XENON_Z = 54
#: Mean atomic mass of natural xenon [u] (IUPAC 2013 standard atomic weight 131.293).
XENON_A = 131.293
