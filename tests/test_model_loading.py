"""Model loading: verified first, only from formats that cannot run code, refused with status 3.

Every planted payload would create a marker file if anything unpickled or
constructed it; the marker must never appear, and `partnerscore predict --model`
must exit with status 3 and a readable message (no traceback).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import SAMPLE, Trained

from pipelines.cli.app import main
from pipelines.storage.atomic import sha256_file
from pipelines.storage.bundle import MANIFEST, BundleError, load_bundle


@pytest.fixture(autouse=True, scope="module")
def _restore_mlflow_uris() -> Iterator[None]:
    """Leave MLflow's process-wide URIs as this module found them (other modules rely on them)."""
    import mlflow.tracking._model_registry.utils as registry_uris
    import mlflow.tracking._tracking_service.utils as tracking_uris

    saved = tracking_uris._tracking_uri, registry_uris._registry_uri
    yield
    tracking_uris._tracking_uri, registry_uris._registry_uri = saved


class Plant:
    """Unpickling this creates `marker`: the proof that code from a model file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _payload(marker: Path) -> bytes:
    return pickle.dumps(Plant(marker))


def test_the_payloads_are_live(tmp_path: Path) -> None:
    """The planted payloads do run code when loaded the unsafe way, so their absence means something."""
    pickle.loads(_payload(tmp_path / "by-pickle"))
    yaml.unsafe_load(_yaml_payload(tmp_path / "by-yaml"))
    assert (tmp_path / "by-pickle").exists() and (tmp_path / "by-yaml").exists()


def _yaml_payload(marker: Path) -> str:
    return f"!!python/object/apply:builtins.open [{json.dumps(str(marker))}, w]\n"


@pytest.fixture
def bundle(trained: Trained, tmp_path: Path) -> Path:
    """A private copy of the exported champion."""
    copy = tmp_path / "model"
    shutil.copytree(trained.workspace.champion, copy)
    return copy


def _reseal(bundle: Path, *names: str) -> None:
    """Update the manifest's digests so only the content checks can refuse the bundle."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    for name in names:
        manifest["files"][name] = sha256_file(bundle / name)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def _predict_status(trained: Trained, model: Path | str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(trained.workspace.root), "predict", str(SAMPLE / "new_proposals.csv"),
              "--model", str(model), "--format", "json"])
    return int(stop.value.code or 0), capsys.readouterr().err


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npz_with_pickled_object(marker: Path) -> bytes:
    return _npz(coef=np.array([Plant(marker)], dtype=object), reference=np.zeros(1))


def _plant_arrays_pickle(bundle: Path, marker: Path) -> None:
    (bundle / "arrays.npz").write_bytes(_payload(marker))
    _reseal(bundle, "arrays.npz")


def _plant_object_array(bundle: Path, marker: Path) -> None:
    (bundle / "arrays.npz").write_bytes(_npz_with_pickled_object(marker))
    _reseal(bundle, "arrays.npz")


def _plant_string_array(bundle: Path, marker: Path) -> None:
    (bundle / "arrays.npz").write_bytes(_npz(coef=np.array(["os.system"]), reference=np.zeros(1)))
    _reseal(bundle, "arrays.npz")


def _plant_yaml_tag(bundle: Path, marker: Path) -> None:
    (bundle / "config.yaml").write_text(_yaml_payload(marker))
    _reseal(bundle, "config.yaml")


def _plant_yaml_tag_inside(bundle: Path, marker: Path) -> None:
    text = (bundle / "config.yaml").read_text()
    (bundle / "config.yaml").write_text(text + "extra: " + _yaml_payload(marker))
    _reseal(bundle, "config.yaml")


def _plant_unknown_option(bundle: Path, marker: Path) -> None:
    """A configuration this version cannot read (a model from a newer one, say)."""
    text = (bundle / "config.yaml").read_text()
    (bundle / "config.yaml").write_text(text.replace("  partner_sector:\n",
                                                     "  partner_sector:\n    shade: blue\n", 1))
    _reseal(bundle, "config.yaml")


def _plant_listed_extra_file(bundle: Path, marker: Path) -> None:
    (bundle / "model.pkl").write_bytes(_payload(marker))
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["model.pkl"] = sha256_file(bundle / "model.pkl")
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def _plant_unlisted_extra_file(bundle: Path, marker: Path) -> None:
    (bundle / "model.joblib").write_bytes(_payload(marker))


def _plant_untrusted_kind(bundle: Path, marker: Path) -> None:
    meta = json.loads((bundle / "model.json").read_text())
    meta["kind"] = "sklearn.linear_model.LogisticRegression"
    (bundle / "model.json").write_text(json.dumps(meta))
    _reseal(bundle, "model.json")


def _plant_symlink(bundle: Path, marker: Path) -> None:
    target = bundle.parent / "elsewhere.json"
    shutil.move(bundle / "training.json", target)
    (bundle / "training.json").symlink_to(target)


PLANTS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "arrays.npz is a pickle": (_plant_arrays_pickle, "not a numpy .npz archive"),
    "object array inside the npz": (_plant_object_array, "arrays refused"),
    "string array inside the npz": (_plant_string_array, "untrusted type"),
    "config.yaml is a python/object tag": (_plant_yaml_tag, "untrusted"),
    "python/object tag inside config.yaml": (_plant_yaml_tag_inside, "untrusted"),
    "manifest lists an extra pickle": (_plant_listed_extra_file, "must list exactly"),
    "an option this version does not know": (
        _plant_unknown_option, "its config.yaml is not one this version reads: "
                               "columns.partner_sector.shade"),
    "an unlisted joblib file beside": (_plant_unlisted_extra_file, "does not list"),
    "unknown model kind": (_plant_untrusted_kind, "unknown model kind"),
    "a file replaced by a symlink": (_plant_symlink, "training.json is missing"),
}


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_planted_payloads_are_refused_before_running(plant: str, bundle: Path, trained: Trained,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "code-ran"
    planter, message = PLANTS[plant]
    planter(bundle, marker)
    status, err = _predict_status(trained, bundle, capsys)
    assert not marker.exists(), "code from the model file ran"
    assert status == 3, err
    assert "model refused" in err and message in err.replace("\n", " ")
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["arrays.npz", "model.json", "config.yaml", "training.json", MANIFEST])
def test_a_flipped_byte_in_any_file_is_refused(name: str, bundle: Path, trained: Trained,
                                               capsys: pytest.CaptureFixture) -> None:
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(data))
    status, err = _predict_status(trained, bundle, capsys)
    assert status == 3 and "model refused" in err


@pytest.mark.parametrize("kind", ["pickle", "joblib"])
def test_a_pickle_or_joblib_file_given_as_model_is_refused(kind: str, trained: Trained, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    import joblib

    marker = tmp_path / "code-ran"
    path = tmp_path / f"model.{kind}"
    if kind == "pickle":
        path.write_bytes(_payload(marker))
    else:
        joblib.dump(Plant(marker), path)
    status, err = _predict_status(trained, path, capsys)
    assert not marker.exists()
    assert status == 3 and "pickle" in err and "never" in err.replace("\n", " ")


def test_the_real_cli_refuses_a_planted_npz_with_status_3(bundle: Path, trained: Trained,
                                                          tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    _plant_object_array(bundle, marker)
    command = [sys.executable, "-m", "pipelines.cli", "--workspace", str(trained.workspace.root),
               "predict", str(SAMPLE / "new_proposals.csv"), "--model", str(bundle)]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 3 and not marker.exists()
    assert b"model refused" in result.stderr and b"Traceback" not in result.stderr


def test_load_bundle_reads_only_numbers(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    assert loaded.manifest["files"].keys() == {"model.json", "arrays.npz", "config.yaml", "training.json"}
    (bundle / "arrays.npz").write_bytes(_npz(coef=np.zeros(2, dtype=[("a", "f8")]), reference=np.zeros(1)))
    _reseal(bundle, "arrays.npz")
    with pytest.raises(BundleError, match="untrusted type"):
        load_bundle(bundle)


def test_registry_uri_is_loaded_with_pickle_disabled(trained: Trained, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    """`--model models:/partnerscore/1` works, and MLflow's pickle loading is off during the download."""
    import mlflow

    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)
    seen: list[str | None] = []
    download = mlflow.artifacts.download_artifacts

    def spy(*args: Any, **kwargs: Any) -> str:
        seen.append(os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION"))
        return str(download(*args, **kwargs))

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", spy)
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(trained.workspace.root), "predict", str(SAMPLE / "new_proposals.csv"),
              "--model", "models:/partnerscore/1", "--format", "json"])
        raise SystemExit(0)
    assert stop.value.code in (0, None)
    document = json.loads(capsys.readouterr().out)
    assert seen == ["false"]
    assert document["model"]["version"] == "1" and document["model"]["uri"] == "models:/partnerscore/1"
    wanted = [line.split(",")[0] for line in (SAMPLE / "new_proposals.csv").read_text().splitlines()[1:]]
    assert sorted(p["proposal_id"] for p in document["proposals"]) == sorted(wanted)


def test_registry_uri_of_a_missing_version_is_refused(trained: Trained,
                                                      capsys: pytest.CaptureFixture) -> None:
    status, err = _predict_status(trained, "models:/partnerscore/99", capsys)
    assert status == 3 and "not in the registry" in err


def test_registry_uri_uses_the_workspace_registry(trained: Trained, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    """Run from another directory: the workspace's registry answers, no ./mlflow.db appears."""
    import mlflow.tracking._model_registry.utils as registry_uris
    import mlflow.tracking._tracking_service.utils as tracking_uris

    monkeypatch.chdir(tmp_path)
    # As in a fresh `partnerscore predict` process: MLflow's URIs are not set yet.
    monkeypatch.setattr(tracking_uris, "_tracking_uri", None)
    monkeypatch.setattr(registry_uris, "_registry_uri", None)
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(trained.workspace.root), "predict", str(SAMPLE / "new_proposals.csv"),
              "--model", "models:/partnerscore@champion", "--format", "json"])
        raise SystemExit(0)
    assert stop.value.code in (0, None)
    assert json.loads(capsys.readouterr().out)["model"]["uri"] == "models:/partnerscore@champion"
    assert not (tmp_path / "mlflow.db").exists()


def test_report_from_the_registry_downloads_with_pickle_disabled(trained: Trained, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from pipelines.report.build import report_command

    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", raising=False)
    seen: list[str | None] = []
    download = mlflow.artifacts.download_artifacts

    def spy(*args: Any, **kwargs: Any) -> str:
        seen.append(os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION"))
        return str(download(*args, **kwargs))

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", spy)
    output = tmp_path / "report.html"
    report_command(trained.workspace, None, output=output, model="models:/partnerscore/1", capacity=None,
                   data=None, sheet=None)
    assert seen == ["false"] and output.stat().st_size > 0
