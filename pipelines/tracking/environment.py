"""MLflow's settings for this process, without importing MLflow: quiet logging, bounded
waits on a tracking server, and one bounded check that a server answers.

MLflow reads these environment variables when it logs or sends a request, so they can
be set (and a server checked) before MLflow itself is loaded.
"""

from __future__ import annotations

import logging
import os
import time
import warnings

from model.config import TrackingSettings
from pipelines.errors import TrackingUnavailable


def quiet_logging() -> None:
    """Keep MLflow's progress bars, info logs and run links out of the user's terminal."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow prints "View run ... at ..." links to standard output against a server,
    # which would break `--format json`.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # MLflow's hints about dataset sources and integer columns do not apply: the
    # signature declares integers as doubles and the dataset source is a local file.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")


def bound_http_waits(settings: TrackingSettings, *, override: bool = True) -> None:
    """Make every MLflow HTTP request give up after `timeout_seconds` per try and `retries` retries.

    MLflow reads these variables at each request. The backoff factor is 1 with no
    jitter, so waits between tries are 0, 2, 4 ... s (urllib3) and the worst case
    is `wait_bound(settings)`. With `override` False, values already set are kept.
    """
    values = {"MLFLOW_HTTP_REQUEST_TIMEOUT": settings.timeout_seconds,
              "MLFLOW_HTTP_REQUEST_MAX_RETRIES": settings.retries,
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1, "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": 0}
    for key, value in values.items():
        if override or key not in os.environ:
            os.environ[key] = str(value)


def wait_bound(settings: TrackingSettings) -> float:
    """The longest one request to an unresponsive tracking server can take, in seconds."""
    backoff = sum(2.0 ** (n - 1) for n in range(2, settings.retries + 1))
    return settings.timeout_seconds * (settings.retries + 1) + backoff


def settings_in_force() -> TrackingSettings:
    """The bounds MLflow will use now (as set by `bound_http_waits` or the user)."""
    return TrackingSettings(timeout_seconds=int(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]),
                            retries=int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]))


def check_reachable(uri: str, settings: TrackingSettings) -> None:
    """For an http(s) tracking URI, one bounded request to its /health endpoint.

    Any HTTP answer counts as reachable (authentication errors are MLflow's to
    report); no answer within `wait_bound(settings)` raises.

    Raises:
        TrackingUnavailable: the server refused the connection, timed out or broke TLS.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import requests

    insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("true", "1")
    verify: bool | str = False if insecure else os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH", True)
    started, error = time.monotonic(), ""
    for attempt in range(settings.retries + 1):
        if attempt > 1:
            time.sleep(2.0 ** (attempt - 1))
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=settings.timeout_seconds,
                         verify=verify, allow_redirects=False)
            return
        except requests.RequestException as exc:
            error = type(exc).__name__
    raise TrackingUnavailable(
        f"tracking server unreachable at {uri}: no answer after {settings.retries + 1} tries "
        f"in {time.monotonic() - started:.0f} s ({error}); nothing was changed. Check "
        "MLFLOW_TRACKING_URI and the server, or raise tracking.timeout_seconds / retries")
