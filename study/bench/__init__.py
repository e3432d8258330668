"""``python -m study.bench``: how fast the study trains, measured against baselines in the same run.

- BM-1 step throughput at several batch sizes: our training step (ArticleCNN, device-resident data, our Adam,
  Lightning), a plain PyTorch loop (the article's layout, ``DataLoader(ToTensor())``, ``torch.optim.Adam``) and
  the article's Keras model on TensorFlow (when ``.venv-keras`` holds it), each also as a share of the CPU's
  GEMM rate measured in the same run.
- BM-2 trial overhead: a whole study trial (Trainer, callbacks, both stores) against a raw loop over the same
  model, data, optimizer, steps and validation passes.
- BM-3 study throughput: the same enqueued trials through ``study.run`` and through a peer pipeline built like
  Optuna's Lightning example.
- BM-4 ``--workers 1`` against ``--workers 2`` on one fixed study.

Every arm runs in its own long-lived process (the Keras one under TensorFlow's Python), and the measurements are
interleaved round by round, so a drift of the shared machine hits every arm alike; the tables give medians,
min-max and ratios to a baseline measured in the same run, with the load average at start and end.
"""
