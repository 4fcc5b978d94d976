"""Domain errors shared by the jobs and the command line (kept import-light)."""


class TrainingRefused(Exception):
    """The labelled data cannot support a trustworthy model (too few outcomes)."""


class ReportRefused(TrainingRefused):
    """The labelled data cannot support the weak-signal report (its main-effects model)."""


class ExplanationMismatch(Exception):
    """The exported model's explanations differ from shap's: the model is not registered."""


def refuse_single_outcome(positives: int, rows: int) -> None:
    """Raise TrainingRefused unless the labelled proposals hold both outcomes."""
    if rows == 0:
        raise TrainingRefused("no labelled proposals to learn from")
    if positives in (0, rows):
        outcome = "real impact" if positives else "no real impact"
        raise TrainingRefused(f"all {rows} labelled proposals have {outcome}: a model needs both "
                              "outcomes to learn from; label proposals with the other outcome "
                              "first")
