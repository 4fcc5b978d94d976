"""Cost of checking every trained model's explanations against shap, at 5,000 training rows.

At each training, `model.shap_check.verify_training_explanations` explains the training
rows with shap's own explainer (LinearExplainer or TreeExplainer), compares them with
the exported model's, and summarises them for the model report. Per seed, side by side
on the same validated simulated history:

- per configured candidate family (logistic C=0.3 and each boosted-tree setting): the
  final fit and export the check follows, and the check itself;
- the whole domain training (`train_model`: selection, calibration, backtest) and the
  check of the model it chose, which is what `partnerscore train` adds;
- the one-off `import shap` in a fresh interpreter (a training process pays it once).

    OMP_NUM_THREADS=1 .venv/bin/python bench/shap_check.py            # 5 seeds, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/shap_check.py --seeds 0 --no-training
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import shap  # noqa: F401  (imported up front: the figures below exclude the one-off import)
from quality import markdown_table, simulated, validated
from results_file import write_report

from model.calibration import Platt
from model.config import Config
from model.estimators import CandidateSpec
from model.selection import fit_margin, prepare
from model.shap_check import verify_training, verify_training_explanations
from model.training import train_model
from pipelines.settings import load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "shap_check.md"
ROWS, PERIODS, SEEDS = 5000, 10, (0, 1, 2, 3, 4)


def candidates(config: Config) -> list[CandidateSpec]:
    """One logistic candidate and every configured boosted-tree setting."""
    return [CandidateSpec("logistic", {"C": 0.3}),
            *(CandidateSpec("boosted_trees", dict(p)) for p in config.model.boosted_trees)]


def time_candidates(config: Config, seed: int, rows: int) -> dict[str, tuple[float, float, float]]:
    """Per candidate: seconds to fit and export, seconds to check, and the largest gap found."""
    data = prepare(validated(simulated(rows, seed, PERIODS)[0], config), config)
    out = {}
    for spec in candidates(config):
        started = time.perf_counter()
        encoder, fitted, X = fit_margin(spec, data.proposals, data.y, data.weights, config, seed)
        model = fitted.to_scoring_model(encoder, X, Platt(1.0, 0.0))
        fitted_at = time.perf_counter()
        explained = verify_training_explanations(model, fitted, data.proposals, seed=seed)
        out[spec.name] = (fitted_at - started, time.perf_counter() - fitted_at,
                          explained.summary.max_difference)
    return out


def time_training(config: Config, seed: int, rows: int) -> tuple[float, float, str]:
    """Seconds of `train_model`, seconds of the check of its model, and the chosen candidate."""
    proposals = validated(simulated(rows, seed, PERIODS)[0], config)
    started = time.perf_counter()
    result = train_model(proposals, config, seed=seed)
    trained_at = time.perf_counter()
    verify_training(result, proposals)
    return trained_at - started, time.perf_counter() - trained_at, result.chosen.name


def cold_shap_import(repeats: int = 3) -> float:
    """Median seconds of `import shap` in a fresh interpreter (numpy and pandas already loaded)."""
    code = ("import numpy, pandas, sklearn.ensemble, time; t = time.perf_counter(); import shap; "
            "print(time.perf_counter() - t)")
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                                  text=True, check=True).stdout.split()[-1])
                             for _ in range(repeats))


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}"


def report(per_candidate: list[dict[str, tuple[float, float, float]]],
           training: list[tuple[float, float, str]], seeds: list[int], cold: float, command: str,
           rows: int) -> str:
    """The figures as markdown: medians over seeds, and ratios."""
    lines = [f"# Cost of the shap check at {rows:,} training rows", f"Command: `{command}`",
             f"Medians over {len(per_candidate)} seeds of the simulator ({PERIODS} periods); "
             f"seconds on one thread (OMP_NUM_THREADS=1). Cold `import shap`: {cold:.2f} s, paid "
             "once per training process and included in no figure below."]
    table = []
    for name in per_candidate[0]:
        fit = [run[name][0] for run in per_candidate]
        check = [run[name][1] for run in per_candidate]
        gap = max(run[name][2] for run in per_candidate)
        table.append([name, _median(fit), _median(check),
                      f"{statistics.median(check) / statistics.median(fit):.2f}", f"{gap:.1e}"])
    lines.append(markdown_table(["candidate", "final fit + export (s)", "shap check (s)",
                                 "check / fit", "largest gap (log-odds)"], table))
    if training:
        lines.append("Whole training per seed (the check depends on the model chosen):")
        lines.append(markdown_table(
            ["seed", "train_model (s)", "check of the chosen model (s)", "check / training", "chosen"],
            [[str(seed), f"{whole:.2f}", f"{check:.2f}", f"{check / whole:.3f}", chosen]
             for seed, (whole, check, chosen) in zip(seeds, training, strict=True)]))
    return "\n\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run, print the tables and write them (default runs) to the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", help="simulator seeds")
    parser.add_argument("--rows", type=int, default=ROWS, help="training rows")
    parser.add_argument("--no-training", action="store_true", help="skip the whole train_model runs")
    args = parser.parse_args(argv)
    config = load_config()
    cold = cold_shap_import()
    seeds = args.seeds or SEEDS
    per_candidate = [time_candidates(config, seed, args.rows) for seed in seeds]
    training = [] if args.no_training else [time_training(config, s, args.rows) for s in seeds]
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/shap_check.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(per_candidate, training, list(seeds), cold, command, args.rows)
    print(text)
    if not (args.seeds or args.no_training or args.rows != ROWS):
        write_report(RESULTS, text)
        print(f"written to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
