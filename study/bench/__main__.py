"""``python -m study.bench``: the six benchmarks, interleaved, as Markdown (printed and saved) and JSON.

The options are read before anything heavy is imported: ``--help`` and a bad option answer at once. The arms run in
their own processes (``study.bench.suite``); this one only plans, pauses and resumes them, and writes the results.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study.bench.output import render
from study.bench.plan import BENCHMARKS, FULL, SMOKE
from study.bench.runner import (
    Arms,
    bf16_skip_reason,
    cpu_flags,
    keras_skip_reason,
    keras_versions,
    load_average,
    machine,
)
from study.bench.suite import RUNS, Context

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study.bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one tiny round of everything (what CI runs)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds of every benchmark (default 5; BM-6: 3)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset of BM-1..BM-6")
    parser.add_argument("--batch-sizes", help="BM-1's batch sizes, comma-separated (default 64,128,256)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of every arm (default all)")
    parser.add_argument("--data-dir", help="folder holding MNIST/raw/ (default data/)")
    parser.add_argument("--out", default="bench-results", help="folder for the Markdown and JSON files")
    return parser


def _plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The plan the options ask for, and the benchmarks to run; a bad value ends the command (exit 2)."""
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in only if b not in BENCHMARKS]
    if unknown or not only:
        parser.error(f"--only: got {args.only!r}; accepted: a comma-separated subset of {', '.join(BENCHMARKS)}")
    plan = dict(SMOKE if args.smoke else FULL)
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error(f"--rounds: got {args.rounds}; accepted: a whole number >= 1")
        plan["rounds"] = args.rounds
        plan["tta"] = {**plan["tta"], "rounds": args.rounds}
    if args.threads < 1:
        parser.error(f"--threads: got {args.threads}; accepted: a whole number >= 1")
    if args.batch_sizes is not None:
        try:
            sizes = tuple(int(s) for s in args.batch_sizes.split(","))
        except ValueError:
            sizes = ()
        if not sizes or min(sizes) < 1:
            parser.error(f"--batch-sizes: got {args.batch_sizes!r}; accepted: whole numbers >= 1, e.g. 64,256")
        plan["batch_sizes"] = sizes
    return plan, [b for b in BENCHMARKS if b in only]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    plan, only = _plan(parser, args)
    data_dir = args.data_dir or str(Path("data").resolve())
    keras_skip, bf16_skip = keras_skip_reason(), bf16_skip_reason(cpu_flags())
    result: dict[str, Any] = {"machine": machine(), "threads": args.threads, "plan": plan, "only": only}
    result["skipped"] = {"keras": keras_skip, "bf16": bf16_skip}
    result["keras"] = keras_skip or keras_versions()
    result["load_start"] = load_average()
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    partial = out / f"bench-{stamp}.partial.json"  # what was measured so far survives a crash or a kill
    arms = Arms()
    with tempfile.TemporaryDirectory(prefix="bench-scratch-") as scratch:
        context = Context(plan, arms, args.threads, data_dir, Path(scratch), keras_skip, bf16_skip)
        try:
            for name in only:
                clock = time.perf_counter()
                result[name] = RUNS[name](context)
                result[name]["seconds"] = time.perf_counter() - clock
                partial.write_text(json.dumps(result, indent=2, default=str))
        finally:
            arms.close()
    result["keras_threads"] = {"intra_op": args.threads, **(context.keras_calibration or {})}
    result["load_end"] = load_average()
    result["seconds"] = time.perf_counter() - started
    result["over_spread"] = {name: result[name]["over_spread"] for name in only if result[name]["over_spread"]}
    result["cross_check_off"] = result["BM-1"]["cross_check_off"] if "BM-1" in result else {}
    markdown = render(result)
    (out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2, default=str))
    partial.unlink(missing_ok=True)
    (out / f"bench-{stamp}.md").write_text(markdown)
    print(markdown)
    print(f"\nsaved: {out / f'bench-{stamp}.md'} and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
