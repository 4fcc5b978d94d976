"""Writing a benchmark's results file while keeping its hand-written notes."""

from __future__ import annotations

import sys
from pathlib import Path

NOTES_MARKER = "<!-- notes: kept when the figures are regenerated -->"


def write_report(path: Path, text: str) -> None:
    """Write the figures, keeping any hand-written notes below NOTES_MARKER."""
    notes = ""
    if path.exists() and NOTES_MARKER in (old := path.read_text("utf-8")):
        notes = old[old.index(NOTES_MARKER):]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + ("\n" + notes if notes else ""), "utf-8")


def publish(text: str, output: Path | None) -> None:
    """Print a benchmark's report and, when `output` is set, write it there (`write_report`)."""
    print(text)
    if output:
        write_report(output, text)
        print(f"written to {output}", file=sys.stderr)
