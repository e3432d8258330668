"""``python -m study.bench.samplers``: which sampler spends a tuned sub-study's small budget best?

A tuned sub-study searches one optimizer's learning rate and batch size with a handful of trials (6 by
default): fewer than TPE's 8 random startup trials, so TPE is random search there. This runs the same small
searches with random sampling, scrambled Sobol points (``qmc``) and a Gaussian process (``gp``), for optimizers
whose good learning rates sit at different scales, several sampler seeds each, and reports the best validation
accuracy each search found: the sampler with the better mean (and rank) is the tuned protocol's default.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Sequence

import optuna

from study.records.stores import open_storage
from study.run import main as run

__all__ = ["main"]


def best_found(sampler: str, optimizer: str, seed: int, trials: int, data_dir: str | None, train_size: int) -> float:
    folder = tempfile.mkdtemp(prefix="bench-sampler-")
    args = ["--study-name", "s", "--optimizers", optimizer, "--n-trials", str(trials), "--sampler", sampler]
    args += ["--seed", str(seed), "--max-epochs", "1", "--train-size", str(train_size), "--pruner", "none"]
    args += ["--storage", f"{folder}/j.log", "--tracking-uri", f"sqlite:///{folder}/m.db", "--no-report"]
    args += ["--timeout", "none", "--experiment", "samplers"] + (["--data-dir", data_dir] if data_dir else [])
    run(args)
    study = optuna.load_study(study_name="s", storage=open_storage(f"{folder}/j.log"))
    return max((t.value for t in study.trials if t.value is not None), default=float("nan"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench.samplers", description=__doc__)
    parser.add_argument("--samplers", default="random,qmc,gp")
    parser.add_argument("--optimizers", default="adam,sgd,adadelta")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    samplers, optimizers = args.samplers.split(","), args.optimizers.split(",")
    found: dict[tuple[str, str], list[float]] = {}
    for seed in range(args.seeds):  # interleaved: every sampler once per (optimizer, seed) before the next
        for optimizer in optimizers:
            for sampler in samplers:
                value = best_found(sampler, optimizer, seed, args.trials, args.data_dir, args.train_size)
                found.setdefault((sampler, optimizer), []).append(value)
    ranks: dict[str, list[int]] = {s: [] for s in samplers}
    for optimizer in optimizers:
        for seed in range(args.seeds):
            order = sorted(samplers, key=lambda s: -found[(s, optimizer)][seed])
            for rank, sampler in enumerate(order, start=1):
                ranks[sampler].append(rank)
    header = ["sampler", *optimizers, "mean", "mean rank"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for sampler in samplers:
        per = [statistics.fmean(found[(sampler, o)]) for o in optimizers]
        cells = [f"{v:.4f}" for v in per] + [f"{statistics.fmean(per):.4f}", f"{statistics.fmean(ranks[sampler]):.2f}"]
        print(f"| {sampler} | " + " | ".join(cells) + " |")
    print(
        f"\nbest validation accuracy found in {args.trials} trials, mean of {args.seeds} sampler seeds; "
        f"1 epoch on {args.train_size} images"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
