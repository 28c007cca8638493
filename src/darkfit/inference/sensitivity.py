"""WIMP sensitivity: median expected 90% CL upper limits with +-1/2 sigma bands, and the 3 and 5
sigma discovery potential, versus WIMP mass or exposure.

For each scenario (WIMP mass, exposure) the model is the pooled extended likelihood of
:mod:`.event_pool` with the signal's expected count s [events] as parameter of interest and
the background multipliers as nuisance parameters (free with relative Gaussian constraints
``bkg_uncertainty``, or fixed when it is 0). Test statistics (Cowan, Cranmer, Gross, Vitells,
arXiv:1007.1727): q~_s for upper limits (eq. 16: 2 [NLL(s) - NLL(s_hat)] for s_hat <= s,
else 0, with s_hat >= 0) and q0 for discovery (eq. 12).

* ``method="neyman"``: a grid of tested s; at each, ``n_toys`` signal+background toys give
  the distribution of q~_s (Neyman construction); each of ``n_toys`` background-only toys
  gets the smallest s with p_s = P(q~_s >= q~_s,toy | s) < 1 - CL (linear interpolation on
  the grid; equivalent to q~_s,toy > c(s), the CL quantile, but exact for discrete atoms).
  Median and 2.28/15.87/84.13/97.72 % quantiles of the limits are the band. The discovery
  potential at 3 (5) sigma is the s at which the median q0 of the s+b toys reaches 9 (25)
  (asymptotic Z = sqrt(q0), eq. 53: 5 sigma toys would need ~1e7 background-only toys).
* ``method="asymptotic"``: Asimov data (eq. 24) from the weighted pool (every pool event of
  source j carries weight mu_j / pool size); sigma from q~_s,A (eq. 30-32) and the median
  limit and bands from eq. 88-89, solved as q~_s,A(s) = (Phi^-1(CL) + N)^2; median discovery
  significance sqrt(q0,A) (eq. 97). Always computed: it also sets the Neyman grid.

Toy chunks run as a :mod:`.campaign` (resumable, any executor). A mass whose signal has no
events above threshold (:func:`.event_pool.source_acceptance`) is reported with status
"no sensitivity" and empty numbers, never inf or NaN. Cross-sections: sigma = s / k with
k = mu_signal(sigma_ref) / sigma_ref the expected events per cm^2.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from darkfit._errors import bad_value
from darkfit.inference.asymptotics import (
    asimov_pool,
    expected_limits,
    median_discovery_significance,
    p_value_q0,
)
from darkfit.inference.campaign import ChunkStore, Executor, Task, run_campaign
from darkfit.inference.event_pool import SIGMA_REF_CM2, EventPool, default_label
from darkfit.inference.neyman import crossing, limit_band
from darkfit.inference.rate_fit import RateData, RateModel, fit_rates, profile_scan, unbinned_data
from darkfit.inference.test_statistics import q0, q_mu
from darkfit.inference.toys import sample_centres

#: One-sided Gaussian quantiles of the +-1, +-2 sigma bands: Phi(N) for N = -2..2.
BAND_N = (-2, -1, 0, 1, 2)
BAND_NAMES = ("m2", "m1", "median", "p1", "p2")
#: Default backgrounds (names of darkfit.physics.backgrounds.BACKGROUNDS, default rates):
#: the LZ projection's categories that darkfit models (arXiv:1802.06039 Table III): flat ER
#: (Rn, Kr), solar-nu ER, 8B and atmospheric CEvNS, radiogenic neutrons. 37Ar (its default
#: rate is for LZ's first run and decays) and 124Xe (lines outside most of the ROI) are off.
DEFAULT_BACKGROUNDS = ("flat_er", "solar_nu_er", "b8_cevns", "atm_nu_nr", "neutrons")


@dataclass(frozen=True)
class SensitivityConfig:
    """What to compute (JSON-able: it identifies the campaign in its store)."""

    detector: str = "lz"
    masses: tuple[float, ...] = (40.0,)
    exposures: tuple[float, ...] = (15.33,)
    backgrounds: tuple[str, ...] = DEFAULT_BACKGROUNDS
    method: str = "neyman"
    n_toys: int = 1000
    toys_per_task: int = 250
    n_grid: int = 12
    cl: float = 0.9
    bkg_uncertainty: float = 0.1
    pool_size: int | dict = 20000  # in-ROI pool events per source, or {label: n, "default": n}
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in ("neyman", "asymptotic"):
            raise bad_value("method", self.method, "'neyman' or 'asymptotic'")
        if not self.masses or any(not (np.isfinite(m) and m > 0) for m in self.masses):
            raise bad_value("masses", self.masses, "WIMP masses > 0 GeV")
        if not self.exposures or any(not (np.isfinite(e) and e > 0) for e in self.exposures):
            raise bad_value("exposure", self.exposures, "positive tonne-years")
        if not 0 < self.cl < 1:
            raise bad_value("cl", self.cl, "a confidence level in (0, 1)")
        if self.n_toys < 10 or self.toys_per_task < 1 or self.n_grid < 3:
            raise bad_value("toys/grid", (self.n_toys, self.n_grid), "n_toys >= 10, n_grid >= 3")
        if not (np.isfinite(self.bkg_uncertainty) and self.bkg_uncertainty >= 0):
            raise bad_value("bkg_uncertainty", self.bkg_uncertainty, "a relative width >= 0")


@dataclass(frozen=True)
class Scenario:
    """One point of a curve: the pool of its sources (backgrounds first, the signal last),
    their expected counts ``mu`` [events] and the rate model (signal multiplier = s events)."""

    key: str
    mass_gev: float
    exposure: float
    pool: EventPool
    mu: np.ndarray  # the signal entry is 1 event: its multiplier is s
    events_per_cm2: float
    model: RateModel


def scenario(
    key: str, mass: float, exposure: float, pool: EventPool, bkg_uncertainty: float
) -> Scenario:
    """The scenario of a pool whose last source is the WIMP (at :data:`SIGMA_REF_CM2`)."""
    mu = pool.expected_events(exposure)
    k = mu[-1] / SIGMA_REF_CM2
    mu[-1] = 1.0
    sig = np.array([bkg_uncertainty] * (len(mu) - 1) + [np.inf])
    return Scenario(key, mass, exposure, pool, mu, k, RateModel(mu, -1, sig))


def pool_sizes(size: int | dict, labels: list[str]) -> dict[str, int]:
    """Pool size of every source label from an int or {label: n, "default": n}."""
    if not isinstance(size, dict):
        return dict.fromkeys(labels, int(size))
    unknown = set(size) - {*labels, "default"}
    if unknown:
        raise bad_value("pool size for", sorted(unknown)[0], f"one of {labels} or 'default'")
    return {k: int(size.get(k, size.get("default", 20000))) for k in labels}


def make_scenarios(
    pool: EventPool, config: SensitivityConfig, backgrounds: list[str]
) -> list[Scenario]:
    out = []
    for m in config.masses:
        lab = default_label(f"wimp:mass={m:g}")
        if lab not in pool.labels:
            continue
        sub = pool.subset([*backgrounds, lab])
        for e in config.exposures:
            out.append(scenario(f"m{m:g}_e{e:g}", m, e, sub, config.bkg_uncertainty))
    return out


# ---------------------------------------------------------------------- asymptotics
def asimov(sc: Scenario, s: float) -> RateData:
    """Asimov data (eq. 24) with signal s from the weighted pool (:func:`asimov_pool`)."""
    expected = sc.mu.copy()
    expected[-1] = s
    return asimov_pool(sc.pool.log_p, sc.pool.origin, expected)


def asymptotic_scenario(sc: Scenario, cl: float) -> dict:
    """Median limit, bands (eqs. 88-89) and 3/5 sigma discovery potential [events]."""
    lims = expected_limits(sc.model, asimov(sc, 0.0), cl, BAND_N)
    out = {f"events_{n}_asym": lims[k] for n, k in zip(BAND_NAMES, BAND_N, strict=True)}
    for z in (3, 5):

        def z_med(s, _sc=sc):
            return median_discovery_significance(_sc.model, asimov(_sc, s))

        out[f"disc{z}_events_asym"] = _solve_increasing(z_med, z)
    return out


def _solve_increasing(f, target: float, lo: float = 1e-3, hi: float = 10.0) -> float:
    """Root of f(s) = target for an increasing f (bracket grown geometrically, then brentq)."""
    from scipy.optimize import brentq

    while f(hi) < target:
        hi *= 4
        if hi > 1e9:
            return float("nan")
    while f(lo) > target and lo > 1e-9:
        lo /= 10
    if not (f(lo) - target) * (f(hi) - target) < 0:  # not bracketed (noisy curve): no answer
        return float("nan")
    return float(brentq(lambda s: f(s) - target, lo, hi, rtol=1e-6))


# ---------------------------------------------------------------------- toys (Neyman)
def toy_task(context: dict, params: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """One chunk of toys of one scenario: signal+background toys at one tested s (``kind``
    "sb") or background-only toys tested at every grid point ("b"). One row per toy and
    tested s: q~_s, q0, s_hat, fit flag, event count. The global observables of constrained
    backgrounds are fluctuated with the data (:func:`.toys.sample_centres`)."""
    sc: Scenario = context[params["scenario"]]
    rng = np.random.default_rng(seed)
    grid = np.asarray(params["grid"], float)
    truth = sc.mu.copy()
    truth[-1] = grid[params["k"]] if params["kind"] == "sb" else 0.0
    n_toys = int(params["n_toys"])
    toys = sc.pool.draw(rng, truth, n_toys)
    centres = sample_centres(rng, np.ones(len(sc.mu)), sc.model.constraint_sigma, n_toys)
    data = unbinned_data(toys.log_p, toys.mask, centres)
    ks = [params["k"]] if params["kind"] == "sb" else list(range(grid.size))
    q, q_0, s_hat, ok = _statistics(sc.model, data, grid[ks])
    n = toys.mask.sum(1)
    first = int(params["first_toy"])
    rows = {
        "toy": np.repeat(np.arange(first, first + n.size), len(ks)),
        "k": np.tile(ks, n.size),
        "s": np.tile(grid[ks], n.size),
        "q": q.ravel(),
        "q0": np.repeat(q_0, len(ks)),
        "s_hat": np.repeat(s_hat, len(ks)),
        "fit_ok": ok.ravel(),
        "n_events": np.repeat(n, len(ks)),
    }
    return pd.DataFrame(rows).assign(scenario=sc.key, kind=params["kind"])


def _statistics(model: RateModel, data: RateData, tested: np.ndarray):
    """q~_s at ``tested`` (T, K), q0 (T,), s_hat (T,) and fit flags (T, K) from one
    :func:`profile_scan` (signal >= 0; arXiv:1007.1727 eqs. 12 and 16)."""
    scan = profile_scan(model, data, [0.0, *tested], poi_lower=0.0)
    nh, sh, nll = scan.hat.nll, scan.poi_hat, scan.cond.nll
    q = q_mu(nll[:, 1:], nh[:, None], sh[:, None], np.asarray(tested)[None, :])
    q_0 = q0(nll[:, 0], nh, sh)
    ok = scan.cond.converged[:, 1:] & scan.cond.converged[:, :1] & scan.hat.converged[:, None]
    return q, q_0, sh, ok


def neyman_grid(asym: dict, n_grid: int) -> np.ndarray:
    """Tested signal counts: from 0.05 x the asymptotic median limit to 1.3 x the larger of
    the +2 sigma limit and the 5 sigma discovery potential (log-spaced)."""
    lo = 0.05 * asym["events_median_asym"]
    hi = 1.3 * np.nanmax([asym["events_p2_asym"], asym["disc5_events_asym"]])
    return np.geomspace(lo, hi, n_grid)


def neyman_tasks(scenarios, grids, config: SensitivityConfig) -> list[Task]:
    tasks = []
    chunks = range(0, config.n_toys, config.toys_per_task)
    for sc in scenarios:
        g = [float(v) for v in grids[sc.key]]
        for first in chunks:
            n = min(config.toys_per_task, config.n_toys - first)
            base = {"scenario": sc.key, "grid": g, "n_toys": n, "first_toy": first}
            tasks.append(Task((sc.key, "b", first), {**base, "kind": "b", "k": -1}))
            for k in range(len(g)):
                tasks.append(Task((sc.key, "sb", k, first), {**base, "kind": "sb", "k": k}))
    return tasks


def p_values(q_obs: np.ndarray, sb_q: list[np.ndarray]) -> np.ndarray:
    """p_s = P(q~_s >= q_obs | s) from the s+b toys at each grid point: (T, K).

    Ties count as ">=" (q~ has atoms, e.g. q~_s = 2 s for every empty toy), so discrete
    cases keep their coverage (zero events, no background: the limit is -ln(1 - CL)).
    """
    out = np.empty(q_obs.shape)
    for k, qs in enumerate(sb_q):
        qs = np.sort(qs)
        tol = 1e-9 * (1 + np.abs(q_obs[:, k]))
        out[:, k] = 1 - np.searchsorted(qs, q_obs[:, k] - tol, side="left") / qs.size
    return out


def toy_limits(p: np.ndarray, grid: np.ndarray, cl: float):
    """Upper limits: where p_s first falls below 1 - CL (Neyman construction), interpolated
    linearly in s (:func:`.neyman.crossing`, from p_0 = 1 at s = 0 since q~_0 = 0).

    Returns (limits, below, above); limits above the grid are its end (flagged).
    """
    res = crossing(grid, (1 - cl) - p, d_at_zero=-cl)
    return res.limits, res.below_grid, res.above_grid


def neyman_scenario(rows: pd.DataFrame, grid: np.ndarray, cl: float) -> dict:
    """Critical values, band of the toy limits, Neyman discovery potential [events]."""
    sb, b = rows[rows.kind == "sb"], rows[rows.kind == "b"]
    sb_q = [sb.loc[sb.k == k, "q"].to_numpy() for k in range(grid.size)]
    q_b = b.pivot(index="toy", columns="k", values="q").to_numpy()
    lim, below, above = toy_limits(p_values(q_b, sb_q), grid, cl)
    band = limit_band(lim, BAND_N)
    out = {f"events_{n}": band[k] for n, k in zip(BAND_NAMES, BAND_N, strict=True)}
    z_med = np.sqrt(sb.groupby("k")["q0"].median().reindex(range(grid.size)).to_numpy())
    for z in (3, 5):
        out[f"disc{z}_events"] = _crossing(grid, z_med, z)
    failed = rows[~rows.fit_ok].groupby(["kind", "toy", "k"]).ngroups
    out.update(
        n_toys_b=int(b.toy.nunique()),
        n_toys_sb=len(sb),
        n_failed_fits=int(failed),
        n_limits_below_grid=int(below.sum()),
        n_limits_above_grid=int(above.sum()),
        crit_values=[float(np.quantile(q, cl)) for q in sb_q],
        grid=[float(g) for g in grid],
    )
    return out


def _crossing(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """First x where y (increasing-ish) reaches target, interpolated in log x; NaN if never."""
    above = np.flatnonzero(y >= target)
    if not above.size or above[0] == 0:
        return float("nan")
    k = above[0]
    f = (target - y[k - 1]) / (y[k] - y[k - 1])
    return float(np.exp(np.log(x[k - 1]) + f * (np.log(x[k]) - np.log(x[k - 1]))))


# ---------------------------------------------------------------------- the curve
def run_sensitivity(
    config: SensitivityConfig,
    out_dir: str | Path,
    *,
    executor: Executor | None = None,
    resume: bool = False,
    show_progress: bool = False,
    pool_cache: str | Path | None = None,
    pool: EventPool | None = None,
) -> pd.DataFrame:
    """Compute the sensitivity table, write ``sensitivity.csv`` / ``.json`` into ``out_dir``.

    ``pool``: an already built pool (labels: background names and ``wimp_<m>gev``), else
    pools are built (or loaded from ``pool_cache``, default ``out_dir/pool_cache``).
    """
    from darkfit.detector import load_detector
    from darkfit.inference.event_pool import build_pool, source_acceptance

    out_dir = Path(out_dir)
    cache = Path(pool_cache) if pool_cache else out_dir / "pool_cache"
    det = load_detector(config.detector)
    bkg = {default_label(b): b for b in config.backgrounds}
    sig = {default_label(f"wimp:mass={m:g}"): f"wimp:mass={m:g}" for m in config.masses}
    if pool is None:
        ok = {k: v for k, v in sig.items() if source_acceptance(det, v, cache).detectable}
        if ok:
            pool = build_pool(
                det, {**bkg, **ok}, pool_sizes(config.pool_size, [*bkg, *ok]),
                seed=config.seed, cache_dir=cache, show_progress=show_progress,
            )  # fmt: skip
    else:
        for lab, spec in sig.items():
            if lab not in pool.labels and source_acceptance(det, spec, cache).detectable:
                raise bad_value("pool", list(pool.labels), f"a pool with {lab} ({spec})")
    if pool is None:
        scenarios = []
    else:
        scenarios = make_scenarios(pool, config, list(bkg))
    asym = {sc.key: asymptotic_scenario(sc, config.cl) for sc in scenarios}
    ney = {}
    if config.method == "neyman" and scenarios:
        grids = {sc.key: neyman_grid(asym[sc.key], config.n_grid) for sc in scenarios}
        store_cfg = {**asdict(config), "grids": {k: list(map(float, g)) for k, g in grids.items()}}
        rows = run_campaign(
            toy_task,
            neyman_tasks(scenarios, grids, config),
            ChunkStore(out_dir / "toys", store_cfg),
            context={sc.key: sc for sc in scenarios},
            seed=config.seed,
            executor=executor,
            resume=resume,
            show_progress=show_progress,
            description="sensitivity toys",
        )
        for sc in scenarios:
            ney[sc.key] = neyman_scenario(rows[rows.scenario == sc.key], grids[sc.key], config.cl)
    table = _table(config, scenarios, asym, ney)
    write_outputs(table, out_dir, config)
    return table


def _table(config, scenarios, asym, ney) -> pd.DataFrame:
    by_key = {(sc.mass_gev, sc.exposure): sc for sc in scenarios}
    recs = []
    for m in config.masses:
        for e in config.exposures:
            rec = {"mass_gev": m, "exposure_tonne_year": e, "method": config.method}
            sc = by_key.get((m, e))
            if sc is None:
                recs.append({**rec, "status": "no sensitivity"})
                continue
            a, k = asym[sc.key], sc.events_per_cm2
            res = ney.get(sc.key) or {
                **{f"events_{n}": a[f"events_{n}_asym"] for n in BAND_NAMES},
                **{f"disc{z}_events": a[f"disc{z}_events_asym"] for z in (3, 5)},
            }
            rec.update(status="ok", events_per_cm2=k)
            for n in BAND_NAMES:
                rec[f"sigma_{n}"] = res[f"events_{n}"] / k
                rec[f"sigma_{n}_asym"] = a[f"events_{n}_asym"] / k
            for z in (3, 5):
                rec[f"disc{z}_sigma"] = res[f"disc{z}_events"] / k
                rec[f"disc{z}_sigma_asym"] = a[f"disc{z}_events_asym"] / k
            rec.update({k2: v for k2, v in res.items() if k2.startswith(("events_", "n_", "disc"))})
            rec["mu_background"] = float(np.sum(sc.mu[:-1]))
            rec["max_pool_ratio"] = float(np.max(sc.pool.pool_ratio(sc.mu)[:-1]))
            recs.append(rec)
    return pd.DataFrame.from_records(recs)


def write_outputs(table: pd.DataFrame, out_dir: str | Path, config: SensitivityConfig) -> None:
    """``sensitivity.csv`` (empty cells where there is no sensitivity) and ``.json`` (null)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "sensitivity.csv", index=False, na_rep="")
    recs = []
    for rec in table.to_dict(orient="records"):
        recs.append({k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                     for k, v in rec.items()})  # fmt: skip
    doc = {"config": asdict(config), "results": recs}
    (out_dir / "sensitivity.json").write_text(json.dumps(doc, indent=1, sort_keys=True))


# ---------------------------------------------------------------------- observed data
def _sb_toys(sc: Scenario, grid: np.ndarray, n_toys: int, seed: int):
    """q~_s of s+b toys at every grid point (in this process), and the failed-fit count."""
    from darkfit.inference.campaign import task_seed

    sb_q, failed = [], 0
    for k in range(grid.size):
        params = {"scenario": sc.key, "grid": list(grid), "n_toys": n_toys, "first_toy": 0}
        rows = toy_task({sc.key: sc}, {**params, "kind": "sb", "k": k}, task_seed(seed, f"k{k}"))
        sb_q.append(rows["q"].to_numpy())
        failed += int((~rows["fit_ok"]).sum())
    return sb_q, failed


def _observed(sc: Scenario, log_p: np.ndarray) -> RateData:
    """One dataset as RateData (an empty one padded with a weight-0 row)."""
    log_p = np.asarray(log_p, float).reshape(-1, len(sc.mu))
    w = np.ones(len(log_p))
    if not len(log_p):
        log_p, w = np.zeros((1, len(sc.mu))), np.zeros(1)
    return unbinned_data(log_p, w)


def observed_limit(
    sc: Scenario, data_log_p: np.ndarray, *, cl: float = 0.9, n_toys: int = 0, seed: int = 0,
    n_grid: int = 24,
) -> dict:  # fmt: skip
    """Upper limit on the signal of an observed dataset [events and cm^2].

    ``n_toys > 0``: Neyman construction (critical values from s+b toys on a grid, crossing of
    the observed q~_s curve); ``n_toys = 0``: asymptotic, q~_s,obs(s) = Phi^-1(CL)^2
    (arXiv:1007.1727 eq. 16 with the half-chi-square-like law of q~ near the limit). An
    empty dataset gives a valid limit (2.30 events without background, Neyman).
    """
    data = _observed(sc, data_log_p)
    s_hat = float(fit_rates(sc.model, data).x[0, -1])
    out = {"s_hat_events": s_hat, "n_events": len(data_log_p)}
    if n_toys <= 0:

        def q_obs(s):
            return float(_statistics(sc.model, data, np.array([s]))[0][0, 0])

        lim = _solve_increasing(q_obs, stats.norm.ppf(cl) ** 2)
        out.update(method="asymptotic")
    else:
        asym = asymptotic_scenario(sc, cl)
        top = max(asym["events_p2_asym"], 2.0 * s_hat + 10.0, 5.0)
        grid = np.geomspace(0.05 * max(asym["events_median_asym"], 0.5), 1.5 * top, n_grid)
        sb_q, failed = _sb_toys(sc, grid, n_toys, seed)
        q, _, _, ok = _statistics(sc.model, data, grid)
        lims, below, above = toy_limits(p_values(q, sb_q), grid, cl)
        lim = float(lims[0])
        out.update(
            method="neyman", n_toys=n_toys, n_failed_fits=failed + int((~ok).sum()),
            outside_grid=bool(below[0] or above[0]),
        )  # fmt: skip
    out.update(limit_events=lim, limit_sigma_cm2=lim / sc.events_per_cm2, cl=cl)
    return out


def observed_discovery(sc: Scenario, data_log_p: np.ndarray, *, n_toys: int = 0, seed: int = 0):
    """Discovery test of an observed dataset: q0, asymptotic Z = sqrt(q0) (arXiv:1007.1727
    eq. 53) and p-value; with ``n_toys`` also the toy p-value P(q0 >= q0_obs | b)."""
    data = _observed(sc, data_log_p)
    _, q_obs, s_hat, ok = _statistics(sc.model, data, np.array([1.0]))
    z = float(np.sqrt(q_obs[0]))
    out = {
        "n_events": len(data_log_p), "s_hat_events": float(s_hat[0]), "q0": float(q_obs[0]),
        "z_asymptotic": z, "p_asymptotic": float(p_value_q0(q_obs[0])), "fit_ok": bool(ok[0, 0]),
    }  # fmt: skip
    if n_toys > 0:
        from darkfit.inference.campaign import task_seed

        params = {"scenario": sc.key, "grid": [1.0], "n_toys": n_toys, "first_toy": 0}
        rows = toy_task({sc.key: sc}, {**params, "kind": "b", "k": -1}, task_seed(seed, "b"))
        p = float(np.mean(rows["q0"].to_numpy() >= q_obs[0] - 1e-9))
        out.update(p_toys=p, n_toys=n_toys, n_failed_fits=int((~rows["fit_ok"]).sum()))
    return out


__all__ = [
    "DEFAULT_BACKGROUNDS",
    "Scenario",
    "SensitivityConfig",
    "asymptotic_scenario",
    "observed_discovery",
    "observed_limit",
    "run_sensitivity",
    "scenario",
    "toy_task",
]
