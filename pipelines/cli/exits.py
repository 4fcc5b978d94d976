"""How each failure of the `partnerscore` command ends: its exit status and its message.

The statuses are listed in `pipelines.cli.app`'s docstring and the README. Failures a
user can act on are named in `_failures`, most specific first; anything else is a
defect, reported as "unexpected error" with status 1.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import typer

from model.config import ConfigError
from model.errors import ExplanationMismatch, ReportRefused, TrainingRefused
from model.validation import ContractError
from pipelines.errors import NotRegistered, OutputUnwritable, ReaderGone, TrackingUnavailable
from pipelines.storage.lock import WorkspaceBusy

UNEXPECTED, BAD_INPUT, UNTRUSTED, UNAVAILABLE, BUSY, FORBIDDEN, INTERRUPTED = 1, 2, 3, 69, 75, 77, 130
DEBUG_HINT = "Set PARTNERSCORE_DEBUG=1 to see the traceback."

Failure = tuple[type[BaseException], int, Callable[[BaseException], str]]


def _failures() -> list[Failure]:
    """Each failure a user can act on, most specific first, with its status and message."""
    from pipelines.storage.bundle import BundleError
    from pipelines.storage.store import StoreDamaged

    return [
        (ConfigError, BAD_INPUT, str),
        (ReportRefused, BAD_INPUT, lambda e: f"no weak-signal report: {e}"),
        (TrainingRefused, BAD_INPUT, lambda e: f"training refused: {e}"),
        (NotRegistered, BAD_INPUT, str),
        (OutputUnwritable, BAD_INPUT, lambda e: f"{e}. Nothing was written."),
        (BundleError, UNTRUSTED, lambda e: f"model refused: {e}"),
        (StoreDamaged, UNTRUSTED, lambda e: (
            f"labelled store refused: {e}.\nA stored file was changed outside partnerscore: "
            "restore it from a backup (partnerscore store lists every damaged period).")),
        (ExplanationMismatch, UNEXPECTED, lambda e: (
            f"training stopped: {e}\nCheck that shap and scikit-learn are the versions in "
            "requirements.lock; if they are, this is a defect in partnerscore.")),
        (TrackingUnavailable, UNAVAILABLE, str),
        (WorkspaceBusy, BUSY, str),
    ]


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Command-line parsing errors: Typer's own copy of Click's, and Click's."""
    import click

    own = getattr(typer, "TyperException", None)
    return (click.ClickException, *([own] if own else []))


def _fail(status: int, message: str) -> None:
    from pipelines.cli.console import err

    _tell(lambda: err.print(message, markup=False))
    raise SystemExit(status)


def _tell(show: Callable[[], None]) -> None:
    """Show a failure on standard error; a reader gone from it (`2>&1 | head -1`) changes
    nothing: the status is the failure's own."""
    import sys

    try:
        show()
        if sys.stderr is not None:  # None when the command ran with standard error closed
            sys.stderr.flush()
    except (BrokenPipeError, ReaderGone):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)


def _show_usage_error(exc: BaseException) -> None:
    status = int(getattr(exc, "exit_code", BAD_INPUT))
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message.startswith("Value error, "):
        # the converter's own prefix: "'xml' is not one of 'table', 'csv', ..." says it all
        exc.message = message.removeprefix("Value error, ")  # type: ignore[attr-defined]
    show = getattr(exc, "show", None)
    if callable(show):
        _tell(show)  # the usage line, the hint to --help, then the error, on standard error
    else:
        from pipelines.cli.console import err

        _tell(lambda: err.print(f"Error: {exc}", markup=False))
    raise SystemExit(status)


def _permission_denied(exc: BaseException) -> bool:
    code = str(getattr(exc, "error_code", ""))
    text = str(exc).lower()
    return (code in ("PERMISSION_DENIED", "UNAUTHENTICATED")
            or "permission denied" in text or ("401" in text and "unauthorized" in text))


def quiet_stdout() -> None:
    """Point standard output where a last flush cannot fail again."""
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _reader_gone() -> None:
    """The reader of standard output stopped early (`| head`): what it took is what it wanted,
    and the command's own work is done (decisions are logged before they are printed). End
    quietly with status 0 (`retrain` keeps its gate's status itself)."""
    quiet_stdout()
    raise SystemExit(0)


def known_failure(exc: BaseException) -> tuple[int, str] | None:
    """The exit status and message of a failure a user can act on; None for a defect."""
    for kind, status, message in _failures():
        if isinstance(exc, kind):
            return status, message(exc)
    if _permission_denied(exc):
        return FORBIDDEN, (f"permission denied by the tracking server: {exc}\n"
                           "Ask an administrator for EDIT or MANAGE on the experiment and model.")
    return None


def run(app: typer.Typer, argv: list[str] | None) -> None:
    """Run the command line; every failure ends with its documented status and a message.

    Raises:
        SystemExit: with the status from the table in this module's docstring.
    """
    try:
        status: Any = app(args=argv, standalone_mode=False)
    except ContractError as exc:
        from pipelines.cli.console import contract_report

        _tell(functools.partial(contract_report, exc))
        raise SystemExit(BAD_INPUT) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        _fail(INTERRUPTED, "interrupted")
    except (ReaderGone, BrokenPipeError):
        _reader_gone()
    except Exception as exc:
        if isinstance(exc, _usage_errors()):
            _show_usage_error(exc)
        known = known_failure(exc)
        if known is None and os.environ.get("PARTNERSCORE_DEBUG"):
            raise
        _fail(*(known or (UNEXPECTED, f"unexpected error: {type(exc).__name__}: {exc}\n{DEBUG_HINT}")))
    # In this mode a command's typer.Exit(code) comes back as the return value.
    if isinstance(status, int) and not isinstance(status, bool) and status:
        raise SystemExit(status)
