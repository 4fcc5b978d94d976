"""`partnerscore decide` speed: the weak-signal report kept beside the store, or computed.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/decide.py [--repeats 5] [--rows 480 5000]
Writes bench/results/decide.md (`--output`).

For each store size (the sample history; a simulated history of 5,000 proposals), one
workspace is trained with `retrain` on its store, which leaves the store's weak-signal
report beside it. Then, interleaved so that machine noise hits each alike, cold
`decide` calls on the sample's 30 new proposals:
- uniform exploration (`--explore-rate 0.1` with `decide.directed_share: 0`): no report;
- directed exploration reading the kept report (the shipped configuration);
- directed exploration with the kept report deleted first: the report is computed.
Medians over the repeats, and each against uniform exploration.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import publish

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = [PY, "-m", "pipelines.cli"]
NEW = str(ROOT / "data/sample/new_proposals.csv")
VARIANTS = ("uniform", "kept", "computed")


def wall(command: list[str]) -> float:
    """Seconds a command takes, failing loudly if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, cwd=ROOT, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr}")
    return time.perf_counter() - start


def configs(directory: Path) -> dict[str, Path]:
    """The shipped configuration trimmed for training speed, and the same without directing."""
    import yaml

    from pipelines.settings import default_config_text

    raw = yaml.safe_load(default_config_text())
    raw["model"].update(cv_repeats=1, bootstrap_samples=20, backtest_periods=1)
    shipped = directory / "shipped.yaml"
    shipped.write_text(yaml.safe_dump(raw))
    raw["decide"]["directed_share"] = 0.0
    uniform = directory / "uniform.yaml"
    uniform.write_text(yaml.safe_dump(raw))
    return {"shipped": shipped, "uniform": uniform}


def workspace_of(rows: int, directory: Path, config: Path) -> tuple[Path, int]:
    """A workspace trained by `retrain` on a store of about `rows` labelled proposals."""
    if rows == 480:
        history = ROOT / "data/sample/history.csv"
    else:
        history = directory / f"history-{rows}.csv"
        subprocess.run([*CLI, "simulate", "--out", str(history), "--periods", "12",
                        "--per-period", str(-(-rows // 12)), "--seed", "7"],
                       check=True, capture_output=True, cwd=ROOT)
    workspace = directory / f"ws-{rows}"
    subprocess.run([*CLI, "--workspace", str(workspace), "--config", str(config), "retrain",
                    str(history)], check=True, capture_output=True, cwd=ROOT)
    stored = sum(1 for _ in history.open()) - 1
    return workspace, stored


def measure(workspace: Path, files: dict[str, Path], repeats: int) -> dict[str, float]:
    """Medians of the three decide calls, interleaved."""
    kept = workspace / "cache" / "weak-signals.json"
    base = [*CLI, "--workspace", str(workspace)]
    args = ["decide", NEW, "--capacity", "5", "--explore-rate", "0.1", "--seed", "1", "--again"]
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(repeats):
        times["uniform"].append(wall([*base, "--config", str(files["uniform"]), *args]))
        if not kept.is_file():
            raise RuntimeError(f"{kept} is missing: the kept report was not written")
        times["kept"].append(wall([*base, "--config", str(files["shipped"]), *args]))
        kept.unlink()
        times["computed"].append(wall([*base, "--config", str(files["shipped"]), *args]))
    return {v: statistics.median(t) for v, t in times.items()}


def main() -> None:
    """Build the workspaces, time the calls, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="+", default=[480, 5000])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "decide.md",
                        help="results file (its hand-written notes are kept)")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-decide-") as tmp:
        files = configs(Path(tmp))
        for size in args.rows:
            workspace, stored = workspace_of(size, Path(tmp), files["shipped"])
            times = measure(workspace, files, args.repeats)
            rows.append(f"| {stored:,} | {times['uniform']:.2f} s | {times['kept']:.2f} s "
                        f"({times['kept'] / times['uniform']:.2f}) | {times['computed']:.2f} s "
                        f"({times['computed'] / times['uniform']:.2f}) | "
                        f"{times['computed'] / times['kept']:.1f} |")
    text = "\n".join([
        "# decide: the weak-signal report kept beside the store",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/decide.py --repeats "
        f"{args.repeats}`",
        "",
        f"Cold `partnerscore decide` on the sample's 30 new proposals (capacity 5, explore rate "
        f"0.1), medians of {args.repeats} interleaved calls per store; in brackets, the ratio "
        f"to uniform exploration. Whole benchmark: "
        f"{(time.perf_counter() - started) / 60:.1f} min on 2 shared cores.",
        "",
        "| labelled proposals in the store | uniform exploration (no report) | directed, "
        "report kept by `retrain` | directed, report computed | computed ÷ kept |",
        "|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ])
    publish(text, args.output)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
