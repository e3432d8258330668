"""One benchmark arm's long-lived process: ``python -m study.bench.server --threads N``.

It loads the stack once, then answers requests on its standard input, one JSON object a line
(``{"kind": "plain", "batch_size": 64, "steps": 500, "warmup": 100}``), with ``{"value": ...}`` (and ``"extra"``
when the measure returns more) or ``{"error": "..."}``.
Keeping the process between requests lets the runner interleave arms without paying an import per measurement.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch

from study.bench import fused, overhead, raw, steps, throughput
from study.training.train import quiet_lightning

__all__ = ["KINDS", "main"]

KINDS: dict[str, Callable[..., Any]] = {
    "ours": steps.ours,
    "plain": steps.plain,
    "gemm": steps.gemm_gflops,
    "study_trial": overhead.study_trial,
    "raw_loop": raw.raw_loop,
    "study_set": throughput.study_set,
    "peer_set": throughput.peer_set,
    "fused_set": fused.fused_set,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench.server")
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    replies, sys.stdout = sys.stdout, sys.stderr  # whatever a library prints must not corrupt the replies
    torch.set_num_threads(args.threads)
    quiet_lightning()
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    print(json.dumps({"ready": True, "threads": torch.get_num_threads()}), file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        kind = request.pop("kind")
        try:
            value = KINDS[kind](**request)
            reply = value if isinstance(value, dict) else {"value": value}
        except Exception as err:  # noqa: BLE001 - the runner reports it in its table
            reply = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(reply), file=replies, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
