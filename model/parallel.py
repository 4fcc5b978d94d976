"""Independent fits run side by side in worker processes, or here when the work is small.

Cross-validation folds of every candidate, and backtest periods, do not depend on
one another, so they run through joblib's process pool (loky). Nothing here starts a
process at import time: workers start with the first batch that needs them, or earlier
in the background when a job calls `Workers.start`, and are reused by later batches.

Every fit runs with one BLAS/OpenMP thread, in the workers and in this process alike:
two workers on two cores must not each start a thread per core, and the arithmetic
(hence the chosen candidate, the metrics and the exported arrays) must not depend on
how many workers there are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from model.progress import NO_PROGRESS, Progress

Task = tuple[Callable[..., Any], tuple[Any, ...]]

# Worker start-up (a fresh interpreter importing numpy, pandas and scikit-learn) costs
# 2-4 s of CPU per worker, which the fits must repay. Measured with `train_model` on 2
# cores and a cold pool (bench/results/train_speed.md): two workers took 0.75-0.84x the
# time of one process at 1,000-2,000 rows, 0.85-1.04x at 600 rows, and 2.5x at 120-300
# rows. Below this many rows training stays in this process; `model.training.workers_for`
# also keeps it here on little data, where only one candidate is cross-validated.
MIN_ROWS_FOR_WORKERS = 1000


def worker_count(setting: int | None) -> int:
    """Workers for an `n_jobs` setting: None means every core, negatives count back from it."""
    from joblib import cpu_count, effective_n_jobs

    return cpu_count() if setting is None else max(1, effective_n_jobs(setting))


@contextmanager
def single_threaded() -> Iterator[None]:
    """Limit BLAS and OpenMP in this process to one thread, as in the workers."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@dataclass(frozen=True)
class Workers:
    """How many processes run a batch of independent tasks (1: in this process)."""

    n_jobs: int = 1

    @classmethod
    def for_rows(cls, rows: int, setting: int | None) -> Workers:
        """Workers for training on `rows` proposals: none when start-up would not pay."""
        return cls(worker_count(setting) if rows >= MIN_ROWS_FOR_WORKERS else 1)

    def start(self) -> None:
        """Start the worker processes in the background, so that their start-up overlaps
        whatever the caller does before the first batch (opening the tracking store)."""
        if self.n_jobs > 1:
            threading.Thread(target=_warm_up, args=(self,), name="partnerscore-workers",
                             daemon=True).start()

    def run(self, tasks: Iterable[Task], progress: Progress = NO_PROGRESS) -> list[Any]:
        """Results of every `function(*args)`, in task order, advancing `progress` per task.

        Tasks are dispatched in the given order, so put the longest first; a generator
        of tasks is drawn only as workers become free.
        """
        if self.n_jobs <= 1 or (isinstance(tasks, Sized) and len(tasks) <= 1):
            return _run_here(tasks, progress)
        from joblib import Parallel, delayed, parallel_config

        results: dict[int, Any] = {}
        # Arrays go to the workers pickled, not memory-mapped: they are small, and
        # the fits then see ordinary writable arrays as they do in this process.
        with parallel_config(backend="loky", inner_max_num_threads=1, max_nbytes=None):
            # Unordered, so that progress moves as each task finishes; the index puts
            # every result back in its place whatever the order of completion.
            parallel = Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")
            for index, value in parallel(delayed(_indexed)(i, function, args)
                                         for i, (function, args) in enumerate(tasks)):
                results[index] = value
                progress.advance()
        return [results[i] for i in range(len(results))]


SERIAL = Workers(1)


def _run_here(tasks: Iterable[Task], progress: Progress) -> list[Any]:
    results = []
    with single_threaded():
        for function, args in tasks:
            results.append(function(*args))
            progress.advance()
    return results


def _indexed(index: int, function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[int, Any]:
    return index, function(*args)


def _warm_up(workers: Workers) -> None:
    # A failure here is not reported: the first real batch starts the workers again,
    # or raises why it cannot.
    with suppress(Exception):
        workers.run([(_import_training, ())] * workers.n_jobs)


def _import_training() -> None:
    # scikit-learn and pandas are most of a worker's start-up
    import model.training  # noqa: F401
