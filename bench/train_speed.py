"""Training speed: `partnerscore train` before and after training in parallel.

Run: .venv/bin/python bench/train_speed.py [--baseline bd80e5b] [--repeats 5] [--quick]

Measured side by side in one run, on this machine's cores:
1. end to end: `partnerscore simulate` writes 5,000 labelled rows once; `partnerscore
   train --format json` then trains on them in a fresh workspace each time, alternately
   with the baseline revision (extracted read-only with `git archive` into a temporary
   directory, run with the same Python and PYTHONPATH pointing at it) and with this tree.
   Twice: with the thread settings left to the libraries, and with OMP_NUM_THREADS=1 as
   in CI. Medians, the ratio new/baseline, and whether both chose the same model with
   the same metrics.
2. the rule for small data (`model.parallel.MIN_ROWS_FOR_WORKERS`): `train_model` alone
   at several sizes, in a fresh process each time so that the worker pool starts cold,
   in one process against two workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SETTINGS = {"library defaults": {}, "OMP_NUM_THREADS=1": {name: "1" for name in THREAD_VARIABLES}}
COMPARED = ("chosen", "candidates", "metrics", "backtest", "backtest_metrics")
GOAL = 0.7

TIME_TRAIN_MODEL = """
import dataclasses, sys, time
from pathlib import Path
import model.parallel
from model.training import train_model
from pipelines.settings import load_config
from pipelines.storage.readers import load_proposals
config = load_config()
proposals = load_proposals(Path(sys.argv[1]), config, labelled=True)
config = dataclasses.replace(config, model=dataclasses.replace(config.model, n_jobs=int(sys.argv[2])))
model.parallel.MIN_ROWS_FOR_WORKERS = 0
start = time.perf_counter()
train_model(proposals, config, seed=0)
print(time.perf_counter() - start)
"""


def environment(tree: Path, threads: dict[str, str]) -> dict[str, str]:
    """The caller's environment with `tree` first on the path and the thread settings given."""
    # Each run uses its own SQLite store, never a team server named in the environment.
    env = {k: v for k, v in os.environ.items()
           if k not in THREAD_VARIABLES and not k.startswith(("MLFLOW_TRACKING", "PARTNERSCORE_"))}
    return {**env, **threads, "PYTHONPATH": str(tree)}


def simulate(tree: Path, out: Path, rows: int, seed: int = 0) -> Path:
    """A labelled history of `rows` proposals over 10 periods, written by the real command."""
    subprocess.run([PY, "-m", "pipelines.cli", "simulate", "--out", str(out), "--periods", "10",
                    "--per-period", str(rows // 10), "--seed", str(seed)],
                   cwd=tree, env=environment(tree, {}), check=True, capture_output=True)
    return out


def train_once(tree: Path, data: Path, scratch: Path,
               threads: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Seconds for one `partnerscore train` in a fresh workspace, and its JSON summary."""
    workspace = Path(tempfile.mkdtemp(prefix="ws-", dir=scratch))
    command = [PY, "-m", "pipelines.cli", "--workspace", str(workspace), "train", "--data",
               str(data), "--format", "json"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=environment(tree, threads),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"training failed in {tree}:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def end_to_end(trees: dict[str, Path], data: Path, scratch: Path, repeats: int,
               threads: dict[str, str]) -> dict[str, Any]:
    """Alternating runs of each tree (the first to run swaps every repeat)."""
    times: dict[str, list[float]] = {name: [] for name in trees}
    documents: dict[str, dict[str, Any]] = {}
    for repeat in range(repeats):
        order = list(trees) if repeat % 2 == 0 else list(reversed(trees))
        for name in order:
            seconds, documents[name] = train_once(trees[name], data, scratch, threads)
            times[name].append(seconds)
            print(f"  {name:8s} run {repeat + 1}: {seconds:6.1f} s", flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    same = all(json.dumps(documents["baseline"][k], sort_keys=True)
               == json.dumps(documents["new"][k], sort_keys=True) for k in COMPARED)
    return {"times": times, "medians": medians, "ratio": medians["new"] / medians["baseline"],
            "same_results": same, "chosen": documents["new"]["chosen"]}


def size_rule(tree: Path, scratch: Path, sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    """`train_model` seconds in one process and with two cold-started workers, by size."""
    rows = []
    for size in sizes:
        data = simulate(tree, scratch / f"history-{size}.csv", size)
        times: dict[int, list[float]] = {1: [], 2: []}
        for repeat in range(repeats):
            for n_jobs in ((1, 2) if repeat % 2 == 0 else (2, 1)):
                done = subprocess.run([PY, "-c", TIME_TRAIN_MODEL, str(data), str(n_jobs)],
                                      cwd=tree, env=environment(tree, SETTINGS["OMP_NUM_THREADS=1"]),
                                      check=True, capture_output=True, text=True)
                times[n_jobs].append(float(done.stdout.split()[-1]))
        one, two = statistics.median(times[1]), statistics.median(times[2])
        rows.append({"rows": size, "one_process": one, "two_workers": two, "ratio": two / one})
        print(f"  {size:5d} rows: one process {one:6.2f} s, two workers {two:6.2f} s "
              f"({two / one:.2f}x)", flush=True)
    return rows


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def parallel_capacity(work: int = 5_000_000) -> float:
    """How many times faster two processes finish four equal CPU-bound tasks than one
    process does: 2.0 when two cores are free, 1.0 when other work holds one of them."""
    from joblib import Parallel, delayed

    Parallel(n_jobs=2)(delayed(_spin)(1) for _ in range(2))  # start the workers first
    start = time.perf_counter()
    for _ in range(4):
        _spin(work)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    Parallel(n_jobs=2)(delayed(_spin)(work) for _ in range(4))
    return alone / (time.perf_counter() - start)


def baseline_tree(revision: str, scratch: Path) -> Path:
    """The baseline revision's files, extracted without touching the repository's state."""
    tree = scratch / f"baseline-{revision}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]],
           sizes: list[dict[str, Any]], load: tuple[list[float], list[float]],
           capacity: tuple[float, float]) -> str:
    """The results file in Markdown."""
    import joblib

    lines = ["# Training speed", "",
             f"Command: `{' '.join(['.venv/bin/python', 'bench/train_speed.py', *sys.argv[1:]])}`",
             "", f"Machine: {joblib.cpu_count()} cores ({platform.processor() or platform.machine()}),"
             f" Python {platform.python_version()}; load average "
             f"{' '.join(f'{x:.1f}' for x in load[0])} at the start, "
             f"{' '.join(f'{x:.1f}' for x in load[1])} at the end. The machine is shared: two "
             "CPU-bound processes ran four equal tasks "
             f"{capacity[0]:.2f}x / {capacity[1]:.2f}x as fast as one process at the start / "
             "end (2.0 = two free cores).",
             "", f"## `partnerscore train` on {args.rows:,} simulated rows, end to end", "",
             f"Baseline: revision `{args.baseline}`; new: this tree. {args.repeats} runs each, "
             "alternating, fresh workspace every run. Goal: new <= "
             f"{GOAL}x baseline.", "",
             "| threads | baseline median (s) | new median (s) | new / baseline | goal | "
             "same model and metrics |", "|---|---|---|---|---|---|"]
    for setting, r in results.items():
        lines.append(f"| {setting} | {r['medians']['baseline']:.1f} | {r['medians']['new']:.1f} "
                     f"| {r['ratio']:.2f} | {'met' if r['ratio'] <= GOAL else 'not met'} | "
                     f"{'yes' if r['same_results'] else 'no'} ({r['chosen']}) |")
    lines += ["", "Every run (seconds):", ""]
    for setting, r in results.items():
        for name, times in r["times"].items():
            lines.append(f"- {setting}, {name}: {', '.join(f'{t:.1f}' for t in times)}")
    if sizes:
        lines += ["", "## In one process or with two workers, by size", "",
                  "`train_model` alone (shipped configuration, OMP_NUM_THREADS=1), each time "
                  "in a fresh process so that the workers start cold; medians of "
                  f"{args.size_repeats} runs.", "",
                  "| rows | one process (s) | two workers (s) | workers / one process |",
                  "|---|---|---|---|"]
        lines += [f"| {s['rows']:,} | {s['one_process']:.2f} | {s['two_workers']:.2f} | "
                  f"{s['ratio']:.2f} |" for s in sizes]
    return "\n".join(lines) + "\n"


def arguments() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="bd80e5b", help="revision to compare against")
    parser.add_argument("--new", type=Path, default=ROOT, help="tree with the new code")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5, help="end-to-end runs (0 to skip)")
    parser.add_argument("--sizes", default="120,300,600,1000,2000",
                        help="sizes for the small-data rule ('' to skip)")
    parser.add_argument("--size-repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 runs each, two sizes")
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "train_speed.md")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.size_repeats, args.sizes = 2, 2, "300,1000"
    return args


def main() -> None:
    """Run both parts, print the figures and write the results file."""
    sys.path.insert(0, str(BENCH))
    from results_file import write_report

    args = arguments()
    load_start, capacity_start = list(os.getloadavg()), parallel_capacity()
    print(f"parallel capacity at the start: {capacity_start:.2f}x (2.0 = two free cores)")
    with tempfile.TemporaryDirectory(prefix="partnerscore-train-speed-") as tmp:
        scratch = Path(tmp)
        trees = {"baseline": baseline_tree(args.baseline, scratch), "new": args.new.resolve()}
        data = simulate(trees["new"], scratch / "history.csv", args.rows)
        results = {}
        for setting, threads in (SETTINGS.items() if args.repeats else ()):
            print(f"partnerscore train, {args.rows} rows, {setting}:", flush=True)
            results[setting] = end_to_end(trees, data, scratch, args.repeats, threads)
            r = results[setting]
            print(f"  medians: baseline {r['medians']['baseline']:.1f} s, new "
                  f"{r['medians']['new']:.1f} s, ratio {r['ratio']:.2f} (goal <= {GOAL}); "
                  f"same model and metrics: {r['same_results']}", flush=True)
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        print("train_model, one process vs two workers (cold):", flush=True)
        by_size = size_rule(trees["new"], scratch, sizes, args.size_repeats) if sizes else []
    load_end, capacity_end = list(os.getloadavg()), parallel_capacity()
    print(f"parallel capacity at the end: {capacity_end:.2f}x")
    text = report(args, results, by_size, (load_start, load_end), (capacity_start, capacity_end))
    write_report(args.output, text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
