"""Crash safety: SIGKILL `partnerscore ingest`, `train` and `retrain` at random moments.

Each command is first run once to completion and timed; then it is started again and
again and killed with SIGKILL at moments spread evenly (stratified at random) over
that measured duration. After every kill, with no process running:

- the labelled store verifies (every period file matches its sha256) and holds what
  it held before the kill or what the command stores, never a mixture (each killed
  ingest replaces all twelve periods);
- the MLflow SQLite database passes `PRAGMA integrity_check`;
- the registry's @champion is the one before the kill or a version this command made;
- the exported champion verifies, is the registry's champion or the one before the
  kill (a promotion killed after its commit point is finished by the next command's
  sync), and `partnerscore predict` scores the sample proposals with it.

At the end the command is rerun to completion, after which the exported champion is
the registry's, no temporary file or half-copied export is left, and the aliases
are consistent. Three kinds of kill are aimed rather than spread, because uniform
moments rarely land inside the milliseconds a write takes: the first `train` of a
fresh workspace while MLflow builds its database (after the temporary database file
appears), `ingest` within 50 ms of its first store write, and `retrain` within 0.5 s
of staging the new champion's export (download, copy, alias moves, link swap).

    OMP_NUM_THREADS=1 .venv/bin/python bench/kill.py --runs 120     # writes bench/results/kill.md
    OMP_NUM_THREADS=1 .venv/bin/python bench/kill.py --runs 30 --no-write

`tests/test_crash_safety.py` runs the same harness with 30 kills.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipelines.settings import Workspace, default_config_text  # noqa: E402
from pipelines.storage import store  # noqa: E402
from pipelines.storage.bundle import BundleError, exported_version, load_bundle, verify  # noqa: E402

SAMPLE = ROOT / "data" / "sample"
RESULTS = ROOT / "bench" / "results" / "kill.md"
NEWEST = "2025-12"
MODEL = "partnerscore"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
for _key in [k for k in ENV if k.startswith(("MLFLOW_TRACKING", "PARTNERSCORE_"))]:
    ENV.pop(_key)


@dataclass(frozen=True)
class Files:
    """Inputs: a fast configuration, the sample history less its newest period, two full variants."""

    config: Path
    earlier: Path
    variants: tuple[Path, Path]  # the whole history, and a copy with one outcome per period flipped


@dataclass(frozen=True)
class Snapshot:
    """What a kill may change: stored periods, registry versions and aliases, the export."""

    periods: dict[str, str]
    versions: tuple[int, ...]
    aliases: dict[str, str]
    exported: str | None

    @property
    def champion(self) -> str | None:
        """The registry's @champion."""
        return self.aliases.get("champion")


@dataclass
class Tally:
    """Kills of one command and what they found."""

    command: str
    duration: float = 0.0
    attempts: int = 0
    killed: int = 0
    finished_first: int = 0
    export_behind: int = 0
    left_partial: int = 0
    changed: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def make_files(directory: Path) -> Files:
    """Write the fast configuration (one candidate, few bootstrap samples, lenient gate) and data."""
    raw = yaml.safe_load(default_config_text())
    raw["model"].update(cv_repeats=1, bootstrap_samples=20, backtest_periods=2,
                        candidates=["logistic"], logistic_c=[0.1])
    raw["gate"].update(log_loss_tolerance=1.0)
    config = directory / "fast.yaml"
    config.write_text(yaml.safe_dump(raw), "utf-8")
    frame = pd.read_csv(SAMPLE / "history.csv", dtype=str, keep_default_na=False)
    earlier, first, second = (directory / n for n in ("earlier.csv", "history-a.csv", "history-b.csv"))
    frame[frame["trial_period"] < NEWEST].to_csv(earlier, index=False)
    frame.to_csv(first, index=False)
    # Every period differs, so each `ingest --replace` writes twelve period files and the manifest.
    for rows in frame.groupby("trial_period").indices.values():
        row = rows[0]
        positive = frame.iloc[row, frame.columns.get_loc("real_impact")] in ("true", "1", "yes")
        frame.iloc[row, frame.columns.get_loc("real_impact")] = "false" if positive else "true"
    frame.to_csv(second, index=False)
    return Files(config, earlier, (first, second))


def command(workspace: Workspace, files: Files, *args: str) -> list[str]:
    """The `partnerscore` command line for this workspace and the fast configuration."""
    return [sys.executable, "-m", "pipelines.cli", "--workspace", str(workspace.root),
            "--config", str(files.config), *args]


def run(argv: list[str], ok: tuple[int, ...] = (0,)) -> float:
    """Run a command to completion; returns its duration. Raises when its status is not `ok`."""
    started = time.monotonic()
    done = subprocess.run(argv, env=ENV, cwd=ROOT, capture_output=True, timeout=600, check=False)
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv[3:])} exited {done.returncode}: "
                           f"{done.stderr.decode(errors='replace')[-2000:]}")
    return time.monotonic() - started


def _registry(workspace: Workspace) -> tuple[tuple[int, ...], dict[str, str], list[str]]:
    """Versions, aliases and integrity problems, read with sqlite3 (no MLflow involved)."""
    if not workspace.mlflow_db.exists():
        return (), {}, []
    connection = sqlite3.connect(f"file:{workspace.mlflow_db}", uri=True, timeout=30)
    try:
        check = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        problems = [] if check == ["ok"] else [f"mlflow.db integrity_check: {check}"]
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "model_versions" not in tables:
            return (), {}, problems
        versions = tuple(sorted(int(r[0]) for r in connection.execute(
            "SELECT version FROM model_versions WHERE name = ?", (MODEL,))))
        aliases = {r[0]: str(r[1]) for r in connection.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ?", (MODEL,))}
    finally:
        connection.close()
    if len(set(versions)) != len(versions):
        problems.append(f"duplicate registered versions: {versions}")
    return versions, aliases, problems


def snapshot(workspace: Workspace) -> Snapshot:
    """The state a kill may change."""
    periods = {p: e["digest"] for p, e in store.read_manifest(workspace)["periods"].items()}
    versions, aliases, _ = _registry(workspace)
    return Snapshot(periods, versions, aliases, exported_version(workspace.champion))


def _predicts(workspace: Workspace) -> str | None:
    """Score the sample proposals with the exported champion, as `partnerscore predict` does."""
    from pipelines.jobs.predict import run_predict

    try:
        batch, _ = run_predict(workspace.champion, str(SAMPLE / "new_proposals.csv"))
    except (BundleError, OSError, ValueError) as exc:
        return f"predict from the exported champion failed: {exc}"
    return None if batch.proposals else "predict scored nothing"


def check_after_kill(workspace: Workspace, before: Snapshot,
                     writes: frozenset[str] = frozenset()) -> list[str]:
    """Every invariant that must hold right after a kill; returns the problems found.

    `writes` names the periods the killed command stores: all of them changed (from
    one file) or none did.
    """
    problems = [f"store: {p}" for p in store.verify_store(workspace)]
    now = snapshot(workspace)
    changed = {p for p in set(now.periods) | set(before.periods)
               if now.periods.get(p) != before.periods.get(p)}
    sources = {e["source"] for p, e in store.read_manifest(workspace)["periods"].items() if p in changed}
    if changed not in (set(), set(writes)) or len(sources) > 1:
        problems.append(f"store half-changed: periods {sorted(changed)} changed, from {sorted(sources)}")
    versions, _, registry_problems = _registry(workspace)
    problems += registry_problems
    if versions != tuple(range(1, len(versions) + 1)) or not set(before.versions) <= set(versions):
        problems.append(f"registered versions {versions} have a gap or lost one of {before.versions}")
    created = {str(v) for v in versions if v not in before.versions}
    if now.champion not in {before.champion, *created}:
        problems.append(f"@champion moved from {before.champion} to {now.champion}, not a new version")
    if before.exported is not None or now.exported is not None:
        if now.exported not in {before.exported, now.champion}:
            problems.append(f"exported champion {now.exported}: neither the one before "
                            f"({before.exported}) nor the registry's ({now.champion})")
        try:
            load_bundle(workspace.champion)
        except BundleError as exc:
            problems.append(f"exported champion does not verify: {exc}")
        failure = _predicts(workspace)
        if failure:
            problems.append(failure)
    return problems


def partial_files(workspace: Workspace) -> list[Path]:
    """What an interrupted write leaves: temporary files, unlisted period files, half exports."""
    listed = {e["file"] for e in store.read_manifest(workspace)["periods"].values()}
    listed |= {e["file"] for e in store.read_manifest(workspace).get("archive", [])}
    found = [p for d in (workspace.root, workspace.store, workspace.store / "periods")
             if d.is_dir() for p in d.iterdir() if ".tmp" in p.name]
    periods = workspace.store / "periods"
    found += [p for p in (periods.iterdir() if periods.is_dir() else [])
              if p.suffix == ".parquet" and f"periods/{p.name}" not in listed]
    for staged in (workspace.root / "exports").iterdir() if (workspace.root / "exports").is_dir() else []:
        try:
            verify(staged)
        except BundleError:
            found.append(staged)
    return found


def check_final(workspace: Workspace) -> list[str]:
    """After a completed rerun: export in step, no leftovers, consistent aliases, sound store."""
    problems = [f"store: {p}" for p in store.verify_store(workspace)]
    _, aliases, registry_problems = _registry(workspace)
    problems += registry_problems
    if exported_version(workspace.champion) != aliases.get("champion"):
        problems.append(f"exported {exported_version(workspace.champion)} is not "
                        f"@champion {aliases.get('champion')} after a completed command")
    if aliases.get("challenger") == aliases.get("champion"):
        problems.append(f"@challenger and @champion are both {aliases.get('champion')}")
    if "previous" in aliases and aliases["previous"] == aliases.get("champion"):
        problems.append(f"@previous and @champion are both {aliases['previous']}")
    leftovers = [p for d in (workspace.root, workspace.store, workspace.store / "periods")
                 if d.is_dir() for p in d.iterdir() if ".tmp" in p.name]
    if leftovers:
        problems.append(f"temporary files left: {[p.name for p in leftovers]}")
    for staged in sorted((workspace.root / "exports").iterdir()):
        try:
            verify(staged)
        except BundleError as exc:
            problems.append(f"half-copied export left: {exc}")
    failure = _predicts(workspace)
    return problems + ([failure] if failure else [])


def kill_series(workspace: Workspace, argv: Callable[[int], list[str]], tally: Tally, runs: int,
                rng: random.Random, writes: frozenset[str] = frozenset()) -> None:
    """SIGKILL `argv(i)` at `runs` stratified random moments of its measured duration.

    A run that ends before its moment (the machine got faster) is checked too, and the
    moment is retried at 70% of the delay, up to three more times, so that `runs`
    kills really happen. Every invariant is checked after every attempt.
    """
    started = time.monotonic()
    for i in range(runs):
        delay = tally.duration * 0.95 * (i + rng.random()) / runs
        for _ in range(4):
            before = snapshot(workspace)
            process = subprocess.Popen(argv(i), env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            tally.attempts += 1
            try:
                process.wait(timeout=delay)
                tally.finished_first += 1
                killed = False
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                tally.killed += 1
                killed = True
            found = check_after_kill(workspace, before, writes)
            if exported_version(workspace.champion) != snapshot(workspace).champion:
                tally.export_behind += 1
            tally.left_partial += bool(partial_files(workspace))
            tally.changed += snapshot(workspace) != before
            tally.problems += [f"{tally.command} #{i} (kill at {delay:.2f} s): {p}" for p in found]
            if killed:
                break
            delay *= 0.7
    tally.seconds += time.monotonic() - started


def _other_version(workspace: Workspace, files: Files) -> Path:
    """The variant of the history that is not stored now, so every ingest writes."""
    stored = store.read_manifest(workspace)["periods"].get(NEWEST, {}).get("source")
    return files.variants[1] if stored == str(files.variants[0]) else files.variants[0]


def kill_in_writes(workspace: Workspace, argv: Callable[[int], list[str]], tally: Tally, runs: int,
                   rng: random.Random, trigger: Callable[[Workspace], Callable[[], bool]], within: float,
                   writes: frozenset[str] = frozenset()) -> None:
    """SIGKILL `argv(i)` at a random moment within `within` s after its writing starts.

    `trigger(workspace)`, made afresh before each run, turns true when the run starts
    writing. Uniform moments rarely land inside the milliseconds a write takes; these do.
    A run that finishes first is retried with half the window, up to three more times.
    """
    started = time.monotonic()
    for i in range(runs):
        window = within
        for _ in range(4):
            before = snapshot(workspace)
            started_writing = trigger(workspace)
            process = subprocess.Popen(argv(i), env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            tally.attempts += 1
            while process.poll() is None and not started_writing():
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, window))
            killed = process.poll() is None
            if killed:
                process.send_signal(signal.SIGKILL)
            tally.killed += killed
            tally.finished_first += not killed
            process.wait()
            found = check_after_kill(workspace, before, writes)
            if exported_version(workspace.champion) != snapshot(workspace).champion:
                tally.export_behind += 1
            tally.left_partial += bool(partial_files(workspace))
            tally.changed += snapshot(workspace) != before
            tally.problems += [f"{tally.command} #{i}: {p}" for p in found]
            if killed:
                break
            window /= 2
    tally.seconds += time.monotonic() - started


def _store_writing(workspace: Workspace) -> Callable[[], bool]:
    """True once a new atomic write into the store has begun."""
    directories = (workspace.store, workspace.store / "periods")

    def temporaries() -> set[str]:
        return {e.name for d in directories for e in os.scandir(d) if ".tmp" in e.name}

    known = temporaries()
    return lambda: bool(temporaries() - known)


def _promotion_starting(workspace: Workspace) -> Callable[[], bool]:
    """True once a new export directory is being staged (the promotion's first step)."""
    exports = workspace.root / "exports"
    known = {e.name for e in os.scandir(exports)}
    return lambda: any(e.name not in known for e in os.scandir(exports))


def kill_first_train(files: Files, workspace: Workspace, tally: Tally, rng: random.Random) -> None:
    """Kill a fresh workspace's first `train` while MLflow builds the database, then rerun it."""
    run(command(workspace, files, "ingest", str(files.earlier)))
    started = time.monotonic()
    process = subprocess.Popen(command(workspace, files, "train"), env=ENV, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline \
            and not any(workspace.root.glob(".mlflow.db.*.tmp")):
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.5))
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        tally.killed += 1
    else:
        tally.finished_first += 1
    process.wait()
    tally.attempts += 1
    tally.left_partial += bool(partial_files(workspace))
    problems = _registry(workspace)[2]
    run(command(workspace, files, "train"))
    problems += check_final(workspace)
    tally.problems += [f"{tally.command} #{tally.attempts}: {p}" for p in problems]
    tally.seconds += time.monotonic() - started


@dataclass(frozen=True)
class Plan:
    """How many kills of each kind."""

    first_train: int = 4
    ingest: int = 24
    train: int = 18
    retrain: int = 18
    ingest_writing: int = 0
    promoting: int = 0

    @classmethod
    def spread(cls, runs: int, first_train: int) -> Plan:
        """`runs` kills: `first_train` in database creation, the rest 40/30/30, a fifth of the
        ingest and retrain kills aimed at their writes."""
        rest = max(runs - first_train, 3)
        ingest, train = rest - 2 * (rest * 3 // 10), rest * 3 // 10
        return cls(first_train, ingest - ingest // 5, train, train - train // 5, ingest // 5, train // 5)


def kill_campaign(directory: Path, plan: Plan, seed: int = 0) -> list[Tally]:
    """The whole harness on one workspace (plus fresh ones for extra first-train kills)."""
    rng = random.Random(seed)
    files = make_files(directory)
    workspace = Workspace(directory / "ws")
    first = Tally("first train (database creation)")
    for i in range(plan.first_train):
        kill_first_train(files, workspace if i == 0 else Workspace(directory / f"fresh-{i}"),
                         first, rng)
    ingest = Tally("ingest --replace")
    run(command(workspace, files, "ingest", str(files.variants[0])))  # adds the newest period
    ingest.duration = ingest.seconds = run(command(workspace, files, "ingest", "--replace",
                                                   str(files.variants[1])))
    periods = frozenset(store.read_manifest(workspace)["periods"])
    ingest_argv = lambda _: command(workspace, files, "ingest", "--replace",  # noqa: E731
                                    str(_other_version(workspace, files)))
    kill_series(workspace, ingest_argv, ingest, plan.ingest, rng, periods)
    writing = Tally("ingest --replace, killed while writing")
    kill_in_writes(workspace, ingest_argv, writing, plan.ingest_writing, rng,
                   _store_writing, 0.05, periods)
    train = Tally("train")
    train.duration = train.seconds = run(command(workspace, files, "train"))
    kill_series(workspace, lambda i: command(workspace, files, "train", "--seed", str(i)),
                train, plan.train, rng)
    retrain = Tally("retrain (promotes)")
    # A seed no champion has: a retrain with nothing new (same store, configuration and
    # seed) would return at once and time nothing.
    retrain.duration = retrain.seconds = run(command(workspace, files, "retrain", "--seed",
                                                     "1000"), ok=(0, 4))
    kill_series(workspace, lambda i: command(workspace, files, "retrain", "--seed", str(i)),
                retrain, plan.retrain, rng)
    promoting = Tally("retrain, killed while promoting")
    kill_in_writes(workspace, lambda i: command(workspace, files, "retrain", "--seed", str(100 + i)),
                   promoting, plan.promoting, rng, _promotion_starting, 0.5)
    retrain.seconds += run(command(workspace, files, "retrain"), ok=(0, 4))
    retrain.problems += [f"after the rerun: {p}" for p in check_final(workspace)]
    try:  # and once through a real process, as BD staff run it
        run(command(workspace, files, "predict", str(SAMPLE / "new_proposals.csv"), "--format", "json"))
    except RuntimeError as exc:
        retrain.problems.append(f"partnerscore predict after the campaign: {exc}")
    return [first, ingest, writing, train, retrain, promoting]


NOTES = [
    "- *state changed*: after the kill the store, the registry's versions or aliases, or the "
    "exported champion differed from before: the kill came after one of the command's commit "
    "points (a stored manifest, a registered version, a moved alias); the other kills left "
    "everything as it was.",
    "- *export behind*: the kill landed after a promotion's commit point (@champion moved) but "
    "before the exported copy was swapped; prediction kept using the previous, verified "
    "champion until the next command synced it. The window is a few MLflow calls long; "
    "tests/test_crash_safety.py drives that state deterministically.",
    "- *left partial files*: the kill left a temporary file, a period file the manifest does not "
    "list, or a half-copied export. None was read, and the next command under the workspace "
    "lock removed them (period files are content-addressed and reused).",
]


def markdown(tallies: list[Tally], arguments: str, seconds: float) -> str:
    """The results table."""
    lines = [
        "# Crash safety under SIGKILL", "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/kill.py {arguments}` "
        f"({seconds:.0f} s in all, {os.cpu_count()} cores shared with other work).", "",
        "| command | measured run (s) | attempts | killed | finished before the kill | "
        "state changed (past a commit point) | export behind @champion | left partial files | "
        "problems | wall time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in tallies:
        measured = f"{t.duration:.1f}" if t.duration else "-"
        lines.append(f"| {t.command} | {measured} | {t.attempts} | {t.killed} | "
                     f"{t.finished_first} | {t.changed} | {t.export_behind} | {t.left_partial} | "
                     f"{len(t.problems)} | {t.seconds:.0f} |")
    problems = [p for t in tallies for p in t.problems]
    lines += ["", "Problems:" if problems else "No problem found: after every kill the store "
              "verified, the SQLite database passed its integrity check, the exported champion "
              "verified and predicted, and every rerun succeeded and left no temporary file.", ""]
    lines += [f"- {p}" for p in problems]
    lines += ["", *NOTES, ""]
    return "\n".join(lines)


def main() -> None:
    """Run the campaign and print (and by default record) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=64, help="kills in all")
    parser.add_argument("--first-train-runs", type=int, default=4,
                        help="of which: kills of a fresh workspace's first train during database creation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="partnerscore-kill-") as tmp:
        tallies = kill_campaign(Path(tmp), Plan.spread(args.runs, args.first_train_runs), args.seed)
    arguments = f"--runs {args.runs} --first-train-runs {args.first_train_runs} --seed {args.seed}"
    text = markdown(tallies, arguments, time.monotonic() - started)
    print(text)
    print(json.dumps({t.command: {"killed": t.killed, "problems": len(t.problems)} for t in tallies}))
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(text, "utf-8")
    if any(t.problems for t in tallies):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
