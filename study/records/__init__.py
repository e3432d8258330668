"""The study's records in its two stores: opening and checking them, the lock that serialises joining, the MLflow
runs, committing a trial's end to both stores in an order no signal can split, the provenance tags, and every use
of Optuna's private API. Its modules are imported one by one (nothing is re-exported here), so that a caller
pays only for the store library it needs."""
