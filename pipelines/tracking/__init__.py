"""MLflow behind one gateway: runs, the registry and its aliases, serving, Spark.

This package's own namespace stays import-light (no MLflow), so the predict path can
ask whether a `--model` names the registry without loading MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.config import Config, TrackingSettings

REGISTRY_SCHEMES = ("models:/", "runs:/")


@dataclass(frozen=True)
class RegistrySettings:
    """What scoring needs to know of the registry: the team's model name and the wait bounds.

    With no `tracking` settings (no configuration given), waits are bounded by MLflow's
    own variables where the user set them, else by the shipped defaults.
    """

    registered_name: str = "partnerscore"
    tracking: TrackingSettings | None = None

    @classmethod
    def of(cls, config: Config) -> RegistrySettings:
        """The registry settings of a team's configuration."""
        return cls(config.model.registered_name, config.tracking)


def is_registry_uri(text: str | None) -> bool:
    """Whether `text` names a model in MLflow (`models:/...` or `runs:/...`), not a directory."""
    return bool(text) and str(text).startswith(REGISTRY_SCHEMES)
