"""Event pools: simulate each source once, evaluate every event's density once, draw toys.

Toy Monte Carlo with an exact unbinned likelihood is dominated by the per-event density
evaluation. A pool removes it from the toy loop:

1. for every source k, simulate a large set of events in the detector (keep those in the ROI);
2. evaluate, once, the normalised density of every pool event under every source j,

       p_j(x) = f_j(s1, s2 | position) / (V * P_ROI,j)      [1 / (phd^2 cm^3)],

   with f_j the density in (s1, s2) given the position
   (:meth:`darkfit.model.rate_model.SourceRateModel.log_density`), V the fiducial volume and
   P_ROI,j the exact ROI fraction, so that int_ROI int_FV p_j = 1 and the extended likelihood
   is ln L(m) = -sum_j m_j mu_j + sum_i ln sum_j m_j mu_j p_j(x_i) with mu_j the exact expected
   count (:meth:`~darkfit.model.rate_model.SourceRateModel.expected_events`): exactly the
   rates R_j = mu_j p_j of :class:`darkfit.likelihood.unbinned.UnbinnedLikelihood`;
3. a toy dataset draws n_k ~ Poisson(mu_k) events of each source k from its pool, without
   replacement, and keeps their precomputed rows of ln p (:meth:`EventPool.draw`).

Finite-pool approximation: each toy is, on its own, an exact sample of the model (a random
subset of an i.i.d. sample is an i.i.d. sample), but toys share events, so toy-to-toy
fluctuations are correlated and quantiles estimated from many toys carry an extra variance
of relative order n_k / P_k (toy count over pool size) on top of the usual 1/sqrt(n_toys).
Keep pools much larger than the toy counts (``EventPool.draw`` refuses toys that need more
events than a pool has, and :meth:`EventPool.pool_ratio` reports n_k / P_k). Pools depend on
no exposure or rate: mu scales with the exposure, and a WIMP pool is simulated at the
reference cross-section :data:`SIGMA_REF_CM2` (mu is linear in sigma, the shape is not
affected).

Pools are cached on disk (:func:`build_pool` ``cache_dir``) keyed by (detector, source spec,
pool size, seed): one Parquet file per simulated source holding the events and one
``logp[<spec>]`` column per density evaluated on them, so adding a WIMP mass only evaluates
the new columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from darkfit._errors import DarkfitInputError, bad_value
from darkfit.detector import Detector

#: Reference WIMP-nucleon cross-section [cm^2] at which WIMP pools and mu are computed.
SIGMA_REF_CM2 = 1e-45
#: Observables kept for every pool event (units: phd, phd, cm, cm, us).
POOL_COLUMNS = ("s1", "s2", "r", "z", "drift_time")
#: Events per density-evaluation call (one compilation per window-size group).
DENSITY_CHUNK = 1024
#: A source whose interactions in the fiducial volume pass the ROI with a probability below
#: this has no events above threshold: "no sensitivity" (not an infinite limit).
MIN_ROI_FRACTION = 1e-9


# ---------------------------------------------------------------------- source specs
def canonical_spec(spec: str) -> str:
    """Spec without spaces; a WIMP spec keeps only its mass (and energy window)."""
    from darkfit.model.sources import parse_source

    text = "".join(spec.split())
    name, _, rest = text.partition(":")
    if name == "wimp":
        opts = dict(kv.split("=", 1) for kv in filter(None, rest.split(",")) if "=" in kv)
        if "mass" not in opts:
            raise bad_value("wimp spec", spec, "wimp:mass=<GeV>, e.g. wimp:mass=40")
        opts.pop("sigma", None)
        keep = ",".join(f"{k}={float(opts[k]):g}" for k in ("mass", "e_min", "e_max") if k in opts)
        text = f"wimp:{keep}"
    parse_source(_with_ref_sigma(text))  # validate
    return text


def _with_ref_sigma(spec: str) -> str:
    return spec + f",sigma={SIGMA_REF_CM2:g}" if spec.startswith("wimp:") else spec


def default_label(spec: str) -> str:
    """Parameter-friendly label: ``wimp:mass=40`` -> ``wimp_40gev``, ``flat_er`` -> itself."""
    name, _, rest = canonical_spec(spec).partition(":")
    if name == "wimp":
        mass = rest.split(",")[0].split("=")[1]
        return f"wimp_{mass.replace('.', 'p')}gev"
    return name


def make_source(spec: str, label: str | None = None):
    """The :class:`~darkfit.model.sources.Source` of a spec (WIMPs at SIGMA_REF_CM2)."""
    from darkfit.model.sources import parse_source

    src = parse_source(_with_ref_sigma(canonical_spec(spec)))
    return replace(src, name=label or default_label(spec))


def _hash(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def detector_fingerprint(detector: Detector) -> str:
    """Hash of the full detector configuration (any change invalidates cached pools)."""
    return _hash(detector.model_dump(mode="json"))


# ---------------------------------------------------------------------- the pool object
class Toys(NamedTuple):
    """A batch of toy datasets drawn from a pool.

    log_p: (n_toys, n_max, n_sources) ln p_j of each toy event (0 where masked);
    mask: (n_toys, n_max) True for real events; counts: (n_toys, n_sources) events drawn per
    source; index: (n_toys, n_max) pool row of each event (-1 where masked).
    """

    log_p: np.ndarray
    mask: np.ndarray
    counts: np.ndarray
    index: np.ndarray


def padded_length(n: int, minimum: int = 8) -> int:
    """Smallest of 2^k, 1.5 * 2^k >= n (few distinct shapes -> few JAX compilations)."""
    m = max(minimum, 1 << int(np.ceil(np.log2(max(n, 1)))))
    return 3 * m // 4 if m >= 16 and 3 * m // 4 >= n else m


@dataclass(frozen=True, eq=False)
class EventPool:
    """Pooled events of several sources with their normalised log densities.

    Attributes:
        labels: source labels (rate multipliers are ``<label>_rate``).
        specs: canonical source specs, same order.
        origin: (n_events,) index of the source each pool event was simulated from.
        log_p: (n_events, n_sources) ln p_j(x_i) [ln 1/(phd^2 cm^3)], normalised over ROI x FV.
        mu_per_tyr: (n_sources,) expected ROI events per tonne-year at nominal rate
            (WIMPs at :data:`SIGMA_REF_CM2`).
        meta: provenance (detector, pool sizes, seeds, cache keys).
    """

    labels: tuple[str, ...]
    specs: tuple[str, ...]
    origin: np.ndarray
    log_p: np.ndarray
    mu_per_tyr: np.ndarray
    meta: dict

    def __post_init__(self):
        n_src = len(self.labels)
        if self.log_p.shape != (len(self.origin), n_src) or self.mu_per_tyr.shape != (n_src,):
            raise bad_value("pool shapes", (self.log_p.shape, self.mu_per_tyr.shape), "consistent")
        # ln p = -inf is allowed (an event outside a source's support, e.g. an ER event far
        # above the 8B CEvNS endpoint); NaN, +inf and -inf under the event's own source are not
        own = self.log_p[np.arange(len(self.origin)), self.origin] if len(self.origin) else []
        bad = np.isnan(self.log_p) | (self.log_p == np.inf)
        bad[np.arange(len(self.origin)), self.origin] |= ~np.isfinite(own)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DarkfitInputError(
                f"pool event {i} (from {self.labels[self.origin[i]]}) has ln p[{self.labels[j]}]"
                f" = {self.log_p[i, j]}: expected a finite log density under its own source and"
                " no NaN/+inf"
            )

    @property
    def n_per_source(self) -> np.ndarray:
        return np.bincount(self.origin, minlength=len(self.labels))

    def expected_events(self, exposure_tonne_year: float) -> np.ndarray:
        """mu_j at nominal rates for this exposure [events]."""
        return self.mu_per_tyr * float(exposure_tonne_year)

    def subset(self, labels: Sequence[str]) -> EventPool:
        """Pool of these sources only: their events, their density columns."""
        idx = [self._index(lab) for lab in labels]
        keep = np.isin(self.origin, idx)
        remap = np.full(len(self.labels), -1)
        remap[idx] = np.arange(len(idx))
        return EventPool(
            tuple(labels),
            tuple(self.specs[i] for i in idx),
            remap[self.origin[keep]],
            self.log_p[keep][:, idx],
            self.mu_per_tyr[idx],
            dict(self.meta),
        )

    def _index(self, label: str) -> int:
        if label not in self.labels:
            raise bad_value("source", label, f"one of {list(self.labels)}")
        return self.labels.index(label)

    def pool_ratio(self, mu: np.ndarray) -> np.ndarray:
        """Mean toy count over pool size per source (keep << 1, see module docstring)."""
        return np.asarray(mu, float) / np.maximum(self.n_per_source, 1)

    def draw(
        self, rng: np.random.Generator, mu: Sequence[float], n_toys: int, n_max: int | None = None
    ) -> Toys:
        """Draw ``n_toys`` datasets with n_j ~ Poisson(mu_j) events of each source j.

        Events are drawn without replacement from the pool of their source. ``n_max`` fixes
        the padded length (default :func:`padded_length` of the largest toy).
        """
        mu = np.asarray(mu, dtype=float)
        if mu.shape != (len(self.labels),) or not np.all(np.isfinite(mu) & (mu >= 0)):
            raise bad_value("toy means", mu.tolist(), f"{len(self.labels)} finite numbers >= 0")
        counts = rng.poisson(mu, size=(n_toys, len(mu)))
        have = self.n_per_source
        short = np.flatnonzero(counts.max(axis=0, initial=0) > have)
        if short.size:
            j = int(short[0])
            raise DarkfitInputError(
                f"pool of {self.labels[j]} has {have[j]} events but a toy needs "
                f"{counts[:, j].max()} (mean {mu[j]:.4g}): build a larger pool (>> the toy counts)"
            )
        rows = [np.flatnonzero(self.origin == j) for j in range(len(mu))]
        total = counts.sum(axis=1)
        n_pad = padded_length(int(total.max(initial=0))) if n_max is None else n_max
        if total.max(initial=0) > n_pad:
            raise bad_value("n_max", n_max, f">= the largest toy ({total.max()} events)")
        index = np.full((n_toys, n_pad), -1, dtype=np.int64)
        for t in range(n_toys):
            picks = [
                rows[j][rng.choice(len(rows[j]), counts[t, j], replace=False)]
                for j in range(len(mu))
                if counts[t, j]
            ]
            if picks:
                sel = np.concatenate(picks)
                index[t, : sel.size] = sel
        mask = index >= 0
        log_p = np.where(mask[..., None], self.log_p[np.maximum(index, 0)], 0.0)
        return Toys(log_p, mask, counts, index)


def merge_pools(pools: Sequence[EventPool]) -> EventPool:
    """Concatenate pools with the same density columns."""
    first = pools[0]
    for p in pools[1:]:
        if p.labels != first.labels:
            raise bad_value("pool labels", p.labels, f"the same as {first.labels}")
    return EventPool(
        first.labels,
        first.specs,
        np.concatenate([p.origin for p in pools]),
        np.concatenate([p.log_p for p in pools]),
        first.mu_per_tyr,
        dict(first.meta),
    )


def synthetic_pool(
    mu_per_tyr: Mapping[str, float], log_p: np.ndarray, origin: np.ndarray
) -> EventPool:
    """A pool from given arrays (tests, or densities computed elsewhere)."""
    labels = tuple(mu_per_tyr)
    return EventPool(
        labels,
        labels,
        np.asarray(origin, dtype=np.int64),
        np.asarray(log_p, dtype=float),
        np.array([float(mu_per_tyr[k]) for k in labels]),
        {"synthetic": True},
    )


# ---------------------------------------------------------------------- building pools
class SourceAcceptance(NamedTuple):
    """Interaction rate in the fiducial volume [events / (tonne year)] and ROI fraction."""

    total_rate: float
    roi_fraction: float

    @property
    def mu_per_tyr(self) -> float:
        return self.total_rate * self.roi_fraction

    @property
    def detectable(self) -> bool:
        """False when the source has (essentially) no events above threshold."""
        return self.total_rate > 0 and self.roi_fraction >= MIN_ROI_FRACTION


def source_acceptance(
    detector: Detector, spec: str, cache_dir: str | Path | None = None
) -> SourceAcceptance:
    """Exact rate and ROI fraction of a source (cached as JSON in ``cache_dir``)."""
    import jax

    from darkfit.model.rate_model import SourceRateModel

    spec = canonical_spec(spec)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"acc_{_hash(detector_fingerprint(detector), spec)}.json"
        if path.exists():
            return SourceAcceptance(**json.loads(path.read_text()))
    src = make_source(spec)
    total = float(src.spectrum.total_rate())
    frac = 0.0
    if total > 0:
        model = SourceRateModel(detector, src)
        frac = float(jax.jit(model.roi_fraction)({}))
        if not np.isfinite(frac):
            raise bad_value(f"ROI fraction of {spec}", frac, "a finite probability")
    acc = SourceAcceptance(total, max(frac, 0.0))
    if path is not None:
        _atomic_write(path, json.dumps(acc._asdict(), sort_keys=True).encode())
    return acc


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def simulate_pool_events(
    detector: Detector, spec: str, size: int, seed: int, roi_fraction: float
) -> pd.DataFrame:
    """``size`` in-ROI events of one source (the first ``size`` of an i.i.d. simulation)."""
    from darkfit.model.simulate import simulate_source

    spec = canonical_spec(spec)
    src = make_source(spec)
    spec_key = int(_hash(spec)[:8], 16)
    frames, have = [], 0
    for attempt in range(50):
        need = size - have
        n_sim = int(min(5e7, np.ceil(1.3 * need / max(roi_fraction, 1e-12)) + 256))
        df = simulate_source(detector, src, n_sim, (seed, spec_key, attempt))
        df = df.loc[df["in_roi"].to_numpy(), list(POOL_COLUMNS)]
        frames.append(df)
        have += len(df)
        if have >= size:
            break
    else:
        raise DarkfitInputError(
            f"source {spec}: only {have} of {size} pool events passed the ROI after 50 "
            "simulation rounds (ROI fraction too small for a pool)"
        )
    return pd.concat(frames, ignore_index=True).iloc[:size].reset_index(drop=True)


def _density_column(
    model, events: pd.DataFrame, log_norm: float, advance, n_buckets: int, theta=None, plan=None
):
    """ln p of every event under one source: ln f - ln V - ln P_ROI, in fixed-size chunks
    (at ``theta``, default the model's defaults; ``plan`` reuses window sizes)."""
    theta = {} if theta is None else theta
    n = len(events)
    out = np.empty(n)
    plan = model.plan({}, events, n_buckets) if plan is None else plan
    for idx, sizes in plan.groups:
        step = min(DENSITY_CHUNK, len(idx))
        for start in range(0, len(idx), step):
            sel = idx[start : start + step]
            padded = np.concatenate([sel, np.full(step - len(sel), sel[0])])
            vals = np.asarray(model.log_density(theta, events.iloc[padded], sizes))
            out[sel] = vals[: len(sel)]
            advance(len(sel))
    return out - log_norm


def fiducial_volume_cm3(detector: Detector) -> float:
    """Volume of the fiducial cylinder [cm^3]."""
    fv = detector.fiducial
    return float(np.pi * fv.r_max_cm**2 * (fv.z_max_cm - fv.z_min_cm))


def build_pool(
    detector: Detector,
    sources: Sequence[str] | Mapping[str, str],
    size: int | Mapping[str, int],
    *,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
    n_buckets: int = 4,
) -> EventPool:
    """Simulate (or load) a pool per source and evaluate every density on every pool event.

    Args:
        detector: the detector.
        sources: source specs (``flat_er``, ``wimp:mass=40`` ...) or {label: spec}.
        size: in-ROI events per source (one int, or {label: int}); keep >> toy counts.
        seed: pool seed (each source's simulation is seeded by (seed, hash of its spec)).
        cache_dir: directory for cached pools (Parquet) and acceptances (JSON).
        show_progress: rich progress bar over the density evaluations.
        n_buckets: window-size groups per density evaluation (see ``SourceRateModel.plan``).

    Raises:
        DarkfitInputError: a source without events above threshold (check
            :func:`source_acceptance` first; the sensitivity layer reports "no sensitivity").
    """
    from darkfit.model.rate_model import SourceRateModel

    if not isinstance(sources, Mapping):
        sources = {default_label(s): s for s in sources}
    labels = tuple(sources)
    specs = tuple(canonical_spec(sources[k]) for k in labels)
    if len(set(specs)) != len(specs):
        raise bad_value("sources", list(specs), "distinct source specs")
    sizes = {k: int(size[k] if isinstance(size, Mapping) else size) for k in labels}
    if any(v < 1 for v in sizes.values()):
        raise bad_value("pool size", sizes, "at least 1 event per source")
    fp = detector_fingerprint(detector)
    acc = {k: source_acceptance(detector, s, cache_dir) for k, s in zip(labels, specs, strict=True)}
    for k, a in acc.items():
        if not a.detectable:
            raise DarkfitInputError(
                f"source {sources[k]} has no events above threshold (ROI fraction "
                f"{a.roi_fraction:.3g}): no sensitivity"
            )
    tables, keys = {}, {}
    for k, s in zip(labels, specs, strict=True):
        keys[k] = _hash(fp, s, sizes[k], seed)
        path = Path(cache_dir) / f"pool_{keys[k]}.parquet" if cache_dir else None
        if path is not None and path.exists():
            tables[k] = pd.read_parquet(path)
        else:
            tables[k] = simulate_pool_events(detector, s, sizes[k], seed, acc[k].roi_fraction)
            if path is not None:
                _save_table(tables[k], path)
    col = {k: _col(s) for k, s in zip(labels, specs, strict=True)}
    missing = [(k, j) for k in labels for j in labels if col[j] not in tables[k]]
    vol = fiducial_volume_cm3(detector)
    with _progress(sum(sizes[k] for k, _ in missing), show_progress) as advance:
        for j in labels:
            ks = [k for k, jj in missing if jj == j]
            if not ks:
                continue
            # one evaluation over all pools that lack this column: fewer compilations
            events = pd.concat([tables[k][list(POOL_COLUMNS)] for k in ks], ignore_index=True)
            model = SourceRateModel(detector, make_source(sources[j], j))
            log_norm = np.log(vol) + np.log(acc[j].roi_fraction)
            vals = _density_column(model, events, log_norm, advance, n_buckets)
            for k, part in zip(
                ks, np.split(vals, np.cumsum([sizes[k] for k in ks])[:-1]), strict=True
            ):
                tables[k][col[j]] = part
                if cache_dir is not None:  # save after every column: an interrupted build
                    _save_table(tables[k], Path(cache_dir) / f"pool_{keys[k]}.parquet")
    cols = [col[k] for k in labels]
    return EventPool(
        labels,
        specs,
        np.repeat(np.arange(len(labels)), [len(tables[k]) for k in labels]),
        np.concatenate([tables[k][cols].to_numpy(float) for k in labels]),
        np.array([acc[k].mu_per_tyr for k in labels]),
        {"detector": detector.name, "seed": seed, "sizes": sizes, "cache_keys": keys},
    )


def event_log_densities(
    detector: Detector,
    sources: Mapping[str, str],
    events: pd.DataFrame,
    *,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
    n_buckets: int = 4,
) -> np.ndarray:
    """ln p_j of observed events under each source, (n_events, n_sources), normalised as the
    pool densities. Events are validated (ROI, fiducial volume) and never dropped."""
    from darkfit.likelihood.unbinned import check_events
    from darkfit.model.rate_model import SourceRateModel

    df = check_events(events, detector).reset_index(drop=True)
    out = np.empty((len(df), len(sources)))
    vol = fiducial_volume_cm3(detector)
    with _progress(len(df) * len(sources), show_progress) as advance:
        for j, (label, spec) in enumerate(sources.items()):
            acc = source_acceptance(detector, spec, cache_dir)
            if not len(df):
                continue
            model = SourceRateModel(detector, make_source(spec, label))
            log_norm = np.log(vol) + np.log(max(acc.roi_fraction, 1e-300))
            out[:, j] = _density_column(model, df, log_norm, advance, n_buckets)
    return out


def _save_table(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)


def _col(spec: str) -> str:
    return f"logp[{spec}]"


class _progress:
    """Context manager yielding ``advance(n)``: a rich bar with ETA, or a no-op."""

    def __init__(self, total: int, show: bool, label: str = "event densities"):
        self.total, self.show, self.label = total, show and total > 0, label

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self.show:
            self._bar.stop()
        return False


__all__ = [
    "MIN_ROI_FRACTION",
    "SIGMA_REF_CM2",
    "EventPool",
    "SourceAcceptance",
    "Toys",
    "build_pool",
    "canonical_spec",
    "default_label",
    "event_log_densities",
    "fiducial_volume_cm3",
    "make_source",
    "merge_pools",
    "padded_length",
    "simulate_pool_events",
    "source_acceptance",
    "synthetic_pool",
]
