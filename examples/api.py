"""The study from Python: compare optimizers on the MLP of ``examples/mlp.py`` and print the answer.

    .venv/bin/python examples/api.py                 # 12 trials, 2 epochs each (a few minutes on a laptop)
    .venv/bin/python examples/api.py --quick         # 2 trials of one epoch on 1,000 images (seconds)

``compare`` takes the options of ``python -m study.run`` as keywords and returns the results; ``quiet=True``
prints nothing. The stores, the report and the exported winner are the command line's.
"""

from __future__ import annotations

import argparse
import sys

from study import compare
from study.api import StudyInputError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny budget, to see it work")
    parser.add_argument("--storage", help="Optuna storage (default: the study's)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the study's)")
    args = parser.parse_args(argv)
    budget = {"n_trials": 2, "max_epochs": 1, "data_args": {"train_size": 1000}} if args.quick else {}
    stores = {k: v for k, v in {"storage": args.storage, "tracking_uri": args.tracking_uri}.items() if v}
    try:
        results = compare(
            model="examples/mlp.py:build",
            data="examples/mlp.py:data",
            study_name="mlp-api-quick" if args.quick else "mlp-api",
            optimizers=["adam", "adamw", "momentum", "rmsprop"],
            batch_sizes=[64, 128],
            quiet=True,
            **{"n_trials": 12, "max_epochs": 2, **budget, **stores},
        )
    except StudyInputError as err:
        print(f"bad input: {err}", file=sys.stderr)
        return 2
    for row in results.optimizers:
        print(f"{row['optimizer']:>10}: best {results.metric} {row['best_val_acc']}, lr {row['best_lr']}")
    if results.best is not None:
        best = results.best
        print(f"best: {best.optimizer} at lr {best.lr:.3g}, batch {best.batch_size}: {results.metric} {best.value:.4f}")
    print(f"report: {results.report}; winner: {results.best_toml}")
    return results.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
