"""End-to-end ML runs behind the CLI and the docs table: classify, compress, electrode tagging.

Each function simulates, trains, evaluates on held-out events, optionally writes its files
(JSON, markdown table, figures, saved models) and returns a results dict.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from darkfit._errors import bad_value
from darkfit.detector import Detector
from darkfit.ml import metrics, plots
from darkfit.ml.classifiers import BDT_FEATURES, BDTClassifier, NRBandCut
from darkfit.ml.compression import COMPRESSION_FEATURES, CompressionModel, score_templates
from darkfit.ml.datasets import (
    ER_SOURCE,
    NR_SOURCE,
    EventDataset,
    render_events,
    simulate_dataset,
    simulate_in_roi,
    split,
)
from darkfit.ml.electrode import ELECTRODE_FEATURES, KINDS, electrode_dataset, rejection_curve
from darkfit.ml.networks import DEFAULT_ARCH, NetworkClassifier
from darkfit.ml.persistence import save_model
from darkfit.ml.pulse_config import pulse_config

CLASSIFIER_LABELS = {
    "classical_cut": "NR-band cut",
    "bdt": "BDT (s1, s2, r, z)",
    "network": "network (waveforms + pattern)",
}


def _concat(a: EventDataset, b: EventDataset) -> EventDataset:
    return EventDataset(
        a.detector,
        pd.concat([a.features, b.features], ignore_index=True),
        np.concatenate([a.s1_waveforms, b.s1_waveforms]),
        np.concatenate([a.s2_waveforms, b.s2_waveforms]),
        np.concatenate([a.patterns, b.patterns]),
        np.concatenate([a.labels, b.labels]),
        np.concatenate([a.sources, b.sources]),
    )


def classify(
    detector: Detector,
    n_events: int,
    seed: int = 0,
    *,
    epochs: int = 8,
    test_fraction: float = 0.5,
    extra_er_test: int = 0,
    network: bool = True,
    n_boot: int = 0,
    output: Path | None = None,
    save_models: bool = False,
    show_progress: bool = True,
    img_prefix: str = "",
    arch: dict | None = None,
) -> dict:
    """Train the NR-band cut, the BDT on (s1, s2, r, z) and the network; evaluate on test events.

    ``n_events`` in-ROI events per class (flat ER vs a 50 GeV WIMP) are split into training
    and test sets; ``extra_er_test`` more ER events (independent seed) join the test set for
    the 99.98% rejection point.
    """
    ds = simulate_dataset(detector, n_events, seed)
    train, test = split(ds, test_fraction, seed)
    if extra_er_test > 0:
        extra = simulate_dataset(detector, 1, seed + 10_000, n_er=extra_er_test)
        test = _concat(test, extra.subset(extra.labels == 0))
    cut = NRBandCut(detector.name, detector.electron_lifetime_us).fit(train.features, train.labels)
    bdt = BDTClassifier(detector.name, BDT_FEATURES, seed=seed).fit(train.features, train.labels)
    models = {"classical_cut": cut, "bdt": bdt}
    scores = {"classical_cut": cut.score(test.features), "bdt": bdt.score(test.features)}
    if network:
        net = NetworkClassifier(detector.name, seed=seed, arch=dict(arch or DEFAULT_ARCH))
        net.fit(train, epochs=epochs, show_progress=show_progress)
        models["network"] = net
        scores["network"] = net.score(test)
    results = {
        "detector": detector.name,
        "seed": seed,
        "n_train": {"er": int(np.sum(train.labels == 0)), "nr": int(np.sum(train.labels == 1))},
        "n_test": {"er": int(np.sum(test.labels == 0)), "nr": int(np.sum(test.labels == 1))},
        "classifiers": {
            k: metrics.report(test.labels, s, models[k].threshold, n_boot=n_boot, seed=seed)
            for k, s in scores.items()
        },
    }
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(results, indent=1, sort_keys=True))
        (out / "metrics.md").write_text(metrics_table([results]) + "\n")
        curves = {CLASSIFIER_LABELS[k]: metrics.roc(test.labels, s) for k, s in scores.items()}
        c = results["classifiers"]["classical_cut"]
        point = {"NR-band cut (below median)": (1 - c["er_rejection"], c["nr_acceptance"])}
        plots.plot_roc(curves, out / f"{img_prefix}roc.png", point)
        plots.plot_scores(
            {CLASSIFIER_LABELS[k]: s for k, s in scores.items()},
            test.labels,
            out / f"{img_prefix}scores.png",
        )
        plots.plot_event_example(
            test, out / f"{img_prefix}event_example.png", pulse_config(detector)
        )
        if save_models:
            for k, m in models.items():
                save_model(m, out / "models" / k)
    results["models"] = models
    return results


def metrics_table(runs: list[dict]) -> str:
    """Markdown table of AUC, accuracy and NR acceptance at 99.5% / 99.98% ER rejection."""
    head = (
        "| detector | classifier | AUC | accuracy | recall | precision | NR acc. @ 99.5% ER rej."
        " | NR acc. @ 99.98% ER rej. | ER events above (99.98%) |"
    )
    lines = [head, "|" + "---|" * 9]
    for run in runs:
        for k, r in run["classifiers"].items():
            acc = r["at_er_rejection"]

            def fmt(key, acc=acc):
                e = acc[key]
                s = f"{100 * e['nr_acceptance']:.1f}%"
                if "nr_acceptance_std" in e:
                    s += f" ± {100 * e['nr_acceptance_std']:.1f}"
                return s

            lines.append(
                f"| {run['detector']} | {CLASSIFIER_LABELS.get(k, k)} | {r['auc']:.4f} | "
                f"{100 * r['accuracy']:.1f}% | {100 * r['recall']:.1f}% | "
                f"{100 * r['precision']:.1f}% | {fmt('0.995')} | {fmt('0.9998')} | "
                f"{acc['0.9998']['er_events_above']} of {r['n_er']} |"
            )
    return "\n".join(lines)


def compress(
    detector: Detector,
    n_events: int,
    seed: int = 0,
    *,
    signal: str = NR_SOURCE,
    backgrounds: tuple[str, ...] = (ER_SOURCE,),
    features: tuple[str, ...] = COMPRESSION_FEATURES,
    bins: int = 20,
    epochs: int = 50,
    reference: str = "mixture",
    output: Path | None = None,
    show_progress: bool = True,
) -> dict:
    """Train the compression MLP (signal vs backgrounds) and build score templates per source.

    Per source, ``n_events`` in-ROI events are simulated and rendered; the backgrounds share
    the background half of the training set equally. Each source's events are split 50% for
    training, 25% validation (MI stopping rule), 25% templates.
    """
    if not backgrounds:
        raise bad_value("backgrounds", [], "at least one background source")
    texts = {
        "signal": signal,
        **{f"bkg{i}_{b.split(':')[0]}": b for i, b in enumerate(backgrounds)},
    }
    parts = {}
    for i, (name, text) in enumerate(texts.items()):
        ev = simulate_in_roi(detector, text, n_events, 3 * seed + i + 1)
        ev["source"] = name
        parts[name] = render_events(detector, ev, seed=seed + i).features
    n_bkg = len(backgrounds)
    train, val, tmpl = [], [], {}
    for name, f in parts.items():
        n = len(f)
        take = n if name == "signal" else n // n_bkg
        a, b = take // 2, take // 2 + take // 4
        label = 1 if name == "signal" else 0
        train.append(f.iloc[:a].assign(_label=label))
        val.append(f.iloc[a:b].assign(_label=label))
        tmpl[name] = f.iloc[n - n // 4 :].reset_index(drop=True)
    tr, va = pd.concat(train, ignore_index=True), pd.concat(val, ignore_index=True)
    model = CompressionModel(detector.name, tuple(features), seed=seed, reference=reference)
    model.fit(
        tr,
        tr["_label"].to_numpy(),
        va,
        va["_label"].to_numpy(),
        epochs=epochs,
        show_progress=show_progress,
    )
    templates = score_templates(model, tmpl, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    val_scores = model.logit(va)
    results = {
        "detector": detector.name,
        "features": list(features),
        "sources": texts,
        "mi_inputs_nats": model.mi_inputs,
        "mi_inputs_knn_nats": model.mi_inputs_knn,
        "mi_inputs_bdt_nats": model.mi_inputs_bdt,
        "mi_score_nats": model.mi_score,
        "mi_ratio": model.mi_ratio,
        "stop_reason": model.stop_reason,
        "epochs_trained": len(model.history),
        "val_auc": metrics.report(va["_label"].to_numpy(), val_scores, 0.0)["auc"],
        "bin_edges": edges.tolist(),
        "templates": {k: v.tolist() for k, v in templates.items()},
    }
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "templates.json").write_text(json.dumps(results, indent=1, sort_keys=True))
        plots.plot_templates(
            templates, edges, out / "templates.png", model.history, model.mi_inputs
        )
        save_model(model, out / "model")
    results["model"] = model
    return results


def electrode(
    detector: Detector,
    n_events: int,
    seed: int = 0,
    *,
    output: Path | None = None,
    img_name: str = "electrode.png",
) -> dict:
    """Train the electrode-event BDT on S2 shape features; rejection vs signal efficiency."""
    train, y_train = electrode_dataset(detector, n_events, seed)
    test, y_test = electrode_dataset(detector, n_events, seed + 10_000)
    bdt = BDTClassifier(detector.name, ELECTRODE_FEATURES, seed=seed, kind="electrode_bdt")
    bdt.fit(train, y_train)
    eff, rej = rejection_curve(y_test, bdt.score(test))
    _, r60 = rejection_curve(y_test, bdt.score(test), [0.6])
    results = {
        "detector": detector.name,
        "rejection_at_60pct": float(r60[0]),
        "auc": metrics.report(y_test, bdt.score(test), 0.0)["auc"],
        "efficiency": eff.tolist(),
        "rejection": rej.tolist(),
    }
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "electrode.json").write_text(json.dumps(results, indent=1, sort_keys=True))
        widths = {k: test.loc[test["kind"] == k, "s2_rms_us"].to_numpy() for k in KINDS}
        plots.plot_electrode(eff, {detector.name: rej}, widths, out / img_name)
    results["model"] = bdt
    return results
