"""The ``darkfit`` command line: a thin shell over the library.

Each command parses its options, calls one library function, then prints a rich table (or
sorted JSON with ``--json``) and optionally writes a figure. Bad input exits with code 2 and a
one-line message, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from darkfit._errors import DarkfitInputError, bad_value

app = typer.Typer(
    help="darkfit: liquid-xenon TPC dark-matter analysis (simulate, spectra, yields, ...).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

SourceOpt = Annotated[
    list[str],
    typer.Option(
        "--source",
        "-s",
        help="Source as name[:key=value,...], e.g. wimp:mass=50,sigma=1e-47 or flat_er."
        " Repeatable.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print sorted JSON instead of a table.")]
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="Write a figure (.png or .pdf) to this path.")
]


def _print_table(title: str, columns: dict[str, np.ndarray], as_json: bool, fmt: str = "{:.5g}"):
    if as_json:
        rows = [
            {k: float(v[i]) for k, v in sorted(columns.items())}
            for i in range(len(next(iter(columns.values()))))
        ]
        print(json.dumps(rows, sort_keys=True, indent=1))
        return
    table = Table(title=title)
    for name in columns:
        table.add_column(name, justify="right")
    for i in range(len(next(iter(columns.values())))):
        table.add_row(*(fmt.format(v[i]) for v in columns.values()))
    console.print(table)


def _energies(e_min: float, e_max: float, n: int, log: bool) -> np.ndarray:
    if not (np.isfinite(e_min) and e_min >= 0):
        raise bad_value("e-min", e_min, "an energy >= 0 keV")
    if not (np.isfinite(e_max) and e_max > e_min):
        raise bad_value("e-max", e_max, f"an energy > e-min = {e_min} keV")
    if n < 2:
        raise bad_value("points", n, "an integer >= 2")
    if log:
        if e_min <= 0:
            raise bad_value("e-min", e_min, "an energy > 0 keV with --log")
        return np.geomspace(e_min, e_max, n)
    return np.linspace(e_min, e_max, n)


@app.command()
def spectrum(
    source: SourceOpt,
    e_min: Annotated[float, typer.Option(help="Lowest recoil energy [keV].")] = 1.0,
    e_max: Annotated[float, typer.Option(help="Highest recoil energy [keV].")] = 60.0,
    points: Annotated[int, typer.Option(help="Number of energies.")] = 60,
    log: Annotated[bool, typer.Option(help="Log-spaced energies.")] = False,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
):
    """Differential rate dR/dE [events/(tonne year keV)] of one or more sources."""
    from darkfit.model.sources import parse_source

    sources = [parse_source(s) for s in source]
    e = _energies(e_min, e_max, points, log)
    cols = {"energy_kev": e}
    for s in sources:
        cols[s.spectrum.name] = np.asarray(s.spectrum.rate(e))
    _print_table("dR/dE [events / (tonne year keV)]", cols, as_json)
    if plot is not None:
        from darkfit.plotting.spectra import plot_spectra

        plot_spectra(cols, plot)


@app.command()
def yields(
    recoil: Annotated[str, typer.Option(help="Recoil type: nr or er.")] = "nr",
    field: Annotated[float, typer.Option(help="Drift field [V/cm].")] = 193.0,
    density: Annotated[float, typer.Option(help="Liquid density [g/cm3].")] = 2.9,
    e_min: Annotated[float, typer.Option(help="Lowest energy [keV].")] = 1.0,
    e_max: Annotated[float, typer.Option(help="Highest energy [keV].")] = 50.0,
    points: Annotated[int, typer.Option(help="Number of energies.")] = 20,
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
):
    """NEST-style mean photon and electron yields (and per-keV yields) versus energy."""
    from darkfit.physics import yields as y

    if recoil not in ("nr", "er"):
        raise bad_value("recoil", recoil, "'nr' or 'er'")
    if not (np.isfinite(field) and field > 0):
        raise bad_value("field", field, "a drift field > 0 V/cm")
    if not (2.5 < density < 3.2):
        raise bad_value("density", density, "a liquid-xenon density in (2.5, 3.2) g/cm3")
    e = _energies(e_min, e_max, points, log=e_min > 0)
    fn = y.nr_mean_yields if recoil == "nr" else y.er_mean_yields
    m = fn(e, field, density)
    cols = {
        "energy_kev": e,
        "n_photons": np.asarray(m.n_photons),
        "n_electrons": np.asarray(m.n_electrons),
        "photons_per_kev": np.asarray(m.n_photons) / e,
        "electrons_per_kev": np.asarray(m.n_electrons) / e,
    }
    _print_table(f"{recoil.upper()} mean yields at {field:g} V/cm", cols, as_json)
    if plot is not None:
        from darkfit.plotting.yields import plot_yields

        plot_yields(cols, recoil, field, plot)


@app.command()
def simulate(
    source: SourceOpt,
    detector: Annotated[str, typer.Option(help="Preset name or YAML path.")] = "lz",
    exposure: Annotated[
        float | None, typer.Option(help="Fiducial exposure [tonne year] (Poisson counts).")
    ] = None,
    n_events: Annotated[
        int | None, typer.Option(help="Exact number of events per source instead of exposure.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output table (.parquet or .csv).")
    ] = Path("events.parquet"),
    as_json: JsonOpt = False,
    plot: PlotOpt = None,
    roi_only: Annotated[
        bool,
        typer.Option(
            "--roi-only",
            help="Write only the events that pass the S1 coincidence and the ROI (the table "
            "`darkfit fit` and `darkfit diffrate` take); the summary still counts all.",
        ),
    ] = False,
):
    """Simulate events from sources in a detector and write the events table."""
    from darkfit.detector import load_detector
    from darkfit.events import write_events
    from darkfit.model.simulate import simulate as run
    from darkfit.model.sources import parse_source

    if not source:
        raise bad_value("source", None, "at least one --source")
    if exposure is None and n_events is None:
        raise bad_value("exposure", None, "--exposure (tonne-years) or --n-events")
    if exposure is not None and not (np.isfinite(exposure) and exposure > 0):
        raise bad_value("exposure", exposure, "a positive number of tonne-years")
    det = load_detector(detector)
    sources = [parse_source(s) for s in source]
    df = run(det, sources, exposure, seed=seed, n_events=n_events, show_progress=not as_json)
    written = df[df.in_roi].reset_index(drop=True) if roi_only else df
    write_events(written, output)
    summary = df.groupby("source", observed=False).agg(
        events=("s1", "size"), in_roi=("in_roi", "sum")
    )
    cols = {
        "source": list(summary.index),
        "events": summary["events"].to_numpy(),
        "in_roi": summary["in_roi"].to_numpy(),
    }
    if as_json:
        print(
            json.dumps(
                {
                    "output": str(output),
                    "written": len(written),
                    "detector": det.name,
                    "sources": {
                        s: {"events": int(n), "in_roi": int(k)}
                        for s, n, k in zip(
                            cols["source"], cols["events"], cols["in_roi"], strict=True
                        )
                    },
                },
                sort_keys=True,
            )
        )
    else:
        title = f"{det.name}: {len(df)} events" + (
            f", {len(written)} in the ROI" if roi_only else ""
        )
        table = Table(title=f"{title} -> {output}")
        for c in cols:
            table.add_column(c, justify="right")
        for row in zip(*cols.values(), strict=True):
            table.add_row(*(str(v) for v in row))
        console.print(table)
    if plot is not None:
        from darkfit.plotting.events import plot_events

        plot_events(df, plot)


def _likelihood(
    events_path: Path, detector: str, source: list[str], exposure: float, all_columns: bool
):
    """(likelihood, events table); the table holds only the likelihood's columns unless
    ``all_columns``."""
    from darkfit.detector import load_detector
    from darkfit.events import read_events
    from darkfit.likelihood.unbinned import INPUT_COLUMNS, UnbinnedLikelihood
    from darkfit.model.sources import parse_source

    if not source:
        raise bad_value("source", None, "at least one --source")
    det = load_detector(detector)
    events = read_events(events_path, columns=None if all_columns else INPUT_COLUMNS)
    return UnbinnedLikelihood(det, [parse_source(s) for s in source], events, exposure), events


@app.command()
def diffrate(
    events: Annotated[Path, typer.Argument(help="Events table (.parquet or .csv).")],
    source: SourceOpt,
    detector: Annotated[str, typer.Option(help="Preset name or YAML path.")] = "lz",
    exposure: Annotated[float, typer.Option(help="Exposure [tonne year].")] = 1.0,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output table with one rate column per source.")
    ] = Path("diffrate.parquet"),
):
    """Per-event differential rates ln R_j [events/(phd^2 cm^3)] of each source, as a table."""
    from darkfit.events import write_events

    lik, ev = _likelihood(events, detector, source, exposure, all_columns=True)
    log_r = np.asarray(lik.log_rates(lik.defaults()))
    out = ev.copy()
    for j, s in enumerate(lik.sources):
        out[f"log_rate_{s.name}"] = log_r[:, j]
    write_events(out, output)
    console.print(f"{len(out)} events, rates of {[s.name for s in lik.sources]} -> {output}")


@app.command()
def fit(
    events: Annotated[Path, typer.Argument(help="Events table (.parquet or .csv), in the ROI.")],
    source: SourceOpt,
    free: Annotated[
        list[str],
        typer.Option("--free", help="Free parameter, e.g. flat_er_rate or g2. Repeatable."),
    ],
    detector: Annotated[str, typer.Option(help="Preset name or YAML path.")] = "lz",
    exposure: Annotated[float, typer.Option(help="Exposure [tonne year].")] = 1.0,
    as_json: JsonOpt = False,
):
    """Maximum-likelihood fit (extended unbinned likelihood): best fit, errors, validity."""
    from darkfit.inference.fit import fit_likelihood

    if not free:
        raise bad_value("free", None, "at least one --free parameter")
    lik, _ = _likelihood(events, detector, source, exposure, all_columns=False)
    res = fit_likelihood(lik, free)
    if as_json:
        print(
            json.dumps(
                {
                    "values": {k: res.values[k] for k in res.free},
                    "errors": res.errors,
                    "nll": res.nll,
                    "valid": res.valid,
                    "message": res.message,
                },
                sort_keys=True,
            )
        )
        return
    table = Table(title=f"fit: -lnL = {res.nll:.4f}, valid = {res.valid} ({res.message})")
    for c in ("parameter", "value", "error"):
        table.add_column(c, justify="right")
    for k in res.free:
        table.add_row(k, f"{res.values[k]:.6g}", f"{res.errors[k]:.3g}")
    console.print(table)


@app.command()
def presets(as_json: JsonOpt = False):
    """List the detector presets and their key numbers."""
    from darkfit.detector import PRESETS, load_detector

    dets = [load_detector(p) for p in sorted(PRESETS)]
    cols = {
        "g1": np.array([d.g1 for d in dets]),
        "g2": np.array([d.g2 for d in dets]),
        "field_v_cm": np.array([d.drift_field_v_cm for d in dets]),
        "elife_us": np.array([d.electron_lifetime_us for d in dets]),
        "fid_mass_t": np.array([d.fiducial_mass_tonne for d in dets]),
    }
    if as_json:
        print(
            json.dumps(
                {d.name: {k: float(v[i]) for k, v in cols.items()} for i, d in enumerate(dets)},
                sort_keys=True,
            )
        )
        return
    table = Table(title="detector presets")
    table.add_column("preset")
    for c in cols:
        table.add_column(c, justify="right")
    for i, d in enumerate(dets):
        table.add_row(d.name, *(f"{v[i]:.4g}" for v in cols.values()))
    console.print(table)


def _register_subcommands() -> None:
    """``darkfit sensitivity|limit|discovery`` (inference) and ``darkfit ml ...`` (ML)."""
    from darkfit.inference import cli as inference_cli
    from darkfit.ml import cli as ml_cli

    for cmd in inference_cli.app.registered_commands:
        app.registered_commands.append(cmd)
    app.add_typer(ml_cli.app, name="ml")


_register_subcommands()


def main() -> None:
    """Entry point: run the app, turning input errors into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except DarkfitInputError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
