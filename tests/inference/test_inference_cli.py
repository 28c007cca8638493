"""The inference CLI sub-app: sensitivity, limit, discovery (typer CliRunner).

Uses the small flamedisx pool of test_event_pool (same specs, size and seed: the content cache
makes it free when that module ran first in the session).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from darkfit._errors import DarkfitInputError
from darkfit.inference.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "darkfit_pool_cache"


def common(cache):
    # the 200 GeV WIMP pool stands in for a background: this checks the machinery only
    return ["--detector", "flamedisx", "--source", "wimp:mass=200", "--pool-size", "150",
            "--pool-cache", str(cache)]  # fmt: skip


def invoke(args):
    res = runner.invoke(app, args)
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 0, res.output
    return res.output


def test_sensitivity_writes_tables_and_figures_and_resumes(tmp_path, cache):
    out = tmp_path / "sens"
    args = ["sensitivity", *common(cache), "--seed", "3", "--masses", "1,50", "--exposure",
            "0.01", "--toys", "20", "--toys-per-task", "10", "--grid", "3", "--executor",
            "inprocess", "-o", str(out), "--json"]  # fmt: skip
    recs = json.loads(invoke(args))
    assert [r["status"] for r in recs] == ["no sensitivity", "ok"]
    assert recs[0]["sigma_median"] is None and recs[1]["sigma_median"] > 0
    for name in ("sensitivity.csv", "sensitivity.json", "sensitivity.png", "sensitivity.pdf"):
        assert (out / name).stat().st_size > 0
    csv = pd.read_csv(out / "sensitivity.csv")
    assert csv.loc[1, "n_toys_b"] == 20
    # a second run must say --resume; with it, nothing is recomputed and the answer is equal
    with pytest.raises(DarkfitInputError, match="--resume"):
        invoke(args)
    again = json.loads(invoke([*args, "--resume"]))
    assert again == recs


def test_limit_of_an_empty_dataset_is_the_poisson_limit(tmp_path, cache):
    empty = tmp_path / "empty.parquet"
    pd.DataFrame({c: pd.Series(dtype=float) for c in ("s1", "s2", "x", "y", "z")}).to_parquet(empty)
    args = ["limit", str(empty), *common(cache), "--pool-seed", "3", "--mass", "50",
            "--exposure", "1e-4", "--toys", "300", "--bkg-uncertainty", "0", "--json"]  # fmt: skip
    (rec,) = json.loads(invoke(args))
    assert rec["status"] == "ok" and rec["n_events"] == 0
    # -ln(0.1) - b with b = 0.0094 expected background events (interpolated on the grid)
    assert rec["limit_events"] == pytest.approx(-np.log(0.1), rel=0.03)
    assert rec["limit_sigma_cm2"] > 0
    (sub,) = json.loads(invoke([a if a != "50" else "1" for a in args]))
    assert sub["status"] == "no sensitivity" and "limit_events" not in sub
    (disc,) = json.loads(invoke(["discovery", str(empty), *common(cache), "--pool-seed", "3",
                                 "--mass", "50", "--json"]))  # fmt: skip
    assert disc["q0"] == 0.0 and disc["z_asymptotic"] == 0.0 and disc["p_asymptotic"] == 0.5


def test_bad_input_is_one_line(tmp_path, cache):
    with pytest.raises(DarkfitInputError, match="masses"):
        invoke(["sensitivity", "--masses", "10,abc", "-o", str(tmp_path)])
    with pytest.raises(DarkfitInputError, match="background --source"):
        invoke(["limit", str(tmp_path / "x.parquet"), "--mass", "50"])
