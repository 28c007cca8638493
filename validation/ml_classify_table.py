"""The docs table of ER/NR discrimination: NR-band cut, BDT on (s1, s2, r, z), network on
waveforms + hit pattern, for the ``lz`` and ``darwin`` presets, on held-out events.

Each detector runs :func:`darkfit.ml.pipeline.classify` (flat ER vs a 50 GeV WIMP, in-ROI
events): ``--events`` per class, half for training and half for testing, plus ``--extra-er``
independent ER test events so that the 99.98% rejection point rests on
``0.0002 x (n_test_ER)`` events; acceptances carry a bootstrap standard deviation. Writes
``<out>/ml_table.md``, ``<out>/<detector>/metrics.json`` and the figures
``<img>/ml_<detector>_{roc,scores,event_example}.png``.

    python validation/ml_classify_table.py --events 20000 --extra-er 90000 \
        --out docs/validation/ml --img docs/img
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detectors", default="lz,darwin")
    ap.add_argument("--events", type=int, default=20000, help="in-ROI events per class")
    ap.add_argument("--extra-er", type=int, default=90000, help="extra ER test events")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="ml_table")
    ap.add_argument("--img", default=None, help="figure directory (default: --out)")
    a = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from darkfit.detector import load_detector
    from darkfit.ml import pipeline

    # one OpenMP thread for scikit-learn: on a shared 2-core machine its spinning threads
    # slow the gradient boosting down by an order of magnitude
    threadpool_limits(limits=1, user_api="openmp")

    out, img = Path(a.out), Path(a.img or a.out)
    img.mkdir(parents=True, exist_ok=True)
    runs = []
    for name in a.detectors.split(","):
        t0 = time.perf_counter()
        res = pipeline.classify(
            load_detector(name),
            a.events,
            a.seed,
            epochs=a.epochs,
            extra_er_test=a.extra_er,
            n_boot=a.bootstrap,
            output=out / name,
        )
        res.pop("models")
        res["wall_time_s"] = time.perf_counter() - t0
        (out / name / "metrics.json").write_text(json.dumps(res, indent=1, sort_keys=True))
        for fig in ("roc", "scores", "event_example"):
            shutil.copyfile(out / name / f"{fig}.png", img / f"ml_{name}_{fig}.png")
        runs.append(res)
        print(f"{name}: {res['wall_time_s']:.0f} s")
    table = pipeline.metrics_table(runs)
    (out / "ml_table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
