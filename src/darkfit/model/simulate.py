"""Event simulation: sources -> energies -> quanta -> detector response -> events table.

The work is done by one jitted kernel per (quanta model, recoil type) that maps a padded chunk
of energies and positions to quanta and observables; :func:`simulate` is the friendly layer that
draws event counts and energies, splits work into fixed-size chunks (one compilation per kernel),
shows a progress bar and assembles a pandas DataFrame.

Columns of the events table (units):
    source, recoil_type, energy_kev [keV; keVnr for NR, keVee for ER],
    n_photons, n_electrons (produced), n_photons_detected, n_photoelectrons,
    n_electrons_detected (extracted), s1 [phd, or PE for s1_units="pe"], s2 [phd],
    x, y, z, r [cm] (z = 0 at the gate, negative downwards), drift_time [us],
    pass_s1_coincidence, pass_s1_roi, pass_s2_roi, in_roi (all three) [bool].
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax import Array

from darkfit._errors import bad_value
from darkfit.detector import Detector
from darkfit.model import quanta
from darkfit.model.response import ResponseParams, response_params, sample_response
from darkfit.model.sources import Source

#: Events per compiled chunk; the last chunk of a source is padded to this size.
CHUNK_SIZE = 1 << 18


class Positions(NamedTuple):
    """Event positions: cartesian and cylindrical [cm], drift time [us]."""

    x: Array
    y: Array
    z: Array
    r: Array
    drift_time: Array


def sample_positions(
    key: Array, n: int, r_max_cm: float, z_min_cm: float, z_max_cm: float, v_drift_cm_us: float
) -> Positions:
    """Uniform positions in a cylinder r < r_max, z_min < z < z_max; drift_time = -z / v_drift."""
    kr, kphi, kz = jax.random.split(key, 3)
    r = r_max_cm * jnp.sqrt(jax.random.uniform(kr, (n,), dtype=jnp.float64))
    phi = jax.random.uniform(kphi, (n,), dtype=jnp.float64, maxval=2 * jnp.pi)
    z = jax.random.uniform(kz, (n,), dtype=jnp.float64, minval=z_min_cm, maxval=z_max_cm)
    return Positions(r * jnp.cos(phi), r * jnp.sin(phi), z, r, -z / v_drift_cm_us)


@partial(jax.jit, static_argnames=("model", "recoil_type"))
def _chunk_kernel(
    key: Array,
    e_kev: Array,
    pos: Positions,
    rp: ResponseParams,
    field_v_cm: float,
    density_g_cm3: float,
    quanta_params,
    *,
    model: str,
    recoil_type: str,
):
    kq, kr = jax.random.split(key)
    if model == "nest":
        nph, nel = quanta.sample_nest_quanta(
            kq, e_kev, recoil_type, field_v_cm, density_g_cm3, quanta_params
        )
    else:
        nph, nel = quanta.sample_flamedisx_quanta(kq, e_kev, recoil_type, field_v_cm)
    resp = sample_response(kr, rp, nph, nel, pos.r, pos.z, pos.drift_time)
    return nph, nel, resp


def simulate_source(
    detector: Detector,
    source: Source,
    n_events: int,
    key: Array,
    *,
    chunk_size: int = CHUNK_SIZE,
    progress=None,
) -> pd.DataFrame:
    """Simulate exactly ``n_events`` events of one source in the detector's fiducial volume."""
    k_e, k_pos, k_chain = jax.random.split(key, 3)
    fv = detector.fiducial
    rp = response_params(detector)
    energies = np.asarray(source.spectrum.sample(k_e, n_events), dtype=np.float64)
    pos = sample_positions(
        k_pos, n_events, fv.r_max_cm, fv.z_min_cm, fv.z_max_cm, detector.drift_velocity_cm_us
    )
    out = {k: np.empty(n_events) for k in ("nph", "nel", "ndet", "npe", "next", "s1", "s2")}
    for start in range(0, n_events, chunk_size):
        stop = min(start + chunk_size, n_events)
        pad = chunk_size - (stop - start)
        e = np.pad(energies[start:stop], (0, pad), constant_values=energies[0] if n_events else 1)
        p = Positions(*(np.pad(np.asarray(a[start:stop]), (0, pad), mode="edge") for a in pos))
        nph, nel, resp = _chunk_kernel(
            jax.random.fold_in(k_chain, start // chunk_size),
            jnp.asarray(e),
            p,
            rp,
            detector.drift_field_v_cm,
            detector.liquid_density_g_cm3,
            source.quanta_params,
            model=detector.quanta_model,
            recoil_type=source.recoil_type,
        )
        n = stop - start
        for name, arr in zip(
            out,
            (nph, nel, *resp[:3], resp.s1, resp.s2),
            strict=True,
        ):
            out[name][start:stop] = np.asarray(arr)[:n]
        if progress is not None:
            progress(n)
    roi = detector.roi
    s1, s2 = out["s1"], out["s2"]
    pass_coinc = out["ndet"] >= detector.s1_coincidence
    pass_s1 = (s1 >= roi.s1_min) & (s1 <= roi.s1_max)
    pass_s2 = (s2 >= roi.s2_min) & (s2 <= roi.s2_max)
    return pd.DataFrame(
        {
            "source": pd.Categorical([source.name] * n_events),
            "recoil_type": pd.Categorical([source.recoil_type] * n_events),
            "energy_kev": energies,
            "n_photons": out["nph"].astype(np.int64),
            "n_electrons": out["nel"].astype(np.int64),
            "n_photons_detected": out["ndet"].astype(np.int64),
            "n_photoelectrons": out["npe"].astype(np.int64),
            "n_electrons_detected": out["next"].astype(np.int64),
            "s1": s1,
            "s2": s2,
            "x": np.asarray(pos.x),
            "y": np.asarray(pos.y),
            "z": np.asarray(pos.z),
            "r": np.asarray(pos.r),
            "drift_time": np.asarray(pos.drift_time),
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
    key = jax.random.key(seed)
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
            frames.append(
                simulate_source(
                    detector, src, int(n), jax.random.fold_in(key, i), progress=advance
                )
            )
    df = pd.concat(frames, ignore_index=True)
    df["source"] = pd.Categorical(df["source"].astype(str), categories=names)
    df["recoil_type"] = pd.Categorical(df["recoil_type"].astype(str), categories=["er", "nr"])
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
