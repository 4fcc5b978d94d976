"""Prediction speed: cold start for one proposal, and throughput with reasons for 100,000.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/predict.py [--repeats 5] [--rows 100000]

Everything is measured side by side in one run and reported as medians and ratios:
1. cold `partnerscore predict --set ...` (one proposal with reasons, exported champion)
   against `python -c "import pandas, sklearn.ensemble"` and against loading
   `models:/partnerscore@champion` through mlflow.pyfunc and predicting 200 rows;
2. scoring N proposals with exact reasons (`score_batch`) against bare `predict_proba`
   plus shap's TreeExplainer on the same fitted boosted trees; peak memory of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLI = [PY, "-m", "pipelines.cli"]
ONE = ["--set", "proposal_id=P1", "--set", "partnership_type=referral", "--set",
       "partner_sector=payroll", "--set", "sector_proximity=adjacent", "--set",
       "lifecycle_position=downstream", "--set", "has_clear_objective=yes", "--set",
       "has_action_plan=yes", "--set", "product_ready=yes", "--set", "partner_committed_fte=1"]


def wall(command: list[str]) -> float:
    """Seconds a command takes, failing loudly if it fails."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def train_trees_workspace(workspace: Path) -> None:
    """A workspace whose champion is boosted trees, trained on the sample history."""
    import yaml

    from pipelines.settings import default_config_text

    raw = yaml.safe_load(default_config_text())
    raw["model"].update(candidates=["boosted_trees"], cv_repeats=1, bootstrap_samples=50)
    config = workspace.parent / "trees.yaml"
    config.write_text(yaml.safe_dump(raw))
    subprocess.run([*CLI, "--workspace", str(workspace), "--config", str(config), "train",
                    "--data", str(ROOT / "data/sample/history.csv")], check=True, cwd=ROOT,
                   capture_output=True)


PYFUNC = """
import os, sys, pandas as pd, mlflow
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
from pipelines.storage.readers import load_proposals
from pipelines.settings import load_config
from pipelines.tracking.serving import request_frame
mlflow.set_tracking_uri(sys.argv[1])
frame = load_proposals(sys.argv[2], load_config(), labelled=False)
batch = pd.concat([frame] * 7, ignore_index=True).head(200)
batch["proposal_id"] = [f"R{i}" for i in range(len(batch))]
request = request_frame(batch, load_config())
model = mlflow.pyfunc.load_model("models:/partnerscore@champion")
model.predict(request)
"""


def cold_start(workspace: Path, repeats: int) -> dict[str, float]:
    """Medians of the three cold paths, interleaved so that machine noise hits each alike."""
    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    proposals = str(ROOT / "data/sample/new_proposals.csv")
    times: dict[str, list[float]] = {"reference": [], "predict_one": [], "pyfunc_200": []}
    for _ in range(repeats):
        times["reference"].append(wall([PY, "-c", "import pandas, sklearn.ensemble"]))
        times["predict_one"].append(wall([*CLI, "--workspace", str(workspace), "predict", *ONE,
                                          "--format", "json"]))
        times["pyfunc_200"].append(wall([PY, "-c", PYFUNC, uri, proposals]))
    return {k: statistics.median(v) for k, v in times.items()}


THROUGHPUT = """
import json, resource, sys, time
import numpy as np, pandas as pd
from model.simulate import simulate_proposals
from model.validation import validate_frame
from pipelines.storage.bundle import load_bundle
from pipelines.settings import load_config
config = load_config()
raw = simulate_proposals(int(sys.argv[2]), seed=3).astype(object)
raw = raw.map(lambda v: None if v is None or pd.isna(v) else
              ("true" if v is True else "false" if v is False else str(v)))
raw["proposal_id"] = [f"B{i}" for i in range(len(raw))]
raw.index = pd.RangeIndex(2, len(raw) + 2, name="row")
proposals = validate_frame(raw, config, labelled=False)
kind = sys.argv[3]
start = time.perf_counter()
if kind == "ours":
    from pipelines.jobs.predict import score_batch
    batch = score_batch(load_bundle(sys.argv[1]), proposals)
    assert len(batch.proposals) == len(proposals)
else:
    import shap
    from model.selection import fit_margin, prepare
    from model.estimators import CandidateSpec
    bundle = load_bundle(sys.argv[1])
    training = bundle.training
    history = pd.read_parquet(sys.argv[4])
    spec = CandidateSpec(training.chosen_kind, training.chosen_params)
    data = prepare(history, config)
    encoder, model, _ = fit_margin(spec, data.proposals, data.y, data.weights, config, 0)
    X = encoder.transform(proposals)[:, :model.width_]  # the trees' columns: no pair cells
    start = time.perf_counter()
    model.estimator_.predict_proba(X)
    shap.TreeExplainer(model.estimator_).shap_values(X)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mib": peak}))
"""


def throughput(workspace: Path, rows: int, repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds and peak memory: our scoring with reasons vs bare trees + TreeExplainer."""
    from pipelines.settings import load_config
    from pipelines.storage.readers import load_proposals

    history = workspace.parent / "history.parquet"
    load_proposals(ROOT / "data/sample/history.csv", load_config(), labelled=True).to_parquet(history)
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "baseline": []}
    for _ in range(repeats):
        for kind in runs:
            done = subprocess.run([PY, "-c", THROUGHPUT, str(workspace / "champion"), str(rows),
                                   kind, str(history)], check=True, capture_output=True, cwd=ROOT)
            runs[kind].append(json.loads(done.stdout.decode().strip().splitlines()[-1]))
    return {k: {"seconds": statistics.median(r["seconds"] for r in v),
                "peak_mib": max(r["peak_mib"] for r in v)} for k, v in runs.items()}


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        workspace = Path(tmp) / "ws"
        train_trees_workspace(workspace)
        cold = cold_start(workspace, args.repeats)
        big = throughput(workspace, args.rows, max(1, args.repeats // 2))
    ratio_ref = cold["predict_one"] / cold["reference"]
    ratio_pyfunc = cold["predict_one"] / cold["pyfunc_200"]
    relative = big["baseline"]["seconds"] / big["ours"]["seconds"]
    print(f"cold start, medians of {args.repeats} (boosted-trees champion):")
    print(f"  import pandas, sklearn.ensemble     {cold['reference']:.2f} s")
    print(f"  partnerscore predict, one proposal  {cold['predict_one']:.2f} s  "
          f"ratio {ratio_ref:.2f} (goal <= 1.3)")
    print(f"  mlflow.pyfunc load + 200 rows       {cold['pyfunc_200']:.2f} s  "
          f"ratio {ratio_pyfunc:.2f} (goal <= 0.5)")
    print(f"{args.rows:,} proposals with reasons:")
    print(f"  score_batch (exact reasons, records) {big['ours']['seconds']:.2f} s, "
          f"peak {big['ours']['peak_mib']:.0f} MiB")
    print(f"  predict_proba + TreeExplainer       {big['baseline']['seconds']:.2f} s, "
          f"peak {big['baseline']['peak_mib']:.0f} MiB")
    print(f"  relative throughput {relative:.2f} (goal >= 0.5)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
