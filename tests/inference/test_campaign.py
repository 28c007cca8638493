"""Toy campaigns: deterministic seeds, executors, chunked store, resume after interruptions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from darkfit._errors import DarkfitInputError
from darkfit.inference.campaign import (
    CampaignError,
    ChunkStore,
    DaskExecutor,
    InProcessExecutor,
    LocalExecutor,
    Task,
    poisson_demo_task,
    run_campaign,
    task_seed,
)

N_TASKS, TOYS = 12, 50
CONFIG = {"kind": "demo", "mu": 7.5}


def demo_tasks(sleep_s: float = 0.0) -> list[Task]:
    return [
        Task(("demo", i), {"mu": 7.5, "n_toys": TOYS, "first_toy": i * TOYS, "sleep_s": sleep_s})
        for i in range(N_TASKS)
    ]


def reference(tmp_path: Path) -> pd.DataFrame:
    """The uninterrupted in-process run of the demo campaign (seed 11)."""
    return run_campaign(
        poisson_demo_task, demo_tasks(), ChunkStore(tmp_path / "ref", CONFIG), seed=11
    )


def assert_complete_and_equal(df: pd.DataFrame, ref: pd.DataFrame) -> None:
    """Every toy exactly once, and the same numbers as the reference run."""
    assert sorted(df["toy"]) == list(range(N_TASKS * TOYS))
    pd.testing.assert_frame_equal(
        df.sort_values("toy").reset_index(drop=True), ref.sort_values("toy").reset_index(drop=True)
    )


def test_task_seeds_depend_only_on_campaign_seed_and_task_id():
    a = task_seed(3, '["m",40]').generate_state(4)
    assert np.array_equal(a, task_seed(3, '["m",40]').generate_state(4))
    assert not np.array_equal(a, task_seed(4, '["m",40]').generate_state(4))
    assert not np.array_equal(a, task_seed(3, '["m",41]').generate_state(4))


def test_results_do_not_depend_on_task_order_and_are_poisson(tmp_path):
    ref = reference(tmp_path)
    shuffled = demo_tasks()[::-1]
    df = run_campaign(poisson_demo_task, shuffled, ChunkStore(tmp_path / "b", CONFIG), seed=11)
    assert_complete_and_equal(df, ref)
    # the counts are Poisson(7.5): chi-square of the histogram, designed false-failure 1e-4
    k = np.arange(0, 16)
    obs = np.array([np.sum(ref["n"] == v) for v in k[:-1]] + [np.sum(ref["n"] >= 15)])
    exp = len(ref) * np.append(stats.poisson.pmf(k[:-1], 7.5), stats.poisson.sf(14, 7.5))
    assert stats.chi2.sf(np.sum((obs - exp) ** 2 / exp), len(k) - 1) > 1e-4


def test_store_refuses_other_campaign_and_unrequested_resume(tmp_path):
    reference(tmp_path)
    with pytest.raises(DarkfitInputError, match="different configuration"):
        ChunkStore(tmp_path / "ref", {**CONFIG, "mu": 8.0})
    with pytest.raises(DarkfitInputError, match="--resume"):
        run_campaign(
            poisson_demo_task, demo_tasks(), ChunkStore(tmp_path / "ref", CONFIG), resume=False
        )


_calls: dict[str, int] = {}


def flaky_task(context, params, seed):
    """Fails on its first attempt for task 3; always fails for task 5."""
    i = int(params["first_toy"]) // TOYS
    _calls[i] = _calls.get(i, 0) + 1
    if i == 5 or (i == 3 and _calls[i] == 1):
        raise RuntimeError(f"fit exploded in task {i}")
    return poisson_demo_task(context, params, seed)


def test_failed_tasks_are_retried_then_reported_and_resumable(tmp_path):
    ref = reference(tmp_path)
    _calls.clear()
    store = ChunkStore(tmp_path / "flaky", CONFIG)
    with pytest.raises(CampaignError, match=r'1 task\(s\) failed .*\["demo",5\].*task 5'):
        run_campaign(flaky_task, demo_tasks(), store, seed=11, retries=2)
    assert _calls[3] == 2 and _calls[5] == 3  # one retry sufficed; two retries, then reported
    assert len(store.finished()) == N_TASKS - 1
    df = run_campaign(poisson_demo_task, demo_tasks(), store, seed=11)  # resume: only task 5
    assert_complete_and_equal(df, ref)


DRIVER = """
import sys
from darkfit.inference.campaign import ChunkStore, Task, poisson_demo_task, run_campaign
tasks = [Task(("demo", i), {{"mu": 7.5, "n_toys": {toys}, "first_toy": i * {toys},
          "sleep_s": 0.25}}) for i in range({n})]
run_campaign(poisson_demo_task, tasks, ChunkStore(sys.argv[1], {config!r}), seed=11)
"""


def test_driver_killed_mid_campaign_then_resumed(tmp_path):
    ref = reference(tmp_path)
    out = tmp_path / "killed"
    code = textwrap.dedent(DRIVER.format(toys=TOYS, n=N_TASKS, config=CONFIG))
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)])
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(ChunkStore(out, CONFIG).finished())
    assert 3 <= n_before < N_TASKS
    ran = []
    df = run_campaign(
        poisson_demo_task,
        demo_tasks(),
        ChunkStore(out, CONFIG),
        seed=11,
        on_chunk=lambda task_id, n: ran.append(task_id),
    )
    assert len(ran) == N_TASKS - n_before  # finished chunks were not recomputed
    assert_complete_and_equal(df, ref)
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert len({x["task_id"] for x in lines}) == N_TASKS


def die_once_task(context, params, seed):
    """Kills its worker process the first time task 4 runs (a marker file remembers)."""
    marker = Path(context) / "died"
    if int(params["first_toy"]) // TOYS == 4 and not marker.exists():
        marker.write_text("x")
        os._exit(1)
    return poisson_demo_task(None, params, seed)


def test_local_processes_survive_a_dead_worker(tmp_path):
    ref = reference(tmp_path)
    store = ChunkStore(tmp_path / "local", CONFIG)
    df = run_campaign(
        die_once_task, demo_tasks(), store, context=str(tmp_path), seed=11,
        executor=LocalExecutor(2),
    )  # fmt: skip
    assert (tmp_path / "died").exists()
    assert_complete_and_equal(df, ref)


def test_dask_two_workers_worker_killed_mid_campaign(tmp_path):
    ref = reference(tmp_path)
    ex = DaskExecutor(n_workers=2)
    try:
        pids = ex.client.run(os.getpid)
        assert len(pids) == 2
        killed = []

        def kill_one(task_id, n_done):
            if n_done == 3 and not killed:
                pid = next(iter(pids.values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        store = ChunkStore(tmp_path / "dask", CONFIG)
        df = run_campaign(
            poisson_demo_task, demo_tasks(sleep_s=0.2), store, seed=11, executor=ex,
            on_chunk=kill_one,
        )  # fmt: skip
        assert killed
        assert_complete_and_equal(df, ref)
        # a fresh store on the same cluster (the killed worker was restarted) agrees too
        df2 = run_campaign(
            poisson_demo_task, demo_tasks(), ChunkStore(tmp_path / "d2", CONFIG), seed=11,
            executor=ex,
        )  # fmt: skip
        assert_complete_and_equal(df2, ref)
    finally:
        ex.close()


def test_inprocess_executor_yields_errors_not_exceptions():
    def boom(context, params, seed):
        raise ValueError("bad toy")

    out = list(InProcessExecutor().run(boom, None, [("t", {}, task_seed(0, "t"))]))
    assert out == [("t", None, "ValueError: bad toy")]
