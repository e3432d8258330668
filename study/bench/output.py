"""The benchmark's Markdown: one table per benchmark, medians with min-max and spread, ratios of medians measured
in the same run, the isolation check and the load average at start and end."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from study.bench.isolation import QUIET_LIMIT
from study.bench.runner import SPREAD_LIMIT

__all__ = ["FLOP_PER_SAMPLE", "render"]

# Multiply-adds of one training sample of ArticleCNN on MNIST, x2: the conv forward and weight gradient
# (26·26·32·9 each), fc1 forward, input and weight gradients (5408·256 each), fc2 likewise (256·10 each).
FLOP_PER_SAMPLE = 2 * (2 * 26 * 26 * 32 * 9 + 3 * 5408 * 256 + 3 * 256 * 10)  # 9.10 MFLOP

Stats = Mapping[str, Any]


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:{spec}}"


def _cell(stats: Stats | None, spec: str = ".0f") -> str:
    if not stats or not stats["values"]:
        return "–"
    return f"{stats['median']:{spec}} ({stats['min']:{spec}}–{stats['max']:{spec}})"


def _spread(stats: Stats | None) -> str:
    if not stats or not stats["values"]:
        return "–"
    flag = " ⚠" if stats["spread"] > SPREAD_LIMIT else ""
    return f"{stats['spread']:.2f}{flag}"


def _ratio(a: Stats | None, b: Stats | None) -> str:
    if not a or not b or not a["values"] or not b["values"] or not b["median"]:
        return "–"
    return f"{a['median'] / b['median']:.2f}×"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _noisy(section: Stats) -> str:
    """The section's line on measures whose spread exceeds the limit (empty when none does)."""
    over = section.get("over_spread") or {}
    if not over:
        return ""
    names = ", ".join(f"{name} ({spread:.2f})" for name, spread in over.items())
    return f"\n\n**Spread above {SPREAD_LIMIT}** (max/min over the rounds; noisy): {names}."


def _skips(skipped: Mapping[str, str | None]) -> str:
    names = {"keras": "Keras arms", "bf16": "bf16 arms"}
    return "".join(f"\n\n{names[arms]}: {reason}." for arms, reason in skipped.items() if reason)


def _bm1(bm: Stats) -> str:
    series = bm["series"]
    rows, ratios = [], []
    arms = ["ours f32", "ours bf16", "plain", "keras f32", "keras bf16"]
    for size in bm["batch_sizes"]:
        for arm in arms:
            stats = series.get(f"{arm} bs {size}")
            if stats:
                alone = _number(stats.get("alone"), ".0f")
                if "alone_ratio" in stats:
                    alone += f" ({stats['alone_ratio']:.2f}×)"
                others = [
                    stats["isolation"]["foreign_cores_max"],
                    (stats.get("alone_check") or {}).get("foreign_cores", 0),
                ]
                rows.append([str(size), arm, _cell(stats), _spread(stats), alone, f"{max(others):.2f}"])

        def get(arm: str, size: int = size) -> Stats | None:
            return series.get(f"{arm} bs {size}")  # type: ignore[no-any-return]

        shares = []
        for label in ("f32", "bf16"):
            ours, gemm = get(f"ours {label}"), series.get(f"gemm {label} GFLOP/s")
            share = "–"
            if ours and gemm and ours["values"] and gemm["values"]:
                share = f"{ours['median'] * FLOP_PER_SAMPLE / 1e9 / gemm['median']:.0%}"
            shares.append(share)
        ratios.append(
            [
                str(size),
                _ratio(get("ours f32"), get("keras f32")),
                _ratio(get("ours bf16"), get("keras f32")),
                _ratio(get("ours bf16"), get("keras bf16")),
                _ratio(get("ours f32"), get("plain")),
                *shares,
            ]
        )
    gemm = "; ".join(
        f"{label} {_cell(series[f'gemm {label} GFLOP/s'], '.1f')}"
        for label in ("f32", "bf16")
        if f"gemm {label} GFLOP/s" in series
    )
    shapes = ", ".join(f"batch {size}: {s['epochs']} epochs of {s['train_size']}" for size, s in bm["shapes"].items())
    ratio_header = ["batch", "ours f32 / Keras f32", "ours bf16 / Keras f32", "ours bf16 / Keras bf16"]
    ratio_header += ["ours f32 / plain", "ours f32, share of f32 GEMM", "ours bf16, share of bf16 GEMM"]
    return (
        "### BM-1 training throughput (samples/s)\n\n"
        "ours = one trial of a fresh study run by the study's own worker (MLflow run and records, Lightning, float32 "
        "or bf16-mixed), the `time/samples_per_second` it logged over epochs 2 and later; plain = the article's layout "
        "in a plain PyTorch loop (`DataLoader(ToTensor())`, `torch.optim.Adam`), a fresh process each time as a "
        "tutorial's script runs, timing as many steps after an untimed start; Keras = the article's model and "
        "`model.fit` (float32, or the `mixed_bfloat16` policy), timed per batch over epochs 2 and later. ours and "
        f"Keras time at least {bm['timed_steps']} steps after a warm-up epoch ({shapes}; the study's 55k/5k split); "
        "validation is not timed. Spread = max/min over the rounds; alone = the same measurement once more in a fresh "
        "process right after the arm's last round, nothing else of the benchmark running (× the median); others' "
        "cores = the most CPU the rest of the machine took during one of the arm's measurements.\n\n"
        + _table(["batch", "arm", "median (min–max)", "spread", "alone", "others' cores, max"], rows)
        + "\n\nRatios of medians:\n\n"
        + _table(ratio_header, ratios)
        + f"\n\nGEMM rate in the same run (GFLOP/s, 2048²): {gemm}; one training sample is "
        + f"{FLOP_PER_SAMPLE / 1e6:.2f} MFLOP."
        + _skips(bm["skipped"])
        + _noisy(bm)
        + _cross_check_off(bm)
    )


def _cross_check_off(bm: Stats) -> str:
    off = bm.get("cross_check_off") or {}
    if not off:
        return ""
    names = ", ".join(f"{name} ({ratio:.2f}×)" for name, ratio in off.items())
    return f"\n\n**Alone in a fresh process, off the interleaved median by more than the spread limit**: {names}."


def _bm2(bm: Stats) -> str:
    s = bm["series"]
    trial, raw = s["study trial ms/step"], s["raw loop ms/step"]
    overhead = f"{trial['median'] / raw['median'] - 1:+.1%}" if raw["values"] and trial["values"] else "–"
    rows = [
        ["study trial", _cell(trial, ".2f"), _spread(trial)],
        ["raw loop", _cell(raw, ".2f"), _spread(raw)],
        ["overhead", overhead, ""],
    ]
    study, loop = s["study process start-up s"], s["raw loop process start-up s"]
    walls = {}
    for name, stats in (("study", study), ("raw", loop)):
        values = [e["process_seconds"] for e in stats.get("extra", []) if e]
        walls[name] = statistics.median(values) if values else float("nan")
    start_rows = [
        ["`python -m study.run`, one trial", _cell(study, ".2f"), _spread(study), _number(walls["study"], ".2f")],
        ["`python -m study.bench.raw`, raw loop", _cell(loop, ".2f"), _spread(loop), _number(walls["raw"], ".2f")],
    ]
    verdict = "–"
    if study["values"] and loop["values"]:
        extra = study["median"] - loop["median"]
        verdict = f"{extra:+.2f} s ({'within' if extra <= 2 else 'over'} the 2 s target)"
    return (
        "### BM-2 trial overhead (ms per training step, validation included)\n\n"
        + _table(["", "ms/step", "spread"], rows)
        + "\n\nStart-up of the same work as fresh processes (seconds from process start to the first training step):"
        + "\n\n"
        + _table(["process", "start-up s, median (min–max)", "spread", "process s (median)"], start_rows)
        + f"\n\nThe study's start-up over the raw loop's: {verdict}."
        + _noisy(bm)
    )


def _bm3(bm: Stats) -> str:
    ours, peer = bm["series"]["study.run trials/min"], bm["series"]["peer trials/min"]
    rows = [
        ["study.run", _cell(ours, ".2f"), _spread(ours)],
        ["peer (Optuna's Lightning example)", _cell(peer, ".2f"), _spread(peer)],
        ["ratio", _ratio(ours, peer), ""],
    ]
    accuracy_rows = []
    for i, config in enumerate(bm["configs"]):
        cells = []
        for side in (ours, peer):
            values = [run[i] for run in side.get("extra", []) if run and run[i] is not None]
            cells.append(", ".join(f"{v:.4f}" for v in values) or "–")
        accuracy_rows.append([f"{config[0]} lr {config[1]:g} bs {config[2]}", *cells])
    return (
        "### BM-3 study throughput (trials per minute)\n\n"
        + _table(["", "trials/min", "spread"], rows)
        + "\n\nBest validation accuracy of each configuration, one value per round:\n\n"
        + _table(["configuration", "study.run", "peer"], accuracy_rows)
        + _noisy(bm)
    )


def _bm4(bm: Stats) -> str:
    one, two = bm["series"]["--workers 1 trials/min"], bm["series"]["--workers 2 trials/min"]
    rows = [
        ["--workers 1", _cell(one, ".2f"), _spread(one)],
        ["--workers 2", _cell(two, ".2f"), _spread(two)],
        ["ratio", _ratio(two, one), ""],
    ]
    return (
        "### BM-4 workers on one study (trials per minute)\n\n"
        + _table(["", "trials/min", "spread"], rows)
        + _noisy(bm)
    )


def _bm5(bm: Stats) -> str:
    series = bm["series"]
    sizes = sorted(int(k.split()[0].removeprefix("K=")) for k in series)
    alone = series.get("K=1 epoch-trials/min")
    rows = []
    for k in sizes:
        stats = series[f"K={k} epoch-trials/min"]
        rows.append([str(k), _cell(stats, ".2f"), _spread(stats), _ratio(stats, alone)])
    return (
        "### BM-5 fused trials (epoch-trials per minute; K = 1 is one trial, unfused)\n\n"
        + _table(["K (trials in the stack)", "epoch-trials/min", "spread", "vs K = 1"], rows)
        + _noisy(bm)
    )


def _median_of(runs: Sequence[Any], value: Callable[[Any], float | None]) -> float:
    values = [v for v in (value(r) for r in runs if r) if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else float("nan")


def _accuracy_after(epoch: int) -> Callable[[Any], float | None]:
    """A run's validation accuracy after epoch ``epoch`` + 1 (None when it stopped before)."""
    return lambda run: run["epochs"][epoch]["val_acc"] if len(run["epochs"]) > epoch else None


def _bm6(bm: Stats) -> str:
    series, settings = bm["series"], bm["settings"]
    target = settings["target"]
    rows, curves = [], {}
    for arm, stats in series.items():
        runs = stats.get("extra", [])
        reached = [r for r in runs if r and r["reached_epoch"]]
        startup = _median_of(runs, lambda r: r["startup"])
        training = _median_of(reached, lambda r: r["epochs"][r["reached_epoch"] - 1]["seconds"] - r["startup"])
        epoch = _median_of(reached, lambda r: float(r["reached_epoch"]))
        name = f"{arm} (`study.run`)" if arm.startswith("ours") else f"{arm} (`model.fit`)"
        rows.append(
            [
                name,
                f"{len(reached)}/{len(runs)}",
                _cell(stats, ".1f"),
                _spread(stats),
                _number(startup, ".1f"),
                _number(training, ".1f"),
                _number(epoch, ".0f"),
                f"{stats['isolation'].get('foreign_cores_max', 0):.2f}",
            ]
        )
        curves[arm] = [_median_of(runs, _accuracy_after(k)) for k in range(settings["epochs"])]
    get = series.get
    ratios = [
        ["ours f32 / Keras f32", _ratio(get("ours f32"), get("keras f32"))],
        ["ours bf16 / Keras f32", _ratio(get("ours bf16"), get("keras f32"))],
        ["ours bf16 / Keras bf16", _ratio(get("ours bf16"), get("keras bf16"))],
    ]
    curve_rows = [[str(k + 1), *(_number(curves[arm][k], ".4f") for arm in curves)] for k in range(settings["epochs"])]
    size = (
        "the whole 55k split" if settings["train_size"] is None else f"the first {settings['train_size']} of the split"
    )
    header = ["arm", f"reached {target:.1%}", "seconds to it, median (min–max)", "spread", "start-up s"]
    header += ["training s", "epoch", "others' cores, max"]
    return (
        f"### BM-6 time to {target:.1%} validation accuracy (seconds from process start)\n\n"
        f"Batch {settings['batch_size']}, Adam at lr {settings['lr']:g} (Keras' defaults), seed {settings['seed']}, "
        f"up to {settings['epochs']} epochs on {size} (split seed 0), validated on its 5k after every epoch; a fresh "
        "process per run: ours `python -m study.run` on a fresh study (it trains every epoch; its times are read from "
        "the trial's MLflow records), Keras the article's code in TensorFlow (stopped at the target). Start-up = "
        "process start to the first training step; training = from there to the end of the validation that reached "
        "the target.\n\n"
        + _table(header, rows)
        + "\n\nRatios of median times (< 1: ours sooner):\n\n"
        + _table(["", "time"], ratios)
        + "\n\nValidation accuracy after each epoch (median over the rounds):\n\n"
        + _table(["epoch", *curves], curve_rows)
        + _skips(bm["skipped"])
        + _noisy(bm)
    )


def _isolation(result: Stats, names: Sequence[str]) -> list[str]:
    sections = [result[n]["isolation"] for n in names if result[n]["isolation"].get("measurements")]
    if not sections:
        return ["- Isolation: no measurement."]
    count = sum(s["measurements"] for s in sections)
    paused = sum(s["paused_cpu_seconds"] for s in sections)
    foreign_max = max(s["foreign_cores_max"] for s in sections)
    foreign_median = statistics.median(s["foreign_cores_median"] for s in sections)
    disturbed = sum(s["disturbed"] for s in sections)
    held = "held" if paused == 0 else "**did not hold**"
    lines = [
        f"- Isolation: every measurement ran with the benchmark's other arm processes paused (SIGSTOP); their CPU "
        f"time over the {count} measurements: {paused:.2f} s (utime + stime, /proc/<pid>/stat): the pause {held}."
    ]
    quiet = (
        f"the rest of the machine (other users, this runner; /proc/stat) kept {foreign_median:.2f} cores busy "
        f"(median over the benchmarks), at most {foreign_max:.2f} during one measurement"
    )
    if disturbed:
        per = ", ".join(
            f"{n} {result[n]['isolation']['disturbed']}" for n in names if result[n]["isolation"].get("disturbed")
        )
        lines.append(
            f"- **Not quiet**: {quiet}; {disturbed} of the {count} measurements shared the CPU with more than "
            f"{QUIET_LIMIT} cores of other work ({per}): their numbers are low, rerun on a quiet machine."
        )
    else:
        lines.append(f"- Quiet: {quiet}.")
    return lines


def _keras_threads(threads: Stats) -> str:
    text = f"{threads['intra_op']} intra-op"
    if "chosen" not in threads:
        return text
    tried = "; ".join(f"{name} {_cell(stats)} samples/s" for name, stats in threads["samples_per_second"].items())
    chosen = threads["chosen"] or "TensorFlow's default"
    return f"{text}, inter-op {chosen}, the faster in a calibration at batch {threads['batch_size']}: {tried}"


def render(result: Stats) -> str:
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    keras = result["keras"]
    keras_text = ", ".join(f"{k} {v}" for k, v in keras.items()) if isinstance(keras, dict) else keras
    start, end = result["load_start"], result["load_end"]
    names = [n for n in result["only"] if n in result]
    over = result.get("over_spread") or {}
    if over:
        listed = "; ".join(f"{n}: " + ", ".join(f"{k} {v:.2f}" for k, v in o.items()) for n, o in over.items())
        spread = f"- **Noisy run: spread above {SPREAD_LIMIT}** (max/min over the rounds) for {listed}."
    else:
        spread = f"- Spread: every measure's max/min over the rounds is within {SPREAD_LIMIT}."
    off = result.get("cross_check_off") or {}
    if off:
        listed = ", ".join(f"{k} {v:.2f}×" for k, v in off.items())
        spread += f"\n- **Cross-checks off** (alone in a fresh process / interleaved median beyond {SPREAD_LIMIT}): "
        spread += f"{listed}."
    plan = result["plan"]
    parts = [
        "## Benchmark (`python -m study.bench`)",
        f"- Machine: {m['cpu']}, {m['platform']}, Python {m['python']}; {versions}; CPU flags: "
        f"{' '.join(m['cpu_flags']) or 'unknown'}; Keras arms: {keras_text}",
        f"- Threads per arm: {result['threads']} (TensorFlow: {_keras_threads(result['keras_threads'])}); "
        f"interleaved rounds: {plan['rounds']} (BM-6: {plan['tta']['rounds']}); load average {start[0]:.2f} at start, "
        f"{end[0]:.2f} at end; {result['seconds'] / 60:.1f} min in all",
        *_isolation(result, names),
        spread,
    ]
    renderers = {"BM-1": _bm1, "BM-2": _bm2, "BM-3": _bm3, "BM-4": _bm4, "BM-5": _bm5, "BM-6": _bm6}
    parts += [renderers[name](result[name]) for name in names]
    return "\n\n".join(parts) + "\n"
