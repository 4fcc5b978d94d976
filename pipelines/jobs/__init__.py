"""The jobs: typed functions that train, retrain, ingest, predict and decide."""
