"""CLI commands of the ML module: ``classify``, ``compress``, ``electrode``, ``nn1d``.

A typer sub-app (``app``) for the main ``darkfit`` CLI (``darkfit ml ...``). Each command
parses its options, calls one function of :mod:`darkfit.ml.pipeline`, prints a rich table
(or sorted JSON with ``--json``) and writes its files to ``--output``. Bad input raises
:class:`~darkfit._errors.DarkfitInputError` (one line; the main CLI turns it into exit code 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from darkfit._errors import bad_value

app = typer.Typer(
    help="Machine learning: ER/NR classifiers, NN likelihood compression, electrode tagging.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()

DetectorOpt = Annotated[str, typer.Option(help="Detector preset name or YAML path.")]
EventsOpt = Annotated[int, typer.Option(help="In-ROI events simulated per class (source).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed (simulation, splits, training).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print sorted JSON instead of a table.")]


def _detector(text: str):
    from darkfit.detector import load_detector

    return load_detector(text)


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise bad_value(name, value, "a positive integer")
    return value


def _strip(results: dict, *keys) -> dict:
    return {k: v for k, v in results.items() if k not in keys}


@app.command()
def classify(
    detector: DetectorOpt = "lz",
    events: EventsOpt = 20000,
    seed: SeedOpt = 0,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path(
        "ml_classify"
    ),
    epochs: Annotated[int, typer.Option(help="Training epochs of the network.")] = 8,
    extra_er_test: Annotated[
        int, typer.Option(help="Extra ER test events (for the 99.98% rejection point).")
    ] = 0,
    network: Annotated[bool, typer.Option(help="Train the waveform network.")] = True,
    channels: Annotated[int, typer.Option(help="Convolution channels of the network.")] = 8,
    hidden: Annotated[int, typer.Option(help="Dense units per branch of the network.")] = 32,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicas for acceptance errors.")] = 0,
    save_models: Annotated[bool, typer.Option(help="Save the trained models under -o.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """ER vs NR (flat ER vs a 50 GeV WIMP): NR-band cut, BDT and waveform network."""
    from darkfit.ml import pipeline

    det = _detector(detector)
    res = pipeline.classify(
        det,
        _positive("events", events),
        seed,
        epochs=_positive("epochs", epochs),
        extra_er_test=max(extra_er_test, 0),
        network=network,
        n_boot=max(bootstrap, 0),
        output=output,
        save_models=save_models,
        arch={"channels": _positive("channels", channels), "hidden": _positive("hidden", hidden)},
        show_progress=not as_json,
    )
    res = _strip(res, "models")
    if as_json:
        print(json.dumps(res, sort_keys=True, indent=1))
        return
    table = Table(
        title=f"ER/NR classification, {det.name} (test: {res['n_test']['er']} ER, "
        f"{res['n_test']['nr']} NR)"
    )
    for col in ("classifier", "AUC", "accuracy", "NR acc @ 99.5%", "NR acc @ 99.98%"):
        table.add_column(col, justify="right")
    for name, r in res["classifiers"].items():
        a = r["at_er_rejection"]
        table.add_row(
            pipeline.CLASSIFIER_LABELS[name],
            f"{r['auc']:.4f}",
            f"{100 * r['accuracy']:.1f}%",
            f"{100 * a['0.995']['nr_acceptance']:.1f}%",
            f"{100 * a['0.9998']['nr_acceptance']:.1f}%",
        )
    console.print(table)
    console.print(
        f"wrote {output}/metrics.json, metrics.md, roc.png, scores.png, event_example.png"
    )


@app.command()
def compress(
    detector: DetectorOpt = "lz",
    events: EventsOpt = 20000,
    seed: SeedOpt = 0,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path(
        "ml_compress"
    ),
    signal: Annotated[str, typer.Option(help="Signal source.")] = "wimp:mass=50,sigma=1e-46",
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Background source, repeatable (default flat_er)."),
    ] = None,
    features: Annotated[
        str, typer.Option(help="Comma-separated inputs, e.g. r,z,s1,s2,s1_prompt_fraction.")
    ] = "r,z,s1,s2",
    bins: Annotated[int, typer.Option(help="Template bins on [0, 1].")] = 20,
    epochs: Annotated[int, typer.Option(help="Maximum training epochs.")] = 50,
    reference: Annotated[
        str, typer.Option(help="Uniform transform: mixture (50/50) or background.")
    ] = "mixture",
    as_json: JsonOpt = False,
) -> None:
    """NN compression of (r, z, s1, s2[, prompt fraction]) to one score, with templates."""
    from darkfit.ml import pipeline
    from darkfit.ml.features import FEATURE_NAMES

    feats = tuple(f.strip() for f in features.split(",") if f.strip())
    for f in feats:
        if f not in FEATURE_NAMES:
            raise bad_value("features", f, f"names from {list(FEATURE_NAMES)}")
    det = _detector(detector)
    res = pipeline.compress(
        det,
        _positive("events", events),
        seed,
        signal=signal,
        backgrounds=tuple(source) if source else (pipeline.ER_SOURCE,),
        features=feats,
        bins=_positive("bins", bins),
        epochs=_positive("epochs", epochs),
        reference=reference,
        output=output,
        show_progress=not as_json,
    )
    res = _strip(res, "model")
    if as_json:
        print(json.dumps(res, sort_keys=True, indent=1))
        return
    console.print(
        f"MI(score; label) / MI(inputs; label) = {res['mi_ratio']:.3f} "
        f"({res['mi_score_nats']:.4f} / {res['mi_inputs_nats']:.4f} nats; {res['stop_reason']},"
        f" {res['epochs_trained']} epochs); validation AUC {res['val_auc']:.4f}"
    )
    console.print(f"wrote {output}/templates.json, templates.png, model/")


@app.command()
def electrode(
    detector: DetectorOpt = "lz",
    events: EventsOpt = 20000,
    seed: SeedOpt = 0,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path(
        "ml_electrode"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Gate/cathode vs bulk S2-only events: BDT on S2 shape, rejection vs efficiency."""
    from darkfit.ml import pipeline

    det = _detector(detector)
    res = _strip(pipeline.electrode(det, _positive("events", events), seed, output=output), "model")
    if as_json:
        print(json.dumps(res, sort_keys=True, indent=1))
        return
    console.print(
        f"electrode rejection factor at 60% bulk efficiency: "
        f"{res['rejection_at_60pct']:.1f} (AUC {res['auc']:.3f})"
    )


@app.command()
def nn1d(
    detector: DetectorOpt = "lz",
    exposure: Annotated[float, typer.Option(help="Exposure of the toys [tonne year].")] = 3.0,
    toys: Annotated[int, typer.Option(help="Background-only toys.")] = 300,
    pool: Annotated[int, typer.Option(help="Background pool events (>> expected).")] = 6000,
    train: Annotated[int, typer.Option(help="Training + validation events per source.")] = 80000,
    templates: Annotated[int, typer.Option(help="Template events per source.")] = 400_000,
    bins: Annotated[int, typer.Option(help="Bins of the uniformised score.")] = 50,
    mi_fraction: Annotated[float, typer.Option(help="MI stopping rule (fraction).")] = 0.995,
    seed: SeedOpt = 0,
    cache: Annotated[
        Path | None, typer.Option(help="Cache directory (acceptances, explicit densities).")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")] = Path(
        "ml_nn1d"
    ),
    as_json: JsonOpt = False,
) -> None:
    """NN-1D vs explicit likelihood: median 90% CL limits on the same toys, MI, wall times."""
    import numpy as np

    from darkfit.ml import plots
    from darkfit.ml.limits import NN1DConfig, compare_limits

    det = _detector(detector)
    cfg = NN1DConfig(
        exposure_tonne_year=exposure,
        n_toys=_positive("toys", toys),
        n_pool=_positive("pool", pool),
        n_train=_positive("train", train),
        n_template=_positive("templates", templates),
        bins=_positive("bins", bins),
        mi_fraction=mi_fraction,
        seed=seed,
    )
    res = compare_limits(det, cfg, cache_dir=cache, show_progress=not as_json)
    model = res.pop("model")
    output.mkdir(parents=True, exist_ok=True)
    (output / "nn1d.json").write_text(json.dumps(res, indent=1, sort_keys=True))
    plots.plot_limit_comparison(
        res["limits_explicit"], res["limits_nn"], output / "limits.png", f"{det.name}"
    )
    plots.plot_templates(
        {k: np.asarray(v) for k, v in res["templates"].items()},
        np.asarray(res["bin_edges"]),
        output / "templates.png",
        model.history,
        model.mi_inputs,
    )
    if as_json:
        print(json.dumps(_strip(res, "limits_explicit", "limits_nn"), sort_keys=True, indent=1))
        return
    t = res["times_s"]
    console.print(
        f"median 90% CL limit [signal events]: explicit {res['median_limit_explicit']:.3f}, "
        f"NN-1D {res['median_limit_nn']:.3f} (ratio {res['median_ratio_nn_over_explicit']:.3f})"
        f"\nMI(score)/MI(inputs) = {res['mi_ratio']:.4f}; wall time explicit "
        f"{t['explicit_total']:.1f} s, NN {t['nn_total']:.1f} s"
    )
    console.print(f"wrote {output}/nn1d.json, limits.png, templates.png")
