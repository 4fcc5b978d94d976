"""Domain errors shared by the jobs and the command line (kept import-light)."""


class TrainingRefused(Exception):
    """The labelled data cannot support a trustworthy model (too few outcomes)."""


class ExplanationMismatch(Exception):
    """The exported model's explanations differ from shap's: the model is not registered."""
