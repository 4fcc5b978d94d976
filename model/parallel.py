"""Independent fits run side by side in this process and worker processes, or here
alone when the work is small.

Cross-validation folds of every candidate, and backtest periods, do not depend on
one another. With `n_jobs` processes, this process runs tasks itself beside
`n_jobs - 1` workers of a reusable process pool (loky, shipped with joblib), each
taking the next task as it becomes free: a worker costs seconds of start-up (a fresh interpreter importing
numpy, pandas and scikit-learn), which this process, already started, does not. Nothing
here starts a process at import time: workers start with the first batch that needs
them, or earlier in the background when a job calls `Workers.start`, and are reused by
later batches.

Every fit runs with one BLAS/OpenMP thread, in the workers and in this process alike:
processes on the same cores must not each start a thread per core, and the arithmetic
(hence the chosen candidate, the metrics and the exported arrays) must not depend on
how many processes there are, nor on which one ran a task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from model.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from model.config import ModelSettings

Task = tuple[Callable[..., Any], tuple[Any, ...]]

# Worker start-up (a fresh interpreter importing numpy, pandas and scikit-learn) costs
# 2-4 s of CPU per worker, which the fits must repay. Measured with `train_model` on 2
# cores and a cold pool when two workers ran every fit (bench/results/train_speed.md,
# earlier runs): 0.75-0.84x the time of one process at 1,000-2,000 rows, 0.85-1.04x at
# 600 rows, and 2.5x at 120-300 rows. Two processes now start one worker, not two, so
# this threshold is if anything cautious. Below it training stays in this process;
# `model.training.workers_for` also keeps it here on little data, where only one
# candidate is cross-validated.
MIN_ROWS_FOR_WORKERS = 1000

# What a worker process's libraries read at start-up to use one thread each (joblib
# sets the same for its workers).
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                                     "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")}


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

    @classmethod
    def for_training(cls, rows: int, scarcer: int, settings: ModelSettings) -> Workers:
        """Workers for training on `rows` proposals with `scarcer` of the rarer outcome:
        none on little data, where only the safest candidate is cross-validated (a few
        quick fits), nor where their start-up would cost more than they save."""
        if scarcer < settings.comfortable_positives:
            return cls(1)
        return cls.for_rows(rows, settings.n_jobs)

    def start(self) -> None:
        """Start the worker processes in the background, so that their start-up overlaps
        whatever the caller does before the first batch (opening the tracking store)."""
        if self.n_jobs > 1:
            threading.Thread(target=_warm_up, args=(self,), name="partnerscore-workers",
                             daemon=True).start()

    def run(self, tasks: Iterable[Task], progress: Progress = NO_PROGRESS) -> list[Any]:
        """Results of every `function(*args)`, in task order, advancing `progress` per task.

        Tasks are taken in the given order, by whichever process is free first, so put
        the longest first; a generator of tasks is drawn only as processes become free.
        """
        if self.n_jobs <= 1 or (isinstance(tasks, Sized) and len(tasks) <= 1):
            return _run_here(tasks, progress)
        queue, progress = _Queue(tasks), _Serialised(progress)
        results: dict[int, Any] = {}
        feeder = threading.Thread(target=_feed_workers, args=(self.n_jobs - 1, queue, results,
                                                               progress), daemon=True)
        feeder.start()
        try:
            with single_threaded():
                for index, (function, args) in queue:
                    results[index] = function(*args)
                    progress.advance()
        except BaseException:
            queue.close()
            feeder.join()
            raise
        feeder.join()
        queue.raise_failure()
        return [results[i] for i in range(len(results))]

    def submit(self, tasks: list[Task]) -> Pending:
        """Start `tasks` on the worker processes and return at once, so that this process
        can do other work meanwhile; `Pending.results` waits for them. Without workers
        they run here, when their results are asked for."""
        if self.n_jobs <= 1:
            return Pending(lambda: _run_here(tasks, NO_PROGRESS), lambda: None)
        pool = _pool(self.n_jobs - 1)
        futures = [pool.submit(function, *args) for function, args in tasks]
        return Pending(lambda: [future.result() for future in futures], lambda: wait(futures))


class Pending:
    """Tasks started by `Workers.submit`."""

    def __init__(self, collect: Callable[[], list[Any]], settle: Callable[[], object]) -> None:
        self._collect, self._settle = collect, settle
        self._results: list[Any] | None = None

    def results(self) -> list[Any]:
        """Every task's result, in task order, once all are done (raises what a task raised)."""
        if self._results is None:
            self._results = self._collect()
        return self._results

    def settle(self) -> None:
        """Wait for the tasks already running, whatever they return or raise; tasks meant
        to run here are not run (for a caller that no longer needs them)."""
        if self._results is None:
            self._settle()


SERIAL = Workers(1)


def start_for_training(outcomes: Sequence[float], settings: ModelSettings) -> None:
    """Start, in the background, the workers a training on these outcomes (1: real impact,
    0: none) will use, none on small data (`Workers.for_training`), so that their
    start-up overlaps the caller's work. Cheap, and loads no scientific package: call
    it before loading them."""
    positives = int(sum(outcomes))
    scarcer = min(positives, len(outcomes) - positives)
    Workers.for_training(len(outcomes), scarcer, settings).start()


def _run_here(tasks: Iterable[Task], progress: Progress) -> list[Any]:
    results = []
    with single_threaded():
        for function, args in tasks:
            results.append(function(*args))
            progress.advance()
    return results


class _Queue:
    """Tasks with their index, taken one at a time by this process and the workers."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self._tasks = enumerate(tasks)
        self._lock = threading.Lock()
        self._closed = False
        self._failure: BaseException | None = None

    def __iter__(self) -> Iterator[tuple[int, Task]]:
        return self

    def __next__(self) -> tuple[int, Task]:
        with self._lock:  # a generator of tasks may be drawn from any thread
            if self._closed:
                raise StopIteration
            return next(self._tasks)

    def close(self, failure: BaseException | None = None) -> None:
        """Hand out no more tasks (keeping the first failure, if any)."""
        with self._lock:
            self._closed = True
            self._failure = self._failure or failure

    def raise_failure(self) -> None:
        """Raise what a worker's task raised, if one did."""
        if self._failure is not None:
            raise self._failure


def _feed_workers(workers: int, queue: _Queue, results: dict[int, Any],
                  progress: Progress) -> None:
    # Runs in a thread of this process while its own thread runs tasks. Two tasks per
    # worker are in flight, so that a worker never waits for this thread to send it
    # the next one.
    pool, running = _pool(workers), set[Future[tuple[int, Any]]]()
    try:
        while True:
            for index, (function, args) in islice(queue, 2 * workers - len(running)):
                running.add(pool.submit(_indexed, index, function, args))
            if not running:
                return
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index, value = future.result()
                results[index] = value
                progress.advance()
    except BaseException as failure:
        queue.close(failure)
        wait(running)


class _Serialised:
    """A `Progress` told of steps from two threads, one call at a time."""

    def __init__(self, progress: Progress) -> None:
        self._progress, self._lock = progress, threading.Lock()

    def stage(self, name: str, total: int) -> None:
        with self._lock:
            self._progress.stage(name, total)

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            self._progress.advance(steps)


def _pool(workers: int) -> Any:
    """The reusable pool of `workers` processes (started if need be), each limited to one
    BLAS/OpenMP thread; idle workers exit after five minutes, as joblib's do."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers, timeout=300, env=ONE_THREAD)


def _indexed(index: int, function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[int, Any]:
    return index, function(*args)


def _warm_up(workers: Workers) -> None:
    # A failure here is not reported: the first real batch starts the workers again,
    # or raises why it cannot.
    with suppress(Exception):
        pool = _pool(workers.n_jobs - 1)
        wait([pool.submit(_import_training) for _ in range(workers.n_jobs - 1)])


def _import_training() -> None:
    # scikit-learn and pandas are most of a worker's start-up
    import model.training  # noqa: F401
