"""The network, the LightningModule and the data: ``optimizers`` <- ``models`` <- ``study``.

``models`` depends on torch, torchvision and Lightning only (never on Optuna, MLflow or ``study``). Nothing is
imported here: ``models.metric_names`` is read by the command line, which must not wait for torch. Import from the
modules: ``models.cnn``, ``models.classifier``, ``models.data``, ``models.datasets``, ``models.fused``.
"""
