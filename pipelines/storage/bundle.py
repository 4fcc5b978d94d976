"""The model bundle: a directory that holds a scoring model with no executable content.

Layout: `model.json` (encoder, model kind, calibration), `arrays.npz` (numbers only,
read with allow_pickle=False), `config.yaml` (the configuration it was trained
with), `training.json` (metrics, importance, evidence for reports) and
`manifest.json`, which lists every file with its sha256. A bundle is loaded only
after every digest matches, so a flipped byte or a swapped file is refused before
anything in it is used. Importing this module never imports scikit-learn or MLflow.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from model.config import Config, ConfigError, parse_config
from model.scorer import ScoringModel
from pipelines.documents import TrainingRecord, json_default
from pipelines.storage.atomic import fsync_directory, fsync_file, sha256_file, write_synced

FORMAT = "partnerscore-bundle/1"
MANIFEST = "manifest.json"
FILES = ("model.json", "arrays.npz", "config.yaml", "training.json")
# The only array contents a bundle may hold: booleans, integers and floats. Anything
# else (objects, strings, structured records) is refused, as skops refuses types
# outside its allowlist; numbers cannot name code to run.
TRUSTED_DTYPE_KINDS = frozenset("biuf")
MAX_ARRAY_BYTES = 256 * 1024 * 1024  # uncompressed; a model here is kilobytes


class BundleError(Exception):
    """A model bundle is missing, altered or not a partnerscore bundle (exit status 3)."""


@dataclass(frozen=True)
class Bundle:
    """A verified, loaded model bundle."""

    path: Path
    model: ScoringModel
    config: Config
    training: TrainingRecord
    manifest: dict[str, Any]

    @property
    def registry(self) -> dict[str, Any]:
        """Name, version and URI of the registered model, when exported from the registry."""
        return dict(self.manifest.get("registry") or {})






def write_bundle(directory: Path, model: ScoringModel, config_text: str,
                 training: TrainingRecord, registry: dict[str, Any] | None = None) -> Path:
    """Write a bundle into an empty or new directory; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    meta, arrays = model.to_parts()
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    contents = {
        "model.json": json.dumps(meta, indent=1, sort_keys=True).encode(),
        "arrays.npz": buffer.getvalue(),
        "config.yaml": config_text.encode("utf-8"),
        "training.json": json.dumps(training.to_json(), indent=1, sort_keys=True,
                                    default=json_default).encode(),
    }
    for name, data in contents.items():
        write_synced(directory / name, data)
    manifest = {"format": FORMAT, "files": {n: sha256_file(directory / n) for n in FILES},
                "registry": registry or {}}
    write_synced(directory / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return directory


def verify(directory: Path) -> dict[str, Any]:
    """Check the manifest and every file's sha256; returns the manifest.

    Raises:
        BundleError: when anything is missing, unexpected or altered.
    """
    try:
        manifest = json.loads((directory / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{directory}: no readable {MANIFEST}; not a partnerscore model") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{directory}: unknown model format; expected {FORMAT}")
    files = manifest.get("files") or {}
    if not isinstance(files, dict) or set(files) != set(FILES):
        raise BundleError(f"{directory}: the manifest must list exactly {', '.join(FILES)}")
    unlisted = sorted(p.name for p in directory.iterdir() if p.name not in {*FILES, MANIFEST})
    if unlisted:
        raise BundleError(f"{directory}: holds files its manifest does not list ({', '.join(unlisted)}); "
                          "a partnerscore model is exactly its manifest's files")
    for name, expected in files.items():
        path = directory / name
        if not path.is_file() or path.is_symlink():
            raise BundleError(f"{directory}: {name} is missing")
        if sha256_file(path) != expected:
            raise BundleError(f"{directory}: {name} does not match its sha256 in the manifest; "
                              "the model was altered or damaged and will not be loaded")
    return manifest


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The numeric arrays of `arrays.npz`, refusing anything that is not plain numbers.

    The archive must be a zip of `.npy` members (a pickle or any other file is refused
    by its first bytes); members are read with allow_pickle=False, so an object array
    raises before any of its content is interpreted; only bool, integer and float
    arrays are accepted.

    Raises:
        BundleError: for anything else.
    """
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise BundleError(f"{path}: not a numpy .npz archive (a pickle or another format?); "
                              "refused without reading it")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > MAX_ARRAY_BYTES:
                raise BundleError(f"{path}: arrays larger than {MAX_ARRAY_BYTES} bytes; refused")
            arrays = {}
            for member in members:
                if not member.filename.endswith(".npy") or member.is_dir():
                    raise BundleError(f"{path}: unexpected member {member.filename!r}")
                with archive.open(member) as data:
                    array = np.lib.format.read_array(data, allow_pickle=False)
                if array.dtype.kind not in TRUSTED_DTYPE_KINDS:
                    raise BundleError(f"{path}: array {member.filename!r} has the untrusted type "
                                      f"{array.dtype}; only numbers are allowed")
                arrays[member.filename.removesuffix(".npy")] = array
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise BundleError(f"{path}: arrays refused: {exc}") from exc
    return arrays


def load_bundle(directory: str | Path) -> Bundle:
    """Verify, then load a bundle. Nothing in it can run code: JSON, YAML and plain arrays.

    Raises:
        BundleError: when the digests do not match, or any file is not what a
            partnerscore model holds (a YAML tag naming a Python object, an object
            array, a pickle, an unknown model kind). Nothing from the bundle has run then.
    """
    path = Path(directory)
    manifest = verify(path)
    try:
        config = parse_config(yaml.safe_load((path / "config.yaml").read_text("utf-8")))
        meta = json.loads((path / "model.json").read_text("utf-8"))
        training = json.loads((path / "training.json").read_text("utf-8"))
        if not isinstance(meta, dict) or not isinstance(training, dict):
            raise ValueError("model.json and training.json must hold JSON objects")
        model = ScoringModel.from_parts(meta, read_arrays(path / "arrays.npz"), config.features)
    except BundleError:
        raise
    except (yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, ConfigError):  # each problem, not the heading alone
            reason = "its config.yaml is not one this version reads: " + "; ".join(
                exc.problems)
        raise BundleError(f"{path}: the model files are inconsistent or untrusted: {reason}") from exc
    return Bundle(path, model, config, TrainingRecord.from_json(training), manifest)


def stage_export(source: Path, target: Path, registry: dict[str, Any]) -> Path:
    """Copy a verified bundle into a new versioned directory beside `target`.

    Nothing reads the staged copy until `activate` points `target` at it.
    """
    verify(source)
    exports = target.parent / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f"v{registry.get('version', 'x')}-", dir=exports))
    try:
        staged.chmod(0o755)
        for name in FILES:
            shutil.copyfile(source / name, staged / name)
            fsync_file(staged / name)
        manifest = json.loads((source / MANIFEST).read_text("utf-8"))
        manifest["registry"] = registry
        write_synced(staged / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        verify(staged)
        fsync_directory(exports)
    except BaseException:
        # A full disk or an interrupt must not leave a half-copied export behind.
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged


def activate(staged: Path, target: Path) -> Path:
    """Point the `target` link at a staged export in one atomic rename.

    Readers see the old champion or the new one, never a mixture.
    """
    link = target.parent / f".{target.name}.{os.getpid()}.tmp"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(staged.relative_to(target.parent))
    try:
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)
    return target


def discard_partial_exports(target: Path) -> list[Path]:
    """Remove staged exports that never completed (a crash while copying); returns them.

    Only directories that do not verify and are not the current target are removed:
    a complete export, even one no longer active, may still be read by a `predict`
    that resolved the link just before it moved. Call this under the workspace lock.
    """
    exports = target.parent / "exports"
    active = target.resolve() if target.is_symlink() else None
    removed = []
    for staged in sorted(exports.iterdir()) if exports.is_dir() else []:
        if not staged.is_dir() or staged.is_symlink() or staged.resolve() == active:
            continue
        try:
            verify(staged)
        except BundleError:
            shutil.rmtree(staged, ignore_errors=True)
            removed.append(staged)
    return removed




def exported_version(target: Path) -> str | None:
    """The registry version of the exported champion, or None when there is none."""
    try:
        manifest = json.loads((target / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    version = (manifest.get("registry") or {}).get("version")
    return None if version is None else str(version)

