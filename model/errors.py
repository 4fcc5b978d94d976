"""Domain errors shared by the jobs and the command line (kept import-light)."""


class TrainingRefused(Exception):
    """The labelled data cannot support a trustworthy model (too few outcomes)."""
