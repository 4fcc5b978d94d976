"""Run every benchmark under bench/ in turn; each prints its own figures.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/run_all.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ("predict.py", "decide.py", "quality.py", "cold_start.py", "selection_bias.py", "surprises.py",
           "pairs.py", "directed_exploration.py", "train_speed.py", "shap_check.py", "fuzz.py",
           "kill.py", "serve.py", "look_back.py", "auc_interval.py", "drift.py")


def main() -> int:
    """Run each benchmark; the exit status is the number that failed."""
    quick = "--quick" in sys.argv[1:]
    failed = 0
    for script in SCRIPTS:
        if not (BENCH / script).exists():
            continue
        print(f"== bench/{script}", flush=True)
        args = ["--quick"] if quick and script in ("quality.py", "cold_start.py", "selection_bias.py",
                                                   "surprises.py", "pairs.py",
                                                   "directed_exploration.py",
                                                   "train_speed.py", "auc_interval.py",
                                                   "drift.py") else []
        failed += subprocess.run([sys.executable, str(BENCH / script), *args],
                                 cwd=BENCH.parent).returncode != 0
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
