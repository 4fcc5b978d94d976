"""The command line: thin Typer commands and the console."""

from pipelines.cli.app import app, main

__all__ = ["app", "main"]
