"""partnerscore's jobs: loading files, ingest, training, tracking, prediction and reports."""

__version__ = "0.1.0"
