"""REST scoring under a bounded load: latency percentiles and errors of `mlflow models serve`.

Trains a model on the sample history in a temporary workspace (or uses --workspace),
starts `mlflow models serve -m models:/partnerscore@champion --env-manager local` on
127.0.0.1 (a free port), then sends --requests POST /invocations from --concurrency
threads (standard-library http.client, one keep-alive connection per thread). Each
request is a `dataframe_split` of --rows sample proposals; an answer counts as an
error unless it is HTTP 200 with one record per proposal. The load is bounded by the
request count and by --max-seconds, and stops by itself. Goal: zero errors.

    OMP_NUM_THREADS=1 .venv/bin/python bench/serve.py                  # writes bench/results/serve.md
    OMP_NUM_THREADS=1 .venv/bin/python bench/serve.py --requests 200 --no-write
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "serve.md"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_env(**extra: str) -> dict[str, str]:
    """This environment without MLflow settings (a team server must not receive bench runs)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
            "OMP_NUM_THREADS": "1", **extra}


def train_workspace(workspace: Path) -> None:
    """Train the sample history into `workspace` (registers models:/partnerscore@champion)."""
    subprocess.run([str(BIN / "partnerscore"), "--workspace", str(workspace), "train", "--data",
                    str(ROOT / "data" / "sample" / "history.csv")], check=True, capture_output=True,
                   env=local_env())


@contextlib.contextmanager
def model_server(workspace: Path, workers: int) -> Iterator[int]:
    """`mlflow models serve` on the workspace's champion; yields its port, stops it afterwards."""
    port = free_port()
    registry = f"sqlite:///{workspace / 'mlflow.db'}"
    env = local_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", MLFLOW_TRACKING_URI=registry,
                    MLFLOW_REGISTRY_URI=registry)
    log = workspace / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", "models:/partnerscore@champion",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)],
            env=env, cwd=workspace, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"model server exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/ping",
                                                                     timeout=2):
                break
            time.sleep(0.5)
        else:
            raise SystemExit("model server did not answer /ping within 180 s")
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def payloads(rows: int) -> list[bytes]:
    """`dataframe_split` bodies of `rows` sample proposals each, cycling through the sample."""
    import pandas as pd

    from pipelines.settings import load_config
    from pipelines.storage.readers import load_proposals
    from pipelines.tracking.serving import request_frame

    config = load_config()
    request = request_frame(load_proposals(ROOT / "data/sample/new_proposals.csv", config,
                                           labelled=False), config)

    def cell(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return None
        return value.item() if hasattr(value, "item") else value

    data = [[cell(v) for v in row] for row in request.itertuples(index=False)]
    bodies = []
    for start in range(len(data)):
        chunk = [data[(start + i) % len(data)] for i in range(rows)]
        body = {"dataframe_split": {"columns": list(request.columns), "data": chunk}}
        bodies.append(json.dumps(body, allow_nan=False).encode())
    return bodies


@dataclass
class Load:
    """What the threads measured."""

    latencies: list[float]
    errors: list[str]
    seconds: float


def run_load(port: int, bodies: list[bytes], rows: int, requests: int, concurrency: int,
             max_seconds: float) -> Load:
    """Send `requests` requests from `concurrency` threads; stop early after `max_seconds`."""
    lock, latencies, errors = threading.Lock(), [], []
    counter = iter(range(requests))
    stop_at = time.monotonic() + max_seconds

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop_at:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            started = time.perf_counter()
            try:
                connection.request("POST", "/invocations", bodies[n % len(bodies)],
                                   {"Content-Type": "application/json"})
                answer = connection.getresponse()
                data = answer.read()
                elapsed = time.perf_counter() - started
                problem = None if answer.status == 200 and len(json.loads(data)["predictions"]) == rows \
                    else f"HTTP {answer.status}: {data[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                elapsed, problem = time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                (errors.append(problem) if problem else latencies.append(elapsed))
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(latencies, errors, time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in milliseconds."""
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else float("nan")


def report(load: Load, args: argparse.Namespace, command: str) -> str:
    """The results as Markdown, with the command that reproduces them."""
    done = len(load.latencies) + len(load.errors)
    lines = [
        "# REST scoring under load (`mlflow models serve`)", "",
        f"Command: `{command}`", "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {os.cpu_count()} cores "
        f"(load average before the run {args.load_before:.1f}); model server with {args.workers} "
        f"worker(s) on 127.0.0.1; {args.concurrency} client threads with keep-alive connections; "
        f"{args.rows} proposal(s) per request, each answered with probability, grade, rank and reasons.",
        "",
        "| requests sent | errors | p50 ms | p90 ms | p99 ms | max ms | mean ms | requests/s | proposals/s |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {done} | {len(load.errors)} | {percentile(load.latencies, 50):.1f} | "
        f"{percentile(load.latencies, 90):.1f} | {percentile(load.latencies, 99):.1f} | "
        f"{1000 * max(load.latencies, default=float('nan')):.1f} | "
        f"{1000 * statistics.fmean(load.latencies) if load.latencies else float('nan'):.1f} | "
        f"{done / load.seconds:.1f} | {done * args.rows / load.seconds:.1f} |", "",
        f"Goal: zero errors — {'met' if not load.errors and done == args.requests else 'NOT met'}"
        + (f" ({done} of {args.requests} requests sent within {args.max_seconds:.0f} s)"
           if done < args.requests else "") + ".",
    ]
    if load.errors:
        lines += ["", "First errors:", "", *[f"- `{e}`" for e in load.errors[:5]]]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the bounded load and print (and by default write) the figures; exit 1 on any error."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1, help="proposals per request")
    parser.add_argument("--workers", type=int, default=1, help="model server worker processes")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this long")
    parser.add_argument("--workspace", type=Path, help="a trained workspace (default: train one)")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    command = "OMP_NUM_THREADS=1 .venv/bin/python bench/serve.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="partnerscore-bench-serve-") as tmp:
        workspace = args.workspace or Path(tmp) / "workspace"
        if args.workspace is None:
            train_workspace(workspace)
        with model_server(workspace, args.workers) as port:
            bodies = payloads(args.rows)
            run_load(port, bodies, args.rows, min(50, args.requests), 2, 60)  # warm-up, not counted
            load = run_load(port, bodies, args.rows, args.requests, args.concurrency, args.max_seconds)
    text = report(load, args, command.strip())
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 1 if load.errors or len(load.latencies) < args.requests else 0


if __name__ == "__main__":
    raise SystemExit(main())
