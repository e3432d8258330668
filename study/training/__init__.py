"""Training, with no Optuna or MLflow inside: ``study.training.train.train(spec, data)`` for one trial,
``study.training.fused.train_fused`` for a stack of them, and the allocator setting that keeps a training step's
buffers. Nothing is re-exported here: ``train`` is both a module and its main function."""
