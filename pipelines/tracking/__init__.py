"""MLflow behind one gateway: runs, the registry and its aliases, serving, Spark."""
