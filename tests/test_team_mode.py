"""Team mode: partnerscore commands, unchanged, against a shared MLflow server on PostgreSQL.

The session fixture starts what a team runs, the ordinary way: a throwaway PostgreSQL
cluster (Debian's binaries, initdb in a temporary directory, a free loopback port),
then deploy/mlflow-server.sh `init` (role, databases, generated secrets) and `start`
(`mlflow server --app-name basic-auth`, artifacts served by the server). Every command
runs as a subprocess with MLFLOW_TRACKING_URI and credentials, as a user would.
Everything is stopped and removed afterwards, also when a test fails.
"""

from __future__ import annotations

import configparser
import contextlib
import getpass
import glob
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import SAMPLE
from test_serving import VENV_BIN, clean_env, free_port, stop_group, venv_program, wait_until_up

from pipelines.settings import default_config_text

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "mlflow-server.sh"
MODEL = "partnerscore"
User = tuple[str, str]


def postgres_program(name: str) -> str:
    """A PostgreSQL server program (Debian keeps them off PATH); fails when not installed."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    program = found[-1] if found else shutil.which(name)
    if program is None:
        pytest.fail(f"PostgreSQL's {name} not found: run deploy/system-deps.sh")
    return program


@dataclass(frozen=True)
class TeamServer:
    """The running server: its URI, its state directory and the generated admin credentials."""

    uri: str
    port: int
    home: Path
    admin: User
    script_env: dict[str, str]

    def env(self, user: User) -> dict[str, str]:
        """A user's environment: the server's URI and that user's credentials."""
        return clean_env(MLFLOW_TRACKING_URI=self.uri, MLFLOW_TRACKING_USERNAME=user[0],
                         MLFLOW_TRACKING_PASSWORD=user[1])


class Cluster:
    """A throwaway PostgreSQL cluster in `directory`, owned by `postgres` when run as root."""

    def __init__(self, directory: Path) -> None:
        self.data, self.port = directory / "pg", free_port()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser") or pytest.fail("runuser not found (util-linux)")
            self.as_owner = [str(runuser), "-u", "postgres", "--"]

    def start(self) -> None:
        """initdb (peer authentication on the socket, passwords over TCP) and start on loopback."""
        self.data.mkdir(mode=0o700)
        if self.as_owner:
            shutil.chown(self.data, "postgres", "postgres")
        superuser = "postgres" if self.as_owner else getpass.getuser()
        self._owner([postgres_program("initdb"), "-D", str(self.data), "-U", superuser, "-E", "UTF8",
                     "--no-locale", "--auth-local=peer", "--auth-host=scram-sha-256"])
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.data}"
                   " -c fsync=off -c full_page_writes=off")
        self._owner([postgres_program("pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"),
                     "-w", "-t", "60", "-o", options, "start"])

    def stop(self) -> None:
        """Stop at once (the data is thrown away)."""
        if (self.data / "postmaster.pid").exists():
            self._owner([postgres_program("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                        check=False)

    def _owner(self, command: list[str], check: bool = True) -> None:
        done = subprocess.run([*self.as_owner, *command], capture_output=True, text=True, cwd="/")
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"mlflow-server.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def _read_env_file(path: Path) -> dict[str, str]:
    """The variables a shell gets from sourcing `path`."""
    done = subprocess.run(["bash", "-c", 'set -a; . "$1"; env -0', "_", str(path)],
                          capture_output=True, check=True, env={"PATH": os.environ["PATH"]})
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


@pytest.fixture(scope="session")
def team_server() -> Iterator[TeamServer]:
    """PostgreSQL and `mlflow server` with basic auth on loopback, set up by deploy/mlflow-server.sh."""
    venv_program("mlflow")
    base = Path(tempfile.mkdtemp(prefix="partnerscore-team-"))
    os.chmod(base, 0o755)  # the cluster's owner must reach its data directory inside
    cluster, server = Cluster(base), None
    try:
        cluster.start()
        port = free_port()
        env = clean_env(MLFLOW_SERVER_HOME=str(base / "server"), PGHOST=str(cluster.data),
                        PGPORT=str(cluster.port), MLFLOW_PORT=str(port), MLFLOW_SERVER_WORKERS="2",
                        MLFLOW_BIN=str(VENV_BIN / "mlflow"),
                        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        _script(env, "init")
        log = base / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(["bash", str(SCRIPT), "start"], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(f"http://127.0.0.1:{port}/health", server, log, timeout=240)
        admin = _read_env_file(base / "server" / "admin.env")
        yield TeamServer(f"http://127.0.0.1:{port}", port, base / "server",
                         (admin["MLFLOW_TRACKING_USERNAME"], admin["MLFLOW_TRACKING_PASSWORD"]), env)
    finally:
        if server is not None:
            stop_group(server)
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def partnerscore(server: TeamServer, user: User, workspace: Path, config: Path,
                 *args: str) -> subprocess.CompletedProcess[str]:
    """Run a partnerscore command as `user` against the server."""
    command = [str(venv_program("partnerscore")), "--workspace", str(workspace), "--config", str(config),
               *args]
    return subprocess.run(command, env=server.env(user), capture_output=True, text=True, timeout=600)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """The finished command, failing the test with its output unless it succeeded."""
    assert done.returncode == 0, f"{done.args}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@contextlib.contextmanager
def signed_in(server: TeamServer, user: User) -> Iterator[Any]:
    """An MlflowClient for the server with `user`'s credentials (restored afterwards)."""
    from mlflow import MlflowClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
        patch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
        yield MlflowClient(server.uri, server.uri)


def registry_state(server: TeamServer) -> dict[str, Any]:
    """Every version (run, tags) and every alias of the registered model, as the server has them."""
    with signed_in(server, server.admin) as client:
        model = client.get_registered_model(MODEL)
        versions = {mv.version: (mv.run_id, dict(mv.tags))
                    for mv in client.search_model_versions(f"name='{MODEL}'")}
        return {"aliases": dict(model.aliases), "versions": versions}


def create_user(server: TeamServer, name: str) -> User:
    """A user with no grant of its own: the server's default permission (READ) applies."""
    from mlflow.server.auth.client import AuthServiceClient

    user = (name, f"{name}-password-0123")
    with signed_in(server, server.admin):
        AuthServiceClient(server.uri).create_user(*user)
    return user


def json_document(stdout: str) -> Any:
    """The JSON document a command printed, ignoring lines printed before it."""
    return json.loads(stdout[stdout.index("{"):])


@dataclass(frozen=True)
class Loop:
    """The data team's workspace and files after ingest, train and retrain on the server."""

    workspace: Path
    config: Path
    directory: Path
    train_stdout: str


@pytest.fixture(scope="module")
def loop(team_server: TeamServer, tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """Ingest earlier periods, train, then retrain with the newest period (the gate passes)."""
    directory = tmp_path_factory.mktemp("team")
    raw = yaml.safe_load(default_config_text())
    raw["model"].update(cv_repeats=1, bootstrap_samples=40, backtest_periods=2,
                        candidates=["logistic"], logistic_c=[0.1])
    raw["gate"].update(log_loss_tolerance=1.0)
    config = directory / "fast.yaml"
    config.write_text(yaml.safe_dump(raw))
    history = pd.read_csv(SAMPLE / "history.csv", dtype=str, keep_default_na=False)
    history[history["trial_period"] < "2025-12"].to_csv(directory / "earlier.csv", index=False)
    history[history["trial_period"] == "2025-12"].to_csv(directory / "newest.csv", index=False)
    workspace, admin = directory / "data-team", team_server.admin
    ok(partnerscore(team_server, admin, workspace, config, "ingest", str(directory / "earlier.csv")))
    train_stdout = ok(partnerscore(team_server, admin, workspace, config, "train", "--format",
                                   "json")).stdout
    trained = json_document(train_stdout)
    assert trained["registered"]["version"] == "1" and trained["registered"]["alias"] == "champion"
    retrained = ok(partnerscore(team_server, admin, workspace, config, "retrain",
                                str(directory / "newest.csv"), "--period", "2025-12"))
    assert "promoted to @champion" in retrained.stdout
    return Loop(workspace, config, directory, train_stdout)


def test_set_up_keeps_secrets_private_and_listens_on_loopback_only(team_server: TeamServer) -> None:
    """Generated secrets readable by their owner only; no default password; 127.0.0.1 only."""
    import requests

    assert stat.S_IMODE(team_server.home.stat().st_mode) == 0o700
    for name in ("admin.env", "pgpass", "basic_auth.ini", "flask_secret"):
        assert stat.S_IMODE((team_server.home / name).stat().st_mode) == 0o600, name
    ini = (team_server.home / "basic_auth.ini").read_text()
    auth = configparser.ConfigParser()
    auth.read_string(ini)
    assert auth["mlflow"]["default_permission"] == "READ" and "admin_password" not in auth["mlflow"]
    credentials = auth["mlflow"]["database_uri"].split("//", 1)[1].split("@", 1)[0]
    assert ":" not in credentials  # the database password stays in pgpass
    assert team_server.admin[1] != "password1234" and len(team_server.admin[1]) >= 20
    api = f"{team_server.uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(api, timeout=30).status_code == 401
    assert requests.get(api, auth=("admin", "password1234"), timeout=30).status_code == 401
    assert requests.get(api, auth=team_server.admin, timeout=30).status_code == 200
    with socket.socket() as other, pytest.raises(OSError):
        other.settimeout(5)
        other.connect(("127.0.0.2", team_server.port))


def test_data_team_loop_runs_unchanged_against_the_server(team_server: TeamServer, loop: Loop) -> None:
    """ingest, train, retrain with promotion: versions, aliases and gate tags live in the server's
    registry, artifacts under its artifact root, and the workspace exports the new champion."""
    from pipelines.storage.bundle import exported_version

    state = registry_state(team_server)
    assert sorted(state["versions"]) == ["1", "2"]
    assert state["aliases"] == {"champion": "2", "previous": "1"}
    assert state["versions"]["2"][1]["gate.passed"] == "true"
    assert exported_version(loop.workspace / "champion") == "2"
    assert not (loop.workspace / "mlflow.db").exists()
    with signed_in(team_server, team_server.admin) as client:
        location = client.get_experiment_by_name("partnerscore").artifact_location
    assert location.startswith("mlflow-artifacts:")
    assert list((team_server.home / "artifacts").rglob("MLmodel"))


def test_train_json_output_stays_machine_readable(loop: Loop) -> None:
    """`train --format json` prints only the JSON document, also with a tracking server (where
    MLflow would print 'View run ... at' links to standard output)."""
    document = json.loads(loop.train_stdout)
    assert document["registered"]["version"] == "1"


def test_bd_staff_predict_with_read_access(team_server: TeamServer, loop: Loop,
                                           tmp_path: Path) -> None:
    """A user with the default READ permission scores with models:/partnerscore@champion from a
    fresh workspace, with the numbers of the data team's exported champion (version 2)."""
    reader = create_user(team_server, "bd-reader")
    proposals = str(SAMPLE / "new_proposals.csv")
    remote = json.loads(ok(partnerscore(team_server, reader, tmp_path / "bd", loop.config, "predict",
                                        proposals, "--model", "models:/partnerscore@champion",
                                        "--format", "json")).stdout)
    local = json.loads(ok(partnerscore(team_server, team_server.admin, loop.workspace, loop.config,
                                       "predict", proposals, "--format", "json")).stdout)
    assert remote["model"]["uri"] == "models:/partnerscore@champion" and local["model"]["version"] == "2"
    assert [p["proposal_id"] for p in remote["proposals"]] == [p["proposal_id"] for p in local["proposals"]]
    for got, expected in zip(remote["proposals"], local["proposals"], strict=True):
        assert abs(got["impact_probability"] - expected["impact_probability"]) <= 1e-9
        assert (got["rank"], got["grade"]) == (expected["rank"], expected["grade"])


def test_user_without_permission_cannot_register_or_promote(team_server: TeamServer, loop: Loop,
                                                            tmp_path: Path) -> None:
    """READ only: training (in an experiment of its own) cannot register a version and promotion is
    refused; both fail with a message naming the refusal, and the registry is unchanged."""
    before = registry_state(team_server)
    viewer = create_user(team_server, "bd-viewer")
    own = yaml.safe_load(loop.config.read_text())
    own["model"]["experiment"] = "bd-viewer-sandbox"
    sandbox = tmp_path / "sandbox.yaml"
    sandbox.write_text(yaml.safe_dump(own))

    trained = partnerscore(team_server, viewer, tmp_path / "viewer", sandbox, "train",
                           "--data", str(SAMPLE / "history.csv"))
    promoted = partnerscore(team_server, viewer, tmp_path / "viewer", loop.config, "promote", "1")

    for done in (trained, promoted):
        assert done.returncode != 0, done.stdout
        assert "permission denied" in " ".join(done.stderr.lower().split()), done.stderr
    assert "model-versions/create" in "".join(trained.stderr.split())
    assert registry_state(team_server) == before


def test_concurrent_trainings_register_distinct_versions(team_server: TeamServer, loop: Loop,
                                                         tmp_path: Path) -> None:
    """Two trainings at once from different workspaces, by a data-team user made with
    `mlflow-server.sh add-user analyst MANAGE`: each registered exactly once, version numbers
    distinct and consecutive, the champion untouched."""
    analyst = ("analyst", "analyst-password-0123")
    added = _script({**team_server.script_env, "NEW_USER_PASSWORD": analyst[1]}, "add-user", *analyst[:1],
                    "MANAGE")
    assert "user 'analyst' created" in added.stdout
    before = registry_state(team_server)
    command = [str(venv_program("partnerscore")), "--config", str(loop.config), "train", "--data",
               str(SAMPLE / "history.csv"), "--format", "json"]
    runs = [subprocess.Popen([*command, "--workspace", str(tmp_path / f"analyst-{i}")],
                             env=team_server.env(analyst), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    outputs = []
    try:
        for run in runs:
            out, err = run.communicate(timeout=600)
            assert run.returncode == 0, err
            outputs.append(json_document(out)["registered"])
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()

    after = registry_state(team_server)
    numbers = sorted(int(v) for v in after["versions"])
    assert numbers == list(range(1, len(before["versions"]) + 3))
    run_ids = [run_id for run_id, _ in after["versions"].values()]
    assert len(set(run_ids)) == len(run_ids)
    new = {o["version"]: o["run_id"] for o in outputs}
    assert len(new) == 2 and all(after["versions"][v][0] == r for v, r in new.items())
    assert after["aliases"]["champion"] == before["aliases"]["champion"]
    assert after["aliases"]["challenger"] in new
