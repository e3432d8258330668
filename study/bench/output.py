"""The benchmark's Markdown: one table per benchmark, medians with min-max, ratios to a baseline of the same run."""

from __future__ import annotations

import math
from typing import Any

from study.bench.steps import FLOP_PER_SAMPLE

__all__ = ["render"]


def _cell(stats: dict[str, Any] | None, spec: str = ".0f") -> str:
    if not stats or not stats["values"]:
        return "–"
    return f"{stats['median']:{spec}} ({stats['min']:{spec}}–{stats['max']:{spec}})"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b or not b["values"] or not b["median"] or math.isnan(a["median"]):
        return "–"
    return f"{a['median'] / b['median']:.2f}×"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _bm1(bm: dict[str, Any], keras: bool) -> str:
    gemm = bm["gemm GFLOP/s"]
    sizes = sorted({int(k.split()[-1]) for k in bm if k.startswith("ours bs")})
    rows = []
    for size in sizes:
        ours, plain, tf = bm.get(f"ours bs {size}"), bm.get(f"plain bs {size}"), bm.get(f"keras bs {size}")
        share = "–"
        if ours and gemm["values"]:
            share = f"{ours['median'] * FLOP_PER_SAMPLE / 1e9 / gemm['median']:.0%}"
        rows.append([str(size), _cell(ours), _cell(plain), _cell(tf), _ratio(ours, tf), _ratio(ours, plain), share])
    header = ["batch", "ours", "plain PyTorch", "Keras/TF", "ours / Keras", "ours / plain", "ours, share of GEMM"]
    note = "" if keras else "\n\nThe Keras arm did not run: `.venv-keras` is missing (`make bench` builds it)."
    return (
        "### BM-1 step throughput (training samples/s, median (min–max))\n\n"
        + _table(header, rows)
        + f"\n\nGEMM rate measured in the same run: {_cell(gemm, '.1f')} GFLOP/s (float32, 2048²); "
        + f"one training sample is {FLOP_PER_SAMPLE / 1e6:.2f} MFLOP."
        + note
    )


def _bm2(bm: dict[str, Any]) -> str:
    trial, raw = bm["study trial ms/step"], bm["raw loop ms/step"]
    overhead = f"{trial['median'] / raw['median'] - 1:+.1%}" if raw["median"] else "–"
    rows = [["study trial", _cell(trial, ".2f")], ["raw loop", _cell(raw, ".2f")], ["overhead", overhead]]
    return "### BM-2 trial overhead (ms per training step, validation included)\n\n" + _table(["", "ms/step"], rows)


def _bm3(bm: dict[str, Any]) -> str:
    ours, peer = bm["study.run trials/min"], bm["peer trials/min"]
    rows = [["study.run", _cell(ours, ".2f")], ["peer (Optuna's Lightning example)", _cell(peer, ".2f")]]
    rows.append(["ratio", _ratio(ours, peer)])
    accuracy_rows = []
    for i, config in enumerate(bm["configs"]):
        cells = []
        for side in (ours, peer):
            values = [round(run[i], 4) for run in side["accuracies"] if run and run[i] is not None]
            cells.append(", ".join(f"{v:.4f}" for v in values) or "–")
        accuracy_rows.append([f"{config[0]} lr {config[1]:g} bs {config[2]}", *cells])
    return (
        "### BM-3 study throughput (trials per minute)\n\n"
        + _table(["", "trials/min"], rows)
        + "\n\nBest validation accuracy of each configuration, one value per round:\n\n"
        + _table(["configuration", "study.run", "peer"], accuracy_rows)
    )


def _bm4(bm: dict[str, Any]) -> str:
    one, two = bm["--workers 1 trials/min"], bm["--workers 2 trials/min"]
    rows = [["--workers 1", _cell(one, ".2f")], ["--workers 2", _cell(two, ".2f")], ["ratio", _ratio(two, one)]]
    return "### BM-4 workers on one study (trials per minute)\n\n" + _table(["", "trials/min"], rows)


def _bm5(bm: dict[str, Any]) -> str:
    sizes = sorted(int(k.split()[0].removeprefix("K=")) for k in bm)
    alone = bm.get("K=1 epoch-trials/min")
    rows = [
        [str(k), _cell(bm[f"K={k} epoch-trials/min"], ".2f"), _ratio(bm[f"K={k} epoch-trials/min"], alone)]
        for k in sizes
    ]
    return "### BM-5 fused trials (epoch-trials per minute; K = 1 is one trial, unfused)\n\n" + _table(
        ["K (trials in the stack)", "epoch-trials/min", "vs K = 1"], rows
    )


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    keras = result["keras"]
    keras_text = ", ".join(f"{k} {v}" for k, v in keras.items()) if isinstance(keras, dict) else keras
    start, end = result["load_start"], result["load_end"]
    parts = [
        "## Benchmark (`python -m study.bench`)",
        f"- Machine: {m['cpu']}, {m['platform']}, Python {m['python']}; {versions}; Keras arm: {keras_text}",
        f"- Threads per arm: {result['threads']}; {result['plan']['rounds']} interleaved rounds; "
        f"load average {start[0]:.2f} at start, {end[0]:.2f} at end; {result['seconds'] / 60:.1f} min in all",
    ]
    if "BM-1" in result:
        parts.append(_bm1(result["BM-1"], isinstance(keras, dict)))
    if "BM-2" in result:
        parts.append(_bm2(result["BM-2"]))
    if "BM-3" in result:
        parts.append(_bm3(result["BM-3"]))
    if "BM-4" in result:
        parts.append(_bm4(result["BM-4"]))
    if "BM-5" in result:
        parts.append(_bm5(result["BM-5"]))
    return "\n\n".join(parts) + "\n"
