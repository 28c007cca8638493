"""Toy campaigns: deterministic tasks, executors (in-process | local processes | Dask), a store.

A campaign is a list of :class:`Task` (e.g. one chunk of toys at one WIMP mass and one tested
signal strength) and a task function ``fn(context, params, seed) -> DataFrame``. Every task
draws its random numbers from its own ``numpy.random.SeedSequence(campaign_seed,
spawn_key=hash(task_id))`` (:func:`task_seed`), so results do not depend on the executor, the
number of workers, the order in which tasks finish, or on interruptions.

Results go to a :class:`ChunkStore`: one Parquet file per finished task (written to a
temporary name, then renamed) and an append-only manifest line naming it, written after the
file. A campaign interrupted at any point (driver killed, worker killed, machine rebooted)
resumes with :func:`run_campaign` ``resume=True``: finished tasks are skipped, a half-written
chunk is never listed, and every task appears in the result exactly once.

Executors (:func:`make_executor`):

* ``"inprocess"``: a plain loop (tiny jobs, debugging);
* ``"local"``: ``concurrent.futures.ProcessPoolExecutor`` with spawned workers (JAX must not
  be forked); a worker that dies breaks the pool, which is rebuilt and its tasks resubmitted;
* ``"dask"``: a ``dask.distributed`` Client: a LocalCluster by default, or any scheduler
  address (e.g. a SLURM/HTCondor cluster started with dask-jobqueue). Dask reschedules the
  tasks of a worker that dies.

The shared ``context`` (e.g. event pools) is sent once per worker (pool initializer, or a
broadcast ``scatter`` for Dask), not once per task. A task that raises is retried
``retries`` times; if it still fails, the campaign finishes the other tasks, then raises
:class:`CampaignError` naming it (a later resume retries it).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from darkfit._errors import DarkfitInputError, bad_value

TaskFn = Callable[[Any, dict, np.random.SeedSequence], pd.DataFrame]


class CampaignError(RuntimeError):
    """Some tasks failed after all retries (the others are stored; resume retries these)."""


@dataclass(frozen=True)
class Task:
    """One unit of work: a unique JSON-able ``key`` and JSON-able ``params`` for the function."""

    key: tuple
    params: dict = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return json.dumps(list(self.key), separators=(",", ":"))


def task_seed(campaign_seed: int, task_id: str) -> np.random.SeedSequence:
    """SeedSequence of a task: the campaign seed, spawned along a hash of the task id."""
    words = np.frombuffer(hashlib.sha256(task_id.encode()).digest()[:16], dtype="<u4")
    return np.random.SeedSequence(int(campaign_seed), spawn_key=tuple(int(w) for w in words))


# ---------------------------------------------------------------------- executors
Outcome = tuple[str, pd.DataFrame | None, str | None]  # (task_id, result, error)


class Executor(Protocol):
    """Runs ``fn(context, params, seed)`` over jobs, yielding outcomes as they finish."""

    def run(self, fn: TaskFn, context: Any, jobs: Sequence[tuple]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


def _guarded(fn: TaskFn, context: Any, task_id: str, params: dict, seed) -> Outcome:
    try:
        return task_id, fn(context, params, seed), None
    except Exception as exc:  # reported, retried, never silently dropped
        return task_id, None, f"{type(exc).__name__}: {exc}"


class InProcessExecutor:
    """Runs tasks one after the other in this process."""

    def run(self, fn, context, jobs):
        for task_id, params, seed in jobs:
            yield _guarded(fn, context, task_id, params, seed)

    def close(self) -> None:
        pass


_WORKER: dict = {}


def _init_worker(fn, context) -> None:
    _WORKER["fn"], _WORKER["context"] = fn, context


def _local_call(task_id, params, seed) -> Outcome:
    return _guarded(_WORKER["fn"], _WORKER["context"], task_id, params, seed)


class LocalExecutor:
    """A pool of spawned processes on this machine (``n_workers`` default: CPU count)."""

    def __init__(self, n_workers: int | None = None, max_pool_restarts: int = 5):
        self.n_workers = n_workers or os.cpu_count() or 1
        self.max_pool_restarts = max_pool_restarts

    def run(self, fn, context, jobs):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        pending = {j[0]: j for j in jobs}
        restarts = 0
        while pending:
            pool = ProcessPoolExecutor(
                self.n_workers, mp.get_context("spawn"), _init_worker, (fn, context)
            )
            futures = [pool.submit(_local_call, *j) for j in pending.values()]
            try:
                for fut in as_completed(futures):
                    out = fut.result()
                    pending.pop(out[0], None)
                    yield out
            except BrokenProcessPool:
                restarts += 1
                if restarts > self.max_pool_restarts:
                    for task_id in list(pending):
                        yield task_id, None, "worker process died repeatedly"
                    pending.clear()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


class DaskExecutor:
    """A ``dask.distributed`` client: a new LocalCluster, or a running scheduler's address."""

    def __init__(self, address: str | None = None, n_workers: int = 2, **cluster_kwargs):
        from distributed import Client, LocalCluster

        if address:
            self.cluster, self.client = None, Client(address)
        else:
            kw = dict(n_workers=n_workers, threads_per_worker=1, dashboard_address=None)
            self.cluster = LocalCluster(**{**kw, **cluster_kwargs})
            self.client = Client(self.cluster)

    def run(self, fn, context, jobs):
        from distributed import as_completed

        ctx = self.client.scatter(context, broadcast=True)
        futures = [
            self.client.submit(_guarded, fn, ctx, *j, key=f"task-{_short(j[0])}", pure=False)
            for j in jobs
        ]
        by_key = {f.key: j[0] for f, j in zip(futures, jobs, strict=True)}
        for fut in as_completed(futures):
            try:
                out = fut.result()
            except Exception as exc:  # e.g. KilledWorker after repeated worker deaths
                out = (by_key[fut.key], None, f"{type(exc).__name__}: {exc}")
            fut.release()
            yield out

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _short(task_id: str) -> str:
    return hashlib.sha256(task_id.encode()).hexdigest()[:16]


def make_executor(
    kind: str = "local", *, n_workers: int | None = None, scheduler: str | None = None
) -> Executor:
    """``"inprocess"``, ``"local"`` (processes) or ``"dask"`` (LocalCluster or ``scheduler``)."""
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "local":
        return LocalExecutor(n_workers)
    if kind == "dask":
        return DaskExecutor(scheduler, n_workers or 2)
    raise bad_value("executor", kind, "'local', 'dask' or 'inprocess'")


# ---------------------------------------------------------------------- the store
class ChunkStore:
    """A directory of Parquet chunks (one per finished task) and an append-only manifest.

    ``config`` (JSON-able) describes the campaign; reopening a store with a different config
    is refused, so chunks of different campaigns never mix.
    """

    def __init__(self, path: str | Path, config: dict):
        self.path = Path(path)
        self.config = json.loads(json.dumps(config, sort_keys=True, default=str))
        cfg = self.path / "campaign.json"
        if cfg.exists():
            old = json.loads(cfg.read_text())
            if old != self.config:
                diff = sorted(
                    k for k in set(old) | set(self.config) if old.get(k) != self.config.get(k)
                )
                raise DarkfitInputError(
                    f"store {self.path} holds a campaign with a different configuration "
                    f"(differs in {diff}): use another output directory"
                )
        else:
            (self.path / "chunks").mkdir(parents=True, exist_ok=True)
            cfg.write_text(json.dumps(self.config, sort_keys=True, indent=1))

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.jsonl"

    def finished(self) -> dict[str, dict]:
        """{task_id: manifest entry} of the tasks whose chunk is complete on disk."""
        out: dict[str, dict] = {}
        if not self.manifest.exists():
            return out
        for line in self.manifest.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut by an interruption
                continue
            if entry["task_id"] not in out and (self.path / entry["file"]).exists():
                out[entry["task_id"]] = entry
        return out

    def write(self, task_id: str, df: pd.DataFrame) -> None:
        """Store one finished task: chunk file first (atomic rename), then its manifest line."""
        name = f"chunks/{_short(task_id)}.parquet"
        tmp = self.path / (name + ".tmp")
        df.to_parquet(tmp, index=False)
        tmp.replace(self.path / name)
        line = json.dumps({"task_id": task_id, "file": name, "rows": len(df)}) + "\n"
        with open(self.manifest, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, task_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """All stored rows (in the order of ``task_ids`` when given), with a ``task_id`` column."""
        done = self.finished()
        ids = list(done) if task_ids is None else [t for t in task_ids if t in done]
        frames = [pd.read_parquet(self.path / done[t]["file"]).assign(task_id=t) for t in ids]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ---------------------------------------------------------------------- running
def run_campaign(
    fn: TaskFn,
    tasks: Sequence[Task],
    store: ChunkStore,
    *,
    context: Any = None,
    seed: int = 0,
    executor: Executor | None = None,
    resume: bool = True,
    retries: int = 2,
    show_progress: bool = False,
    on_chunk: Callable[[str, int], None] | None = None,
    description: str = "toy campaign",
) -> pd.DataFrame:
    """Run the tasks not yet in ``store`` and return all results (in task order).

    ``resume=False`` refuses a store that already holds finished tasks. ``on_chunk(task_id,
    n_done)`` is called after each chunk is stored.
    """
    ids = [t.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        raise bad_value("tasks", "duplicate keys", "unique task keys")
    done = store.finished()
    if done and not resume:
        raise DarkfitInputError(
            f"{store.path} already holds {len(done)} finished tasks of this campaign: pass "
            "--resume (resume=True) to continue it, or use another output directory"
        )
    todo = [t for t in tasks if t.task_id not in done]
    executor = executor or InProcessExecutor()
    errors: dict[str, str] = {}
    attempts = dict.fromkeys((t.task_id for t in todo), 0)
    with _progress(len(tasks), len(tasks) - len(todo), show_progress, description) as advance:
        while todo:
            jobs = [(t.task_id, t.params, task_seed(seed, t.task_id)) for t in todo]
            failed = []
            for task_id, df, err in executor.run(fn, context, jobs):
                if err is None:
                    store.write(task_id, df)
                    errors.pop(task_id, None)
                    advance()
                    if on_chunk is not None:
                        on_chunk(task_id, len(store.finished()))
                else:
                    attempts[task_id] += 1
                    errors[task_id] = err
                    if attempts[task_id] <= retries:
                        failed.append(task_id)
            todo = [t for t in todo if t.task_id in set(failed)]
    if errors:
        first = next(iter(errors.items()))
        raise CampaignError(
            f"{len(errors)} task(s) failed after {retries} retries, e.g. {first[0]}: {first[1]} "
            "(the other tasks are stored; run again with resume to retry)"
        )
    return store.read(ids)


class _progress:
    """A rich progress bar with ETA over tasks (or a no-op); yields ``advance()``."""

    def __init__(self, total: int, done: int, show: bool, label: str):
        self.total, self.done, self.show, self.label = total, done, show, label

    def __enter__(self):
        if not self.show:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total, completed=self.done)
        self._t0 = time.monotonic()
        return lambda: self._bar.advance(task, 1)

    def __exit__(self, *exc):
        if self.show:
            self._bar.stop()
        return False


def poisson_demo_task(context: Any, params: dict, seed: np.random.SeedSequence) -> pd.DataFrame:
    """A cheap reference task for checking executors and stores: ``n_toys`` Poisson counts.

    ``params``: ``mu``, ``n_toys``, ``first_toy`` (global index of the first toy) and an
    optional ``sleep_s`` (to keep tasks in flight). The MLE of a Poisson mean is the count.
    """
    rng = np.random.default_rng(seed)
    n = rng.poisson(float(params["mu"]), size=int(params["n_toys"]))
    time.sleep(float(params.get("sleep_s", 0.0)))
    first = int(params.get("first_toy", 0))
    return pd.DataFrame({"toy": np.arange(first, first + n.size), "n": n, "mu_hat": n * 1.0})


__all__ = [
    "CampaignError",
    "ChunkStore",
    "DaskExecutor",
    "Executor",
    "InProcessExecutor",
    "LocalExecutor",
    "Task",
    "make_executor",
    "poisson_demo_task",
    "run_campaign",
    "task_seed",
]
