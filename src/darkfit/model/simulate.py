"""Event simulation: sources -> energies -> quanta -> detector response -> events table.

Means, widths and efficiencies come from the same JAX functions the likelihood uses
(:mod:`.quanta`, :mod:`.response`); the random draws use NumPy's PCG64 generator, whose
binomial sampler is several times faster on the CPU than ``jax.random.binomial``
(benchmarks/bench_simulate.py). :func:`simulate` draws event counts, energies and positions,
works in chunks, shows a progress bar and assembles a pandas DataFrame.

Columns of the events table (units):
    source, recoil_type, energy_kev [keV; keVnr for NR, keVee for ER],
    n_photons, n_electrons (produced), n_photons_detected, n_photoelectrons,
    n_electrons_detected (extracted), s1 [phd, or PE for s1_units="pe"], s2 [phd],
    x, y, z, r [cm] (z = 0 at the gate, negative downwards), drift_time [us],
    pass_s1_coincidence, pass_s1_roi, pass_s2_roi, in_roi (all three) [bool].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd

from darkfit._errors import bad_value
from darkfit.detector import Detector
from darkfit.model import quanta
from darkfit.model.response import response_params, sample_response
from darkfit.model.sources import Source

#: Events per chunk (bounds the memory of intermediate arrays).
CHUNK_SIZE = 1 << 20


class Positions(NamedTuple):
    """Event positions: cartesian and cylindrical [cm], drift time [us]."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    r: np.ndarray
    drift_time: np.ndarray


def sample_positions(
    rng: np.random.Generator,
    n: int,
    r_max_cm: float,
    z_min_cm: float,
    z_max_cm: float,
    v_drift_cm_us: float,
) -> Positions:
    """Uniform positions in a cylinder r < r_max, z_min < z < z_max; drift_time = -z / v_drift."""
    r = r_max_cm * np.sqrt(rng.random(n))
    phi = rng.uniform(0.0, 2 * np.pi, n)
    z = rng.uniform(z_min_cm, z_max_cm, n)
    return Positions(r * np.cos(phi), r * np.sin(phi), z, r, -z / v_drift_cm_us)


def simulate_source(
    detector: Detector,
    source: Source,
    n_events: int,
    seed: Sequence[int],
    *,
    chunk_size: int = CHUNK_SIZE,
    progress=None,
) -> pd.DataFrame:
    """Simulate exactly ``n_events`` events of one source in the detector's fiducial volume.

    ``seed`` seeds both the JAX key of the energy sampler and the NumPy generator (PCG64) of
    the quanta and response draws, so equal seeds give equal tables.
    """
    rng = np.random.default_rng(list(seed))
    fv = detector.fiducial
    rp = response_params(detector)
    key = jax.random.key(int(rng.integers(2**31)))
    # draw a power-of-two count (fewer compilations of the sampler) and keep the first n
    n_draw = max(1024, 1 << int(np.ceil(np.log2(max(n_events, 1)))))
    energies = np.asarray(source.spectrum.sample(key, n_draw), dtype=np.float64)[:n_events]
    pos = sample_positions(
        rng, n_events, fv.r_max_cm, fv.z_min_cm, fv.z_max_cm, detector.drift_velocity_cm_us
    )
    out = {k: np.empty(n_events) for k in ("nph", "nel", "ndet", "npe", "next", "s1", "s2")}
    for start in range(0, n_events, chunk_size):
        sl = slice(start, min(start + chunk_size, n_events))
        if detector.quanta_model == "nest":
            nph, nel = quanta.sample_nest_quanta(
                rng,
                energies[sl],
                source.recoil_type,
                detector.drift_field_v_cm,
                detector.liquid_density_g_cm3,
                source.quanta_params,
            )
        else:
            nph, nel = quanta.sample_flamedisx_quanta(
                rng, energies[sl], source.recoil_type, detector.drift_field_v_cm
            )
        resp = sample_response(rng, rp, nph, nel, pos.r[sl], pos.z[sl], pos.drift_time[sl])
        for name, arr in zip(out, (nph, nel, *resp), strict=True):
            out[name][sl] = arr
        if progress is not None:
            progress(sl.stop - sl.start)
    roi = detector.roi
    s1, s2 = out["s1"], out["s2"]
    pass_coinc = out["ndet"] >= detector.s1_coincidence
    pass_s1 = (s1 >= roi.s1_min) & (s1 <= roi.s1_max)
    pass_s2 = (s2 >= roi.s2_min) & (s2 <= roi.s2_max)
    return pd.DataFrame(
        {
            "energy_kev": energies,
            "n_photons": out["nph"].astype(np.int64),
            "n_electrons": out["nel"].astype(np.int64),
            "n_photons_detected": out["ndet"].astype(np.int64),
            "n_photoelectrons": out["npe"].astype(np.int64),
            "n_electrons_detected": out["next"].astype(np.int64),
            "s1": s1,
            "s2": s2,
            "x": pos.x,
            "y": pos.y,
            "z": pos.z,
            "r": pos.r,
            "drift_time": pos.drift_time,
            "pass_s1_coincidence": pass_coinc,
            "pass_s1_roi": pass_s1,
            "pass_s2_roi": pass_s2,
            "in_roi": pass_coinc & pass_s1 & pass_s2,
        }
    )


def expected_counts(sources: Sequence[Source], exposure_tonne_year: float) -> dict[str, float]:
    """Expected number of interactions per source in the fiducial volume (before any cut)."""
    return {s.name: float(s.spectrum.total_rate()) * exposure_tonne_year for s in sources}


def simulate(
    detector: Detector,
    sources: Sequence[Source],
    exposure_tonne_year: float | None = None,
    *,
    seed: int = 0,
    n_events: int | Sequence[int] | None = None,
    show_progress: bool = False,
) -> pd.DataFrame:
    """Simulate events from several sources in a detector.

    Args:
        detector: detector description (see :mod:`darkfit.detector`).
        sources: sources to simulate (see :func:`darkfit.model.sources.parse_source`).
        exposure_tonne_year: fiducial exposure [tonne year]; each source then contributes a
            Poisson number of events with mean ``total_rate * exposure``.
        seed: random seed; the same seed gives the same table.
        n_events: instead of an exposure, an exact number of events per source (one int for
            all sources or one per source).
        show_progress: draw a rich progress bar.

    Returns:
        The events table (all interactions, with ``in_roi`` and the individual cut flags; no
        event is dropped).
    """
    if not sources:
        raise bad_value("sources", [], "at least one source")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise bad_value("sources", names, "distinct source names")
    if n_events is None:
        if exposure_tonne_year is None or not np.isfinite(exposure_tonne_year):
            raise bad_value("exposure", exposure_tonne_year, "a positive number of tonne-years")
        if exposure_tonne_year <= 0:
            raise bad_value("exposure", exposure_tonne_year, "a positive number of tonne-years")
        mus = expected_counts(sources, exposure_tonne_year)
        counts = np.random.default_rng(seed).poisson([mus[n] for n in names])
    else:
        counts = np.broadcast_to(np.asarray(n_events), (len(sources),))
        if np.any(counts < 0):
            raise bad_value("n_events", n_events, "non-negative integers")
    total = int(np.sum(counts))
    frames = []
    progress_cm = _progress(total, show_progress)
    with progress_cm as advance:
        for i, (src, n) in enumerate(zip(sources, counts, strict=True)):
            frames.append(simulate_source(detector, src, int(n), (seed, i), progress=advance))
    counts_done = [len(f) for f in frames]
    codes = np.repeat(np.arange(len(names)), counts_done)
    recoil = np.repeat([("er", "nr").index(s.recoil_type) for s in sources], counts_done)
    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "source", pd.Categorical.from_codes(codes, categories=names))
    df.insert(1, "recoil_type", pd.Categorical.from_codes(recoil, categories=["er", "nr"]))
    return df


class _progress:
    """Context manager yielding an ``advance(n)`` callback (a rich bar or a no-op)."""

    def __init__(self, total: int, show: bool):
        self.total, self.show = total, show

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        task = self._bar.add_task("simulating events", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self.show:
            self._bar.stop()
        return False
