"""Files: format readers, atomic writes, the labelled store, the decision log, the lock, model bundles."""
