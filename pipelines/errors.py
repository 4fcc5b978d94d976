"""Errors of the jobs that the command line maps to exit statuses (kept import-light)."""


class TrackingUnavailable(Exception):
    """The tracking server did not answer within the configured bound (exit status 69)."""


class NotRegistered(Exception):
    """A model version or alias the user named is not in the registry (exit status 2)."""


class OutputUnwritable(Exception):
    """A file or workspace the user named cannot be written there (exit status 2)."""


class ReaderGone(Exception):
    """The reader of standard output stopped early (`| head`): not an OSError, so that the
    command-line framework does not turn it into status 1 on its own (exit status 0)."""


class NothingNew(Exception):
    """`retrain` found the store exactly as the champion learned it, under the same
    configuration and seed: nothing is trained or registered (exit status 0)."""
