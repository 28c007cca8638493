"""The ``darkfit ml`` sub-app end to end (tiny sizes), the markdown table, and the per-toy
asymptotic limits of :mod:`darkfit.ml.limits` against a closed-form counting experiment."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import optimize, stats
from typer.testing import CliRunner

from darkfit._errors import DarkfitInputError
from darkfit.ml.cli import app
from darkfit.ml.limits import NN1DConfig, toy_limits

runner = CliRunner()


def test_classify_command(tmp_path):
    out = tmp_path / "cls"
    res = runner.invoke(app, ["classify", "--events", "200", "--no-network", "-o", str(out),
                              "--json", "--save-models"])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data["classifiers"]) == {"classical_cut", "bdt"}
    assert data["n_test"] == {"er": 100, "nr": 100}
    for name in ("metrics.json", "metrics.md", "roc.png", "scores.png", "event_example.png"):
        assert (out / name).is_file()
    assert (out / "models" / "bdt" / "config.json").is_file()
    assert "| lz | BDT (s1, s2, r, z) |" in (out / "metrics.md").read_text()


def test_compress_and_electrode_commands(tmp_path):
    res = runner.invoke(app, ["compress", "--events", "400", "--epochs", "2", "-o",
                              str(tmp_path / "c"), "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data["templates"]["signal"]) == 20
    assert sum(data["templates"]["signal"]) == pytest.approx(1.0)
    assert (tmp_path / "c" / "model" / "weights.eqx").is_file()
    res = runner.invoke(app, ["electrode", "--events", "200", "-o", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "e" / "electrode.png").is_file()


def test_bad_cli_input(tmp_path):
    res = runner.invoke(app, ["compress", "--features", "r,z,nope", "-o", str(tmp_path)])
    assert isinstance(res.exception, DarkfitInputError)
    assert "nope" in str(res.exception)
    res = runner.invoke(app, ["classify", "--events", "0", "-o", str(tmp_path)])
    assert isinstance(res.exception, DarkfitInputError)
    with pytest.raises(DarkfitInputError, match="n_toys"):
        NN1DConfig(n_toys=0)


def test_toy_limits_match_the_counting_formula():
    """One bin, background b = 3 fixed: for n <= b, s_hat = 0 and
    q~(s) = 2 [s + n ln(b / (s + b))]; the limit solves q~(s) = Phi^-1(0.9)^2."""
    from darkfit.inference.rate_fit import binned_data, binned_model

    b = 3.0
    templates = np.array([[b, 1.0]])
    model = binned_model(templates, poi=1, constraint_sigma=np.array([0.0, np.inf]))
    counts = np.array([[0.0], [1.0], [2.0], [3.0]])
    grid = np.geomspace(0.05, 30.0, 200)
    lims, failed = toy_limits(model, binned_data(templates, counts), grid, 0.9)
    crit = stats.norm.ppf(0.9) ** 2
    ref = [optimize.brentq(lambda s, n=n: 2 * (s + n * np.log(b / (s + b))) - crit, 1e-6, 50)
           for n in counts[:, 0]]  # fmt: skip
    assert failed == 0
    np.testing.assert_allclose(lims, ref, rtol=2e-3)


@pytest.mark.slow
def test_compare_limits_end_to_end(lz):
    """A miniature NN-1D comparison: both analyses give finite limits on the same toys, no
    failed fits, and medians of the same order (the full-size numbers are in docs/ml.md)."""
    from darkfit.ml.limits import compare_limits

    cfg = NN1DConfig(exposure_tonne_year=0.1, n_toys=20, n_pool=80, n_train=2000,
                     n_template=5000, bins=10, epochs=5)  # fmt: skip
    res = compare_limits(lz, cfg, show_progress=False)
    assert len(res["limits_explicit"]) == len(res["limits_nn"]) == 20
    assert np.all(np.isfinite(res["limits_explicit"])) and np.all(np.isfinite(res["limits_nn"]))
    assert res["failed_fits"] == {"explicit": 0, "nn": 0}
    assert 0.5 < res["median_ratio_nn_over_explicit"] < 2.0
    assert res["times_s"]["explicit_densities"] > 0 and res["times_s"]["nn_training"] > 0
