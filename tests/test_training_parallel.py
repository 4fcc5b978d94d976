"""Training in worker processes: the same model as in one process, and no workers when small."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

import model.parallel
from model.config import Config
from model.parallel import MIN_ROWS_FOR_WORKERS, Workers, worker_count
from model.selection import TrainingData
from model.training import TrainingResult, train_model, workers_for

ROOT = Path(__file__).resolve().parent.parent


def _settings(config: Config, *, kind: str, n_jobs: int) -> Config:
    settings = dataclasses.replace(config.model, candidates=(kind,), cv_repeats=2,
                                   bootstrap_samples=30, backtest_periods=3, n_jobs=n_jobs)
    return dataclasses.replace(config, model=settings)


def _exported(result: TrainingResult) -> tuple[str, dict[str, bytes]]:
    meta, arrays = result.model.to_parts()
    return (json.dumps(meta, sort_keys=True, default=str),
            {name: np.ascontiguousarray(a).tobytes() for name, a in arrays.items()})


def _figures(result: TrainingResult) -> str:
    # repr keeps every float digit and tells nan apart from a number
    return repr((result.chosen, result.candidates, result.metrics, result.backtest,
                 result.backtest_metrics, result.importance, result.reliability))


@pytest.mark.parametrize("kind", ["bayes_logistic", "logistic", "boosted_trees"])
def test_workers_train_the_same_model_bit_for_bit(history: pd.DataFrame, config: Config,
                                                  kind: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model.parallel, "MIN_ROWS_FOR_WORKERS", 0)
    started = []
    real_run = Workers.run

    def counted(self: Workers, tasks: Any, progress: Any = model.parallel.NO_PROGRESS) -> Any:
        started.append(self.n_jobs)
        return real_run(self, tasks, progress)

    monkeypatch.setattr(Workers, "run", counted)
    alone = train_model(history, _settings(config, kind=kind, n_jobs=1), seed=3)
    assert set(started) == {1}
    started.clear()
    together = train_model(history, _settings(config, kind=kind, n_jobs=2), seed=3)
    # (a task this process takes may run a serial batch of its own, as a worker's does)
    assert started[0] == 2, "the second training must have used two processes"
    assert _figures(together) == _figures(alone)
    assert _exported(together) == _exported(alone)
    assert together.oof_probability.tobytes() == alone.oof_probability.tobytes()


def test_small_data_trains_without_starting_workers(history: pd.DataFrame, config: Config,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(history) < MIN_ROWS_FOR_WORKERS

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker pool was started for a small training")

    monkeypatch.setattr(model.parallel, "_pool", refuse)
    quick = _settings(config, kind="logistic", n_jobs=2)
    assert train_model(history, quick, seed=0).chosen.kind == "logistic"


def test_worker_count_follows_n_jobs_and_data_size() -> None:
    cores = joblib.cpu_count()
    assert worker_count(None) == cores
    assert worker_count(-1) == cores
    assert worker_count(1) == 1
    assert worker_count(3) == 3
    assert Workers.for_rows(MIN_ROWS_FOR_WORKERS - 1, 4).n_jobs == 1
    assert Workers.for_rows(MIN_ROWS_FOR_WORKERS, 4).n_jobs == 4


def test_scarce_outcomes_keep_training_in_process_however_many_rows(config: Config) -> None:
    two = dataclasses.replace(config, model=dataclasses.replace(config.model, n_jobs=2))
    rows = 2 * MIN_ROWS_FOR_WORKERS
    comfortable = config.model.comfortable_positives

    def data(positives: int) -> TrainingData:
        y = np.r_[np.ones(positives), np.zeros(rows - positives)]
        return TrainingData(pd.DataFrame(index=range(rows)), y, np.ones(rows),
                            np.full(rows, "2025-01"))

    assert workers_for(data(comfortable - 1), two).n_jobs == 1
    assert workers_for(data(comfortable), two).n_jobs == 2


def test_results_come_back_in_task_order_whatever_finishes_first() -> None:
    delays = [0.5, 0.0, 0.3, 0.0]
    tasks = [(_sleep_then_return, (delay, i)) for i, delay in enumerate(delays)]
    assert Workers(2).run(tasks) == Workers(1).run(tasks) == [0, 1, 2, 3]


def test_workers_started_early_serve_the_next_batch() -> None:
    workers = Workers(2)
    workers.start()  # returns at once; the batch below may overlap the start-up
    tasks = [(_sleep_then_return, (0.0, i)) for i in range(8)]
    assert workers.run(tasks) == list(range(8))


def _sleep_then_return(delay: float, value: int) -> int:
    import time

    time.sleep(delay)
    return value


def test_importing_the_model_layer_starts_no_process_or_thread() -> None:
    code = ("import os, threading\n"
            "import model.training, model.selection, model.parallel, model.progress\n"
            "children = f'/proc/{os.getpid()}/task/{os.getpid()}/children'\n"
            "kids = open(children).read().split() if os.path.exists(children) else []\n"
            "print(len(kids), threading.active_count())\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["0", "1"]
