"""CLI commands of the frequentist inference: ``sensitivity``, ``limit``, ``discovery``.

A typer sub-app (``app``) that the main ``darkfit`` CLI registers. Each command parses its
options, calls one library function (:mod:`.sensitivity`), prints a rich table or sorted JSON
and writes its files. Bad input raises :class:`~darkfit._errors.DarkfitInputError` (one line;
the main CLI turns it into exit code 2). A WIMP mass whose signal has no events above
threshold is reported as "no sensitivity", not as an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from darkfit._errors import bad_value

app = typer.Typer(
    help="Frequentist inference: sensitivity bands, limits and discovery tests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

DetectorOpt = Annotated[str, typer.Option(help="Detector preset name or YAML path.")]
BkgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--source",
        "-s",
        help="Background source (name[:key=value,...]), repeatable. Default for `sensitivity`:"
        " flat_er, solar_nu_er, b8_cevns, atm_nu_nr, neutrons.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print sorted JSON instead of a table.")]
PoolSizeOpt = Annotated[
    str,
    typer.Option(
        help="In-ROI events simulated per source (>> toy counts): N, or N,label=M,... to set"
        " some sources apart (e.g. 2000,flat_er=20000)."
    ),
]
PoolCacheOpt = Annotated[
    Path | None, typer.Option(help="Directory caching event pools (Parquet) across runs.")
]
UncOpt = Annotated[
    float, typer.Option(help="Relative Gaussian constraint of background rates (0: fixed).")
]
CLOpt = Annotated[float, typer.Option(help="Confidence level of upper limits.")]


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise bad_value(what, text, "comma-separated numbers, e.g. 10,20,40") from None
    if not vals or not all(np.isfinite(v) and v > 0 for v in vals):
        raise bad_value(what, text, "comma-separated positive numbers")
    return vals


def _pool_size(text: str) -> int | dict:
    """``N`` or ``N,label=M,...`` -> int or {"default": N, label: M}."""
    out: dict = {}
    try:
        for item in filter(None, (t.strip() for t in str(text).split(","))):
            key, eq, val = item.rpartition("=")
            out[key if eq else "default"] = int(val)
    except ValueError:
        raise bad_value("pool-size", text, "N or N,label=M,... with integers") from None
    if not out or any(v < 1 for v in out.values()):
        raise bad_value("pool-size", text, "positive integers")
    return out["default"] if list(out) == ["default"] else out


@app.command()
def sensitivity(
    detector: DetectorOpt = "lz",
    exposure: Annotated[
        str, typer.Option(help="Exposure (tonne-years); a comma list draws the curve vs exposure.")
    ] = "15.33",
    masses: Annotated[str, typer.Option(help="WIMP masses (GeV), comma-separated.")] = "40",
    toys: Annotated[int, typer.Option(help="Toys per tested signal strength (Neyman).")] = 1000,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path(
        "sensitivity"
    ),
    method: Annotated[str, typer.Option(help="neyman (toys) or asymptotic (Asimov).")] = "neyman",
    source: BkgOpt = None,
    executor: Annotated[str, typer.Option(help="local (processes), dask or inprocess.")] = "local",
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: a LocalCluster).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted campaign in -o.")] = False,
    grid: Annotated[int, typer.Option(help="Tested signal strengths per mass.")] = 12,
    toys_per_task: Annotated[int, typer.Option(help="Toys per campaign chunk.")] = 250,
    pool_size: PoolSizeOpt = "20000",
    pool_cache: PoolCacheOpt = None,
    bkg_uncertainty: UncOpt = 0.1,
    cl: CLOpt = 0.9,
    seed: Annotated[int, typer.Option(help="Seed of pools and toys.")] = 0,
    as_json: JsonOpt = False,
):
    """Median expected limit with +-1/2 sigma bands and 3/5 sigma discovery potential."""
    from darkfit.inference.campaign import make_executor
    from darkfit.inference.sensitivity import (
        DEFAULT_BACKGROUNDS,
        SensitivityConfig,
        run_sensitivity,
    )
    from darkfit.plotting.sensitivity import plot_sensitivity

    cfg = SensitivityConfig(
        detector=detector,
        masses=_floats(masses, "masses"),
        exposures=_floats(exposure, "exposure"),
        backgrounds=tuple(source) if source else DEFAULT_BACKGROUNDS,
        method=method,
        n_toys=toys,
        toys_per_task=toys_per_task,
        n_grid=grid,
        cl=cl,
        bkg_uncertainty=bkg_uncertainty,
        pool_size=_pool_size(pool_size),
        seed=seed,
    )
    ex = make_executor(executor, n_workers=workers, scheduler=scheduler)
    try:
        table = run_sensitivity(
            cfg, output, executor=ex, resume=resume, show_progress=not as_json,
            pool_cache=pool_cache,
        )  # fmt: skip
    finally:
        ex.close()
    x = "exposure_tonne_year" if len(cfg.exposures) > 1 else "mass_gev"
    title = f"{detector}: {cfg.method}, {cfg.cl:.0%} CL"
    if x == "mass_gev":
        title += f", {cfg.exposures[0]:g} t yr"
    plot_sensitivity(
        table, [output / "sensitivity.png", output / "sensitivity.pdf"], x=x, title=title
    )
    cols = ["mass_gev", "exposure_tonne_year", "status", "sigma_median", "sigma_m1", "sigma_p1"]
    cols += ["disc3_sigma", "disc5_sigma"]
    _print(
        table.reindex(columns=cols).to_dict(orient="records"), as_json, f"sensitivity -> {output}"
    )


def _scenario(detector: str, source, mass, exposure, unc, pool_size, pool_seed, pool_cache, toys):
    """(scenario, labels->specs, detector) or a 'no sensitivity' status."""
    from darkfit.detector import load_detector
    from darkfit.inference.event_pool import (
        EventPool,
        build_pool,
        default_label,
        source_acceptance,
    )
    from darkfit.inference.sensitivity import scenario

    if not source:
        raise bad_value("source", None, "at least one background --source (e.g. flat_er)")
    if not (np.isfinite(exposure) and exposure > 0):
        raise bad_value("exposure", exposure, "a positive number of tonne-years")
    if not (np.isfinite(mass) and mass > 0):
        raise bad_value("mass", mass, "a WIMP mass > 0 GeV")
    det = load_detector(detector)
    wimp = f"wimp:mass={mass:g}"
    specs = {default_label(s): s for s in source}
    if len(specs) != len(source):
        raise bad_value("source", source, "distinct sources")
    specs[default_label(wimp)] = wimp
    acc = {k: source_acceptance(det, v, pool_cache) for k, v in specs.items()}
    if not acc[default_label(wimp)].detectable:
        return None, specs, det
    if toys > 0:
        from darkfit.inference.sensitivity import pool_sizes

        sizes = pool_sizes(_pool_size(pool_size), list(specs))
        pool = build_pool(
            det, specs, sizes, seed=pool_seed, cache_dir=pool_cache, show_progress=True
        )
    else:  # the asymptotic observed limit needs no pool
        labels = tuple(specs)
        mu = np.array([acc[k].mu_per_tyr for k in labels])
        pool = EventPool(labels, labels, np.zeros(0, int), np.zeros((0, len(labels))), mu, {})
    return scenario(f"m{mass:g}_e{exposure:g}", mass, exposure, pool, unc), specs, det


def _observed(events: Path, sc, specs, det, pool_cache):
    from darkfit.events import read_events
    from darkfit.inference.event_pool import event_log_densities

    df = read_events(events, required=())
    return event_log_densities(det, specs, df, cache_dir=pool_cache, show_progress=True)


@app.command()
def limit(
    events: Annotated[Path, typer.Argument(help="Events table (.parquet or .csv), in the ROI.")],
    mass: Annotated[float, typer.Option(help="WIMP mass (GeV).")],
    source: BkgOpt = None,
    detector: DetectorOpt = "lz",
    exposure: Annotated[float, typer.Option(help="Exposure (tonne-years).")] = 1.0,
    toys: Annotated[
        int, typer.Option(help="Toys per tested signal (Neyman); 0: asymptotic.")
    ] = 1000,
    cl: CLOpt = 0.9,
    bkg_uncertainty: UncOpt = 0.1,
    pool_size: PoolSizeOpt = "20000",
    pool_seed: Annotated[int, typer.Option(help="Seed of the event pools.")] = 0,
    pool_cache: PoolCacheOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the toys.")] = 0,
    as_json: JsonOpt = False,
):
    """Upper limit on the WIMP cross-section from an observed dataset."""
    from darkfit.inference.sensitivity import observed_limit

    sc, specs, det = _scenario(
        detector, source, mass, exposure, bkg_uncertainty, pool_size, pool_seed, pool_cache, toys
    )
    rec = {"mass_gev": mass, "exposure_tonne_year": exposure, "detector": det.name}
    if sc is None:
        rec["status"] = "no sensitivity"
    else:
        log_p = _observed(events, sc, specs, det, pool_cache)
        rec.update(status="ok", **observed_limit(sc, log_p, cl=cl, n_toys=toys, seed=seed))
    _print([rec], as_json, f"{cl:.0%} CL upper limit")


@app.command()
def discovery(
    events: Annotated[Path, typer.Argument(help="Events table (.parquet or .csv), in the ROI.")],
    mass: Annotated[float, typer.Option(help="WIMP mass (GeV).")],
    source: BkgOpt = None,
    detector: DetectorOpt = "lz",
    exposure: Annotated[float, typer.Option(help="Exposure (tonne-years).")] = 1.0,
    toys: Annotated[
        int, typer.Option(help="Background-only toys for a toy p-value (0: asymptotic only).")
    ] = 0,
    bkg_uncertainty: UncOpt = 0.1,
    pool_size: PoolSizeOpt = "20000",
    pool_seed: Annotated[int, typer.Option(help="Seed of the event pools.")] = 0,
    pool_cache: PoolCacheOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the toys.")] = 0,
    as_json: JsonOpt = False,
):
    """Discovery test (q0) of a WIMP signal in an observed dataset: Z and p-value."""
    from darkfit.inference.sensitivity import observed_discovery

    sc, specs, det = _scenario(
        detector, source, mass, exposure, bkg_uncertainty, pool_size, pool_seed, pool_cache, toys
    )
    rec = {"mass_gev": mass, "exposure_tonne_year": exposure, "detector": det.name}
    if sc is None:
        rec["status"] = "no sensitivity"
    else:
        log_p = _observed(events, sc, specs, det, pool_cache)
        rec.update(status="ok", **observed_discovery(sc, log_p, n_toys=toys, seed=seed))
    _print([rec], as_json, "discovery test")


def _clean(v):
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _print(records: list[dict], as_json: bool, title: str) -> None:
    records = [{k: _clean(v) for k, v in r.items()} for r in records]
    if as_json:
        print(json.dumps(records, sort_keys=True, indent=1))
        return
    table = Table(title=title)
    cols = list(dict.fromkeys(k for r in records for k in r))
    for c in cols:
        table.add_column(c, justify="right")
    for r in records:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    console.print(table)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


__all__ = ["app"]
