"""``python -m study.bench``: how fast the study trains, measured against baselines in the same run.

- BM-1 training throughput at several batch sizes: a study trial (the study's worker, its records, Lightning; float32
  and, on a CPU with native bf16, bf16-mixed) reading the samples/s the trial logged, a plain PyTorch loop, and the
  article's Keras code in its steady state (float32 and mixed_bfloat16, when ``.venv-keras`` holds TensorFlow), each
  cross-checked once alone in a fresh process, with the CPU's GEMM rate measured in the same run.
- BM-2 trial overhead: a whole study trial against a raw loop over the same work, in an arm (ms per step) and as
  fresh processes (start-up: process start to the first training step).
- BM-3 study throughput: the same enqueued trials through ``study.run`` and through a peer pipeline built like
  Optuna's Lightning example.
- BM-4 ``--workers 1`` against ``--workers 2`` on one fixed study.
- BM-5 fused trials: stacks of K trials trained as one.
- BM-6 time to accuracy: wall seconds from process start to 98.5 % validation accuracy, ``python -m study.run``
  against the article's Keras code, each in a fresh process per run.

Every arm runs in its own process (the Keras ones under TensorFlow's Python), measured alone: while one is measured
the others are paused, and the check that they used no CPU meanwhile is recorded with every measurement
(``study.bench.isolation``). The measurements are interleaved round by round, so a drift of the shared machine hits
every arm alike; the tables give medians, min-max, the spread (max/min; a run says when it exceeds 1.15) and ratios
of medians measured in the same run, with the load average at start and end.
"""
