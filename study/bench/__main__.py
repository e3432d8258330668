"""``python -m study.bench``: the five benchmarks, interleaved, as Markdown (printed and saved) and JSON."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study.bench.output import render
from study.bench.runner import Arm, interleave, keras_available, load_average, machine, study_run_seconds
from study.bench.throughput import CONFIGS
from study.workers.supervisor import default_threads

FULL: dict[str, Any] = {
    "rounds": 5,
    "batch_sizes": (32, 64, 128, 256),
    "steps": 200,
    "trial": dict(batch_size=64, train_size=20000, epochs=1),
    "set": dict(train_size=10000, epochs=2, configs=CONFIGS),
    "workers_args": [
        *("--study-name", "bench", "--n-trials", "8", "--max-epochs", "1", "--train-size", "8000"),
        *("--optimizers", "adam,sgd,rmsprop,momentum", "--batch-sizes", "64,128", "--pruner", "none"),
        *("--timeout", "none", "--device", "cpu"),
    ],
    "workers_trials": 8,
    "fused": dict(slots=(1, 2, 4, 8), batch_size=64, train_size=8000, epochs=1),
}
SMOKE: dict[str, Any] = {
    "rounds": 1,
    "batch_sizes": (64,),
    "steps": 10,
    "trial": dict(batch_size=64, train_size=512, epochs=1),
    "set": dict(train_size=512, epochs=1, configs=CONFIGS[:2]),
    "workers_args": [
        *("--study-name", "bench", "--n-trials", "2", "--max-epochs", "1", "--train-size", "256"),
        *("--optimizers", "adam,sgd", "--batch-sizes", "64", "--pruner", "none", "--timeout", "none"),
        *("--device", "cpu"),
    ],
    "workers_trials": 2,
    "fused": dict(slots=(1, 2), batch_size=64, train_size=512, epochs=1),
}
BENCHMARKS = ("BM-1", "BM-2", "BM-3", "BM-4", "BM-5")


def _bm1(plan: dict[str, Any], arm: Arm, base: Arm, keras: Arm | None, data_dir: str | None) -> dict[str, Any]:
    """Ours in its own process (it tunes its allocator as a study worker does); the baselines in another."""
    measures: dict[str, Any] = {"gemm GFLOP/s": lambda: base.ask(kind="gemm")}
    for size in plan["batch_sizes"]:
        request = {"batch_size": size, "steps": plan["steps"]}
        measures[f"ours bs {size}"] = lambda r=request: arm.ask(kind="ours", data_dir=data_dir, **r)
        measures[f"plain bs {size}"] = lambda r=request: base.ask(kind="plain", data_dir=data_dir, **r)
        if keras is not None:
            measures[f"keras bs {size}"] = lambda r=request: keras.ask(**r)
    return {name: series.as_dict() for name, series in interleave(plan["rounds"], measures).items()}


def _bm2(plan: dict[str, Any], arm: Arm, data_dir: str | None) -> dict[str, Any]:
    request = {"data_dir": data_dir, **plan["trial"]}
    measures = {
        "study trial ms/step": lambda: arm.ask(kind="study_trial", **request),
        "raw loop ms/step": lambda: arm.ask(kind="raw_loop", **request),
    }
    return {name: series.as_dict() for name, series in interleave(plan["rounds"], measures).items()}


def _bm3(plan: dict[str, Any], arm: Arm, data_dir: str | None) -> dict[str, Any]:
    request = {"data_dir": data_dir, **plan["set"]}
    measures = {
        "study.run trials/min": lambda: arm.ask(kind="study_set", **request),
        "peer trials/min": lambda: arm.ask(kind="peer_set", **request),
    }
    out: dict[str, Any] = {}
    for name, series in interleave(plan["rounds"], measures).items():
        out[name] = {**series.as_dict(), "accuracies": series.extra}
    out["configs"] = [list(c) for c in plan["set"]["configs"]]
    return out


def _bm4(plan: dict[str, Any], data_dir: str | None) -> dict[str, Any]:
    args = [*plan["workers_args"], *(["--data-dir", data_dir] if data_dir else [])]
    trials = plan["workers_trials"]
    measures = {
        "--workers 1 trials/min": lambda: trials / study_run_seconds(args, 1) * 60,
        "--workers 2 trials/min": lambda: trials / study_run_seconds(args, 2, threads=default_threads(2)) * 60,
    }
    return {name: series.as_dict() for name, series in interleave(plan["rounds"], measures).items()}


def _bm5(plan: dict[str, Any], arm: Arm, data_dir: str | None) -> dict[str, Any]:
    settings = {k: v for k, v in plan["fused"].items() if k != "slots"}
    measures = {
        f"K={k} epoch-trials/min": lambda k=k: arm.ask(kind="fused_set", data_dir=data_dir, slots=k, **settings)
        for k in plan["fused"]["slots"]
    }
    return {name: series.as_dict() for name, series in interleave(plan["rounds"], measures).items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one tiny round of everything (what CI runs)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of BM-1..BM-5")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of the arms")
    parser.add_argument("--data-dir", help="folder holding MNIST/raw/ (default data/)")
    parser.add_argument("--out", default="bench-results", help="folder for the Markdown and JSON files")
    args = parser.parse_args(argv)
    plan = dict(SMOKE if args.smoke else FULL)
    if args.rounds:
        plan["rounds"] = args.rounds
    only = [b.strip() for b in args.only.split(",")]
    data_dir = args.data_dir or str(Path("data").resolve())

    result: dict[str, Any] = {"machine": machine(), "threads": args.threads, "plan": {**plan, "set": None}}
    result["load_start"] = load_average()
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    partial = out / f"bench-{stamp}.partial.json"  # what was measured so far survives a crash or a kill
    arm = Arm.torch(args.threads)
    base = Arm.torch(args.threads)
    keras = Arm.keras(args.threads, data_dir) if keras_available() and "BM-1" in only else None
    result["keras"] = keras.hello.get("versions") if keras else "not installed (make bench builds .venv-keras)"
    try:
        if "BM-1" in only:
            result["BM-1"] = _bm1(plan, arm, base, keras, data_dir)
            partial.write_text(json.dumps(result, indent=2, default=str))
        if "BM-2" in only:
            result["BM-2"] = _bm2(plan, arm, data_dir)
            partial.write_text(json.dumps(result, indent=2, default=str))
        if "BM-3" in only:
            result["BM-3"] = _bm3(plan, arm, data_dir)
            partial.write_text(json.dumps(result, indent=2, default=str))
        if "BM-5" in only:
            result["BM-5"] = _bm5(plan, arm, data_dir)
            partial.write_text(json.dumps(result, indent=2, default=str))
    finally:
        arm.close()
        base.close()
        if keras:
            keras.close()
    if "BM-4" in only:
        result["BM-4"] = _bm4(plan, data_dir)
    result["load_end"] = load_average()
    result["seconds"] = time.perf_counter() - started
    markdown = render(result)
    (out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    partial.unlink(missing_ok=True)
    (out / f"bench-{stamp}.md").write_text(markdown)
    print(markdown)
    print(f"\nsaved: {out / f'bench-{stamp}.md'} and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
