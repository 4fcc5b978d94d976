"""partnerscore's domain: data contract, features, estimators, calibration, metrics, explanations.

Nothing here touches file paths, MLflow or the terminal.
"""
