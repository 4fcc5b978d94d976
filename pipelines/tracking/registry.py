"""Champion, challenger and previous: moving aliases and keeping the exported champion in step.

The registry's `@champion` alias is the source of truth. A promotion stages the new
export first, records on the new version which champion it replaces, moves
`@champion` (the commit point), then tidies the other aliases and swaps the
exported copy in one rename. Should a process die after the commit point, the next
job that touches the registry finishes the promotion (`sync_champion`): it sets
`@previous` from the recorded tag, drops a `@challenger` that is now champion and
re-exports the champion. Should it die before, nothing visible has changed.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.errors import NotRegistered
from pipelines.settings import Workspace
from pipelines.storage.bundle import activate, discard_partial_exports, exported_version, stage_export
from pipelines.tracking.gateway import CHALLENGER, CHAMPION, PREVIOUS, Gateway

REPLACES = "replaces"  # version tag: the champion this version replaced when promoted


def _registry_info(name: str, version: str, gateway: Gateway) -> dict[str, Any]:
    run_id = gateway.version_run_id(name, version)
    return {"name": name, "version": version, "uri": f"models:/{name}/{version}",
            "run_id": run_id, "synced_at": datetime.now(UTC).isoformat(timespec="seconds")}


def export_version(gateway: Gateway, workspace: Workspace, name: str, version: str) -> Path:
    """Download a registered version's bundle and stage it beside the champion link."""
    with tempfile.TemporaryDirectory(prefix="partnerscore-model-") as tmp:
        bundle = gateway.download_bundle(f"models:/{name}/{version}", Path(tmp))
        return stage_export(bundle, workspace.champion, _registry_info(name, version, gateway))


def _finish_promotion(gateway: Gateway, name: str, champion: str) -> None:
    """Complete the alias moves of a promotion that was interrupted after its commit point."""
    replaced = gateway.version_tags(name, champion).get(REPLACES, "")
    if replaced and replaced != champion \
            and gateway.alias_version(name, PREVIOUS) != replaced:
        gateway.set_alias(name, PREVIOUS, replaced)
    if gateway.alias_version(name, CHALLENGER) == champion:
        gateway.remove_alias(name, CHALLENGER)


def sync_champion(gateway: Gateway, workspace: Workspace, name: str) -> str | None:
    """Make the aliases and the exported champion match the registry's `@champion`.

    Also removes half-copied exports left by a crash. Call under the workspace lock.
    Returns the champion's version, or None when there is none.
    """
    discard_partial_exports(workspace.champion)
    version = gateway.alias_version(name, CHAMPION)
    if version is not None:
        _finish_promotion(gateway, name, version)
        if exported_version(workspace.champion) != version:
            activate(export_version(gateway, workspace, name, version), workspace.champion)
    return version


def promote(gateway: Gateway, workspace: Workspace, name: str, version: str,
            reason: str) -> str | None:
    """Make `version` the champion; the old champion keeps `@previous`. Returns the old one."""
    old = gateway.alias_version(name, CHAMPION)
    staged = export_version(gateway, workspace, name, version)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    gateway.tag_version(name, version, {"promoted_at": now, "promotion": reason,
                                                 REPLACES: old if old not in (None, version) else ""})
    gateway.set_alias(name, CHAMPION, version)
    _finish_promotion(gateway, name, version)
    activate(staged, workspace.champion)
    return old


def rollback(gateway: Gateway, workspace: Workspace, name: str) -> tuple[str, str]:
    """Swap `@champion` and `@previous`; returns (from version, to version)."""
    current = gateway.alias_version(name, CHAMPION)
    previous = gateway.alias_version(name, PREVIOUS)
    if current is None or previous is None:
        raise NotRegistered("nothing to roll back to: the registry has no @previous version")
    promote(gateway, workspace, name, previous, f"rollback from version {current}")
    return current, previous
