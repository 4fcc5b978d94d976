"""Training speed: `partnerscore train` before and after training in parallel.

Run: .venv/bin/python bench/train_speed.py [--baseline bd80e5b] [--repeats 5] [--quick]
     [--threads both|"library defaults"|OMP_NUM_THREADS=1]

Measured side by side in one run, on this machine's cores:
1. end to end: `partnerscore simulate` writes 5,000 labelled rows once; `partnerscore
   train --format json` then trains on them in a fresh workspace each time, in turn with
   the baseline revision (extracted read-only with `git archive` into a temporary
   directory, run with the same Python and PYTHONPATH pointing at it), with this tree,
   and with this tree told `model.n_jobs: 1`. Twice: with the thread settings left to
   the libraries, and with OMP_NUM_THREADS=1 as in CI. Medians, the ratios, and whether
   this tree's serial and parallel runs agree bit for bit (metrics, backtest and the
   exported model's arrays).
2. the rule for small data (`model.parallel.MIN_ROWS_FOR_WORKERS`): `train_model` alone
   at several sizes, in a fresh process each time so that the worker pool starts cold,
   in one process against two (this process and one worker).

The 1-minute load average is read before every run and reported with the figures:
other work on the machine slows every variant, the single-process baseline most.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SETTINGS = {"library defaults": {}, "OMP_NUM_THREADS=1": {name: "1" for name in THREAD_VARIABLES}}
COMPARED = ("chosen", "candidates", "metrics", "backtest", "backtest_metrics")
GOAL = 0.7
BASELINE, NEW, SERIAL = "baseline", "new", "new, n_jobs=1"

TIME_TRAIN_MODEL = """
import sys, time
from pathlib import Path
import model.training
from model.parallel import Workers
from pipelines.settings import load_config
from pipelines.storage.readers import load_proposals
config = load_config()
proposals = load_proposals(Path(sys.argv[1]), config, labelled=True)
n_jobs = int(sys.argv[2])
model.training.workers_for = lambda data, config: Workers(n_jobs)  # whatever the rule says
start = time.perf_counter()
model.training.train_model(proposals, config, seed=0)
print(time.perf_counter() - start)
"""


@dataclass(frozen=True)
class Variant:
    """A tree to train with, and the configuration file to give it (None: its own)."""

    tree: Path
    config: Path | None = None


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


def serial_config(tree: Path, scratch: Path) -> Path:
    """The tree's shipped configuration with `model.n_jobs: 1`."""
    import yaml

    raw = yaml.safe_load((tree / "pipelines" / "conf" / "partnerscore.yaml").read_text("utf-8"))
    raw["model"]["n_jobs"] = 1
    path = scratch / "serial.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
    return path


def train_once(variant: Variant, data: Path, scratch: Path,
               threads: dict[str, str]) -> tuple[float, dict[str, Any], Path]:
    """Seconds for one `partnerscore train` in a fresh workspace, its JSON summary, the workspace."""
    workspace = Path(tempfile.mkdtemp(prefix="ws-", dir=scratch))
    config = ["--config", str(variant.config)] if variant.config else []
    command = [PY, "-m", "pipelines.cli", "--workspace", str(workspace), *config, "train",
               "--data", str(data), "--format", "json"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=variant.tree, env=environment(variant.tree, threads),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"training failed in {variant.tree}:\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout), workspace


def exported(workspace: Path) -> tuple[str, dict[str, bytes]]:
    """The exported champion's description and the bytes of each of its arrays."""
    import numpy as np

    champion = workspace / "champion"
    with np.load(champion / "arrays.npz", allow_pickle=False) as arrays:
        values = {name: arrays[name].tobytes() for name in arrays.files}
    return (champion / "model.json").read_text("utf-8"), values


def same_results(first: tuple[dict[str, Any], Path], second: tuple[dict[str, Any], Path],
                 *, model: bool) -> bool:
    """Whether two runs reported the same figures (and, with `model`, exported the same model)."""
    figures = all(json.dumps(first[0][k], sort_keys=True) == json.dumps(second[0][k], sort_keys=True)
                  for k in COMPARED)
    return figures and (not model or exported(first[1]) == exported(second[1]))


def end_to_end(variants: dict[str, Variant], data: Path, scratch: Path, repeats: int,
               threads: dict[str, str]) -> dict[str, Any]:
    """Runs of every variant in turn; the one that goes first rotates every repeat."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    loads: list[float] = []
    last: dict[str, tuple[dict[str, Any], Path]] = {}
    names = list(variants)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            loads.append(os.getloadavg()[0])
            seconds, document, workspace = train_once(variants[name], data, scratch, threads)
            times[name].append(seconds)
            last[name] = (document, workspace)
            print(f"  {name:14s} run {repeat + 1}: {seconds:6.1f} s (load {loads[-1]:.1f})",
                  flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {"times": times, "medians": medians, "ratio": medians[NEW] / medians[BASELINE],
            "loads": loads,
            "parallel_ratio": medians[NEW] / medians[SERIAL],
            "identical": same_results(last[NEW], last[SERIAL], model=True),
            "as_baseline": same_results(last[NEW], last[BASELINE], model=False),
            "chosen": {name: last[name][0]["chosen"] for name in (BASELINE, NEW)}}


def size_rule(tree: Path, scratch: Path, sizes: list[int], repeats: int) -> list[dict[str, Any]]:
    """`train_model` seconds in one process and in two (this one and a cold-started
    worker), by size."""
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
        print(f"  {size:5d} rows: one process {one:6.2f} s, two processes {two:6.2f} s "
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


def _machine(load: tuple[list[float], list[float]], capacity: tuple[float, float]) -> str:
    import joblib

    def avg(x: list[float]) -> str:
        return " ".join(f"{v:.1f}" for v in x)

    return (f"Machine: {joblib.cpu_count()} cores ({platform.machine()}), Python "
            f"{platform.python_version()}; load average {avg(load[0])} at the start, "
            f"{avg(load[1])} at the end. The machine is shared: two CPU-bound processes ran "
            f"four equal tasks {capacity[0]:.2f}x / {capacity[1]:.2f}x as fast as one process "
            "at the start / end (2.0 = two free cores).")


def _loads(results: dict[str, dict[str, Any]]) -> str:
    """The load averages read before the runs, per thread setting."""
    parts = [f"{setting}: median {statistics.median(r['loads']):.1f} "
             f"({min(r['loads']):.1f}-{max(r['loads']):.1f})" for setting, r in results.items()]
    return "1-minute load average before each run: " + "; ".join(parts) + "."


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]],
           sizes: list[dict[str, Any]], machine: str) -> str:
    """The results file in Markdown."""
    lines = ["# Training speed", "",
             f"Command: `{' '.join(['.venv/bin/python', 'bench/train_speed.py', *sys.argv[1:]])}`",
             "", machine, "", f"## `partnerscore train` on {args.rows:,} simulated rows, end to end",
             "", f"Baseline: revision `{args.baseline}`; new: this tree; {SERIAL}: this tree with "
             f"`model.n_jobs: 1`. {args.repeats} runs each, in turn, a fresh workspace every run. "
             f"Goal: new <= {GOAL}x baseline.", "", _loads(results), "",
             "| threads | baseline (s) | new (s) | new, n_jobs=1 (s) | new / baseline | goal | "
             "new / n_jobs=1 | parallel and serial identical | chosen (baseline; new) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for setting, r in results.items():
        m = r["medians"]
        lines.append(f"| {setting} | {m[BASELINE]:.1f} | {m[NEW]:.1f} | {m[SERIAL]:.1f} | "
                     f"{r['ratio']:.2f} | {'met' if r['ratio'] <= GOAL else 'not met'} | "
                     f"{r['parallel_ratio']:.2f} | {'yes' if r['identical'] else 'NO'} | "
                     f"{r['chosen'][BASELINE]}; {r['chosen'][NEW]} |")
    lines += ["", "Medians; every run (seconds):", ""]
    for setting, r in results.items():
        for name, times in r["times"].items():
            lines.append(f"- {setting}, {name}: {', '.join(f'{t:.1f}' for t in times)}")
    if sizes:
        lines += ["", "## In one process or two, by size", "",
                  "`train_model` alone (shipped configuration, OMP_NUM_THREADS=1), each time in "
                  "a fresh process so that the worker starts cold; two processes: this one and "
                  f"one worker. Medians of {args.size_repeats} runs.", "",
                  "| rows | one process (s) | two processes (s) | two / one |",
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
    parser.add_argument("--threads", choices=["both", *SETTINGS], default="both",
                        help="thread settings to run end to end (default: both)")
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
        new = args.new.resolve()
        variants = {BASELINE: Variant(baseline_tree(args.baseline, scratch)), NEW: Variant(new),
                    SERIAL: Variant(new, serial_config(new, scratch))}
        data = simulate(new, scratch / "history.csv", args.rows)
        results = {}
        chosen = {k: v for k, v in SETTINGS.items() if args.threads in ("both", k)}
        for setting, threads in (chosen.items() if args.repeats else ()):
            print(f"partnerscore train, {args.rows} rows, {setting}:", flush=True)
            r = results[setting] = end_to_end(variants, data, scratch, args.repeats, threads)
            print("  medians: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["medians"].items())
                  + f"; new / baseline {r['ratio']:.2f} (goal <= {GOAL}); new / n_jobs=1 "
                  f"{r['parallel_ratio']:.2f}; parallel and serial identical: {r['identical']}",
                  flush=True)
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        print("train_model, one process vs two (cold worker):", flush=True)
        by_size = size_rule(new, scratch, sizes, args.size_repeats) if sizes else []
    load_end, capacity_end = list(os.getloadavg()), parallel_capacity()
    print(f"parallel capacity at the end: {capacity_end:.2f}x")
    machine = _machine((load_start, load_end), (capacity_start, capacity_end))
    write_report(args.output, report(args, results, by_size, machine))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
