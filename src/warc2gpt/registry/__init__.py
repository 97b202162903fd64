"""The MLflow model: pyfunc logging, lineage tags, registry aliases and the promotion gate."""
