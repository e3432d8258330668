"""The six benchmarks: each runs its measures in interleaved rounds through the run's ``Arms`` (every other arm
paused while one is measured) and returns its JSON section: every measure's series, the measures whose spread
(max/min) exceeds ``SPREAD_LIMIT``, and the isolation check over all its measurements.

The torch arms live in ``study.bench.server`` processes, the Keras arms in ``keras_arm.py`` under TensorFlow's Python,
and BM-2's start-up, BM-4 and BM-6 run fresh processes; this module only orchestrates (no torch imported here).
"""

from __future__ import annotations

import functools
import math
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.bench.isolation import summarize
from study.bench.plan import warm_and_timed
from study.bench.processes import Timeline, keras_run, raw_run, study_run
from study.bench.runner import (
    SPREAD_LIMIT,
    Arm,
    Arms,
    Reading,
    Series,
    fresh_study_args,
    interleave,
    over_spread,
    seed_trial_args,
    torch_env,
    write_split,
)

__all__ = ["PRECISIONS", "RUNS", "Context"]

# The arms' precisions: our Lightning precision for each label (Keras' policy is float32 or mixed_bfloat16)
PRECISIONS = {"f32": "32-true", "bf16": "bf16-mixed"}
# TensorFlow's inter-op pools the run tries for the Keras arms: one thread, and TensorFlow's own default (0). The
# first looked like the fair setting beside 2 intra-op threads on 2 cores; measured, the default ran the article's
# model.fit 1.2-1.3x faster there (its input pipeline shares the inter-op pool), so each run measures both.
KERAS_INTER_OP = (1, 0)


@dataclass
class Context:
    """What every benchmark of a run shares: the plan, the arms, the options and what was found about the machine."""

    plan: Mapping[str, Any]
    arms: Arms
    threads: int
    data_dir: str
    scratch: Path  # a folder for the split file
    keras_skip: str | None  # why the Keras arms do not run, or None
    bf16_skip: str | None  # why the bf16 arms do not run, or None
    keras_calibration: dict[str, Any] | None = None  # how the Keras arms' inter-op pool was chosen
    _ours: Arm | None = field(default=None, repr=False)
    _split: Path | None = field(default=None, repr=False)

    def start(self, *others: Callable[[], Arm]) -> tuple[Arm, list[Arm]]:
        """The torch arm our measures run in (started on first use, kept for the run), and ``others`` started beside
        it."""
        ours: list[Callable[[], Arm]] = [] if self._ours else [lambda: Arm.torch(self.threads)]
        started = self.arms.start(*ours, *others)
        if self._ours is None:
            self._ours, started = started[0], started[1:]
        return self._ours, started

    def ours(self) -> Arm:
        return self.start()[0]

    def split(self) -> Path:
        """The study's split indices as an .npz for the Keras arms (written once)."""
        if self._split is None:
            self._split = write_split(self.scratch / "split.npz")
        return self._split

    def keras_inter_op(self) -> int:
        """The Keras arms' inter-op pool for this run: the faster of ``KERAS_INTER_OP`` for float32 at BM-1's first
        batch size, each measured alone in a fresh process, alternately, ``plan["calibration_rounds"]`` times."""
        if self.keras_calibration is None:
            size = self.plan["batch_sizes"][0]
            train_size, epochs = warm_and_timed(size, self.plan["timed_steps"])
            request = {"batch_size": size, "train_size": train_size, "epochs": epochs, "bf16": False}

            def keras(inter_op: int) -> Callable[[], Reading]:
                fresh = functools.partial(Arm.keras, self.threads, self.data_dir, self.split(), inter_op)
                return lambda: self.arms.alone(fresh, **request)

            series = interleave(self.plan["calibration_rounds"], {str(n): keras(n) for n in KERAS_INTER_OP})
            faster = max(KERAS_INTER_OP, key=lambda n: series[str(n)].median)
            tried = {f"inter-op {n or 'default'}": series[str(n)].as_dict() for n in KERAS_INTER_OP}
            self.keras_calibration = {"batch_size": size, "chosen": faster, "samples_per_second": tried}
        chosen: int = self.keras_calibration["chosen"]
        return chosen

    @property
    def labels(self) -> list[str]:
        """The precisions compared on this machine."""
        return ["f32"] if self.bf16_skip else ["f32", "bf16"]

    def skipped(self) -> dict[str, str | None]:
        return {"keras": self.keras_skip, "bf16": self.bf16_skip}


def _section(series: Mapping[str, Series], **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"series": {name: s.as_dict() for name, s in series.items()}}
    out["over_spread"] = over_spread(out["series"])
    out["isolation"] = summarize([r.check for s in series.values() for r in s.readings if r.check is not None])
    return {**out, **more}


def bm1(ctx: Context) -> dict[str, Any]:
    """Training throughput of every arm at each batch size, interleaved; each training arm once more, alone in a
    fresh process, right after its last interleaved reading (the standalone cross-check)."""
    plan, arms, threads = ctx.plan, ctx.arms, ctx.threads

    def new_torch() -> Arm:  # also the fresh arm of a standalone cross-check
        return Arm.torch(threads)

    inter_op = 0 if ctx.keras_skip else ctx.keras_inter_op()  # calibrated first, while no other arm runs

    def new_keras() -> Arm:
        return Arm.keras(threads, ctx.data_dir, ctx.split(), inter_op)

    ours, (base, *rest) = ctx.start(new_torch, *([] if ctx.keras_skip else [new_keras]))
    keras = rest[0] if rest else None
    # name -> (the long-lived arm, or None for a fresh process per measurement; how a fresh one starts, the request).
    # gemm is a yardstick, not cross-checked. The plain loop runs as a tutorial's script does, in a fresh process each
    # time: in a process that had run other work first it ran 1.2-1.6x faster (glibc's mmap threshold, raised by the
    # large blocks an earlier measurement freed, keeps the loop's buffers in the heap; models.allocator).
    table: dict[str, tuple[Arm | None, Callable[[], Arm] | None, dict[str, Any]]] = {}
    gemm_types = {"f32": "float32", "bf16": "bfloat16"}
    for label in ctx.labels:
        table[f"gemm {label} GFLOP/s"] = (base, None, {"kind": "gemm", "dtype": gemm_types[label]})
    shapes = {}
    for size in plan["batch_sizes"]:
        train_size, epochs = shapes[size] = warm_and_timed(size, plan["timed_steps"])
        trial = {"data_dir": ctx.data_dir, "batch_size": size, "train_size": train_size, "epochs": epochs}
        for label in ctx.labels:
            table[f"ours {label} bs {size}"] = (
                ours,
                new_torch,
                {"kind": "ours", "precision": PRECISIONS[label], **trial},
            )
        plain = {"kind": "plain", "data_dir": ctx.data_dir, "batch_size": size, "steps": plan["timed_steps"]}
        plain["warmup"] = plan["plain_warmup"]
        table[f"plain bs {size}"] = (None, new_torch, plain)
        if keras is not None:
            for label in ctx.labels:
                request = {"batch_size": size, "train_size": train_size, "epochs": epochs, "bf16": label == "bf16"}
                table[f"keras {label} bs {size}"] = (keras, new_keras, request)
    try:
        measures = {name: _measure(arms, arm, fresh, request) for name, (arm, fresh, request) in table.items()}
        checked = plan["cross_checks"]
        cross_checks = {
            name: _measure(arms, None, fresh, request)
            for name, (_, fresh, request) in table.items()
            if fresh and (checked is None or name.rpartition(" bs ")[0] in checked)
        }
        series = interleave(plan["rounds"], measures, then=cross_checks)
    finally:
        arms.stop(base)
        if keras is not None:
            arms.stop(keras)
    out = _section(
        series, skipped=ctx.skipped(), batch_sizes=list(plan["batch_sizes"]), timed_steps=plan["timed_steps"]
    )
    out["shapes"] = {str(size): {"train_size": t, "epochs": e} for size, (t, e) in shapes.items()}
    alone = {name: s.alone for name, s in series.items() if s.alone is not None}
    for name, reading in alone.items():
        stats = out["series"][name]
        stats["alone"], stats["alone_ratio"] = reading.value, reading.value / stats["median"]
        stats["alone_check"] = reading.check.as_dict() if reading.check else None
    # a cross-check further from the interleaved median than the spread allows: one of the two is off
    out["cross_check_off"] = {
        name: s["alone_ratio"]
        for name, s in out["series"].items()
        if not 1 / SPREAD_LIMIT <= s.get("alone_ratio", 1) <= SPREAD_LIMIT
    }
    checks = [r.check for s in series.values() for r in s.readings] + [r.check for r in alone.values()]
    out["isolation"] = summarize([c for c in checks if c is not None])  # the cross-checks' included
    return out


def _asker(arms: Arms, arm: Arm, request: dict[str, Any]) -> Callable[[], Reading]:
    return lambda: arms.ask(arm, **request)


def _measure(
    arms: Arms, arm: Arm | None, fresh: Callable[[], Arm] | None, request: dict[str, Any]
) -> Callable[[], Reading]:
    """A request to the long-lived ``arm``, or to a ``fresh`` arm process of its own when ``arm`` is None."""
    if arm is not None:
        return _asker(arms, arm, request)
    assert fresh is not None
    return lambda: arms.alone(fresh, **request)


def bm2(ctx: Context) -> dict[str, Any]:
    """A study trial against the raw loop in an arm (ms per step), then both as fresh processes (start-up: process
    start to first training step)."""
    plan, arms, ours = ctx.plan, ctx.arms, ctx.ours()
    trial = plan["trial"]
    request = {"data_dir": ctx.data_dir, **trial}

    def study_args(folder: str) -> list[str]:
        args = ["--study-name", "bench", "--n-trials", "1", "--optimizers", "adam"]
        args += ["--batch-sizes", str(trial["batch_size"])]
        return args + fresh_study_args(folder, trial["train_size"], trial["epochs"], ctx.data_dir)

    def startup(timeline: Timeline) -> Reading:
        return Reading(timeline.startup, {"process_seconds": timeline.seconds}, timeline.check)

    measures = {
        "study trial ms/step": lambda: arms.ask(ours, kind="study_trial", **request),
        "raw loop ms/step": lambda: arms.ask(ours, kind="raw_loop", **request),
        "study process start-up s": lambda: startup(study_run(arms, study_args, ctx.threads)),
        "raw loop process start-up s": lambda: startup(raw_run(arms, ctx.threads, ctx.data_dir, **trial)),
    }
    return _section(interleave(plan["rounds"], measures))


def bm3(ctx: Context) -> dict[str, Any]:
    """The same enqueued trials through the study's worker and through a peer pipeline (trials per minute)."""
    arms, ours = ctx.arms, ctx.ours()
    request = {"data_dir": ctx.data_dir, **ctx.plan["set"]}
    measures = {
        "study.run trials/min": lambda: arms.ask(ours, kind="study_set", **request),
        "peer trials/min": lambda: arms.ask(ours, kind="peer_set", **request),
    }
    return _section(interleave(ctx.plan["rounds"], measures), configs=[list(c) for c in ctx.plan["set"]["configs"]])


def bm4(ctx: Context) -> dict[str, Any]:
    """``--workers 1`` against ``--workers 2`` on one fixed study, as fresh ``study.run`` processes."""
    from study.workers.supervisor import default_threads  # study.run's own share of the cores per worker

    plan, arms = ctx.plan, ctx.arms
    trials = plan["workers_trials"]

    def trials_per_minute(workers: int) -> Reading:
        folder_args = [*plan["workers_args"], "--data-dir", ctx.data_dir, "--no-report"]
        with tempfile.TemporaryDirectory(prefix="bench-workers-", ignore_cleanup_errors=True) as folder:
            stores = ["--storage", f"{folder}/journal.log", "--tracking-uri", f"sqlite:///{folder}/mlflow.db"]
            command = [sys.executable, "-m", "study.run", *folder_args, *stores, "--workers", str(workers)]
            if workers > 1:
                command += ["--threads-per-worker", str(default_threads(workers))]
            finished = arms.run(command, torch_env(ctx.threads))
        return Reading(trials / finished.seconds * 60, None, finished.check)

    measures = {
        "--workers 1 trials/min": lambda: trials_per_minute(1),
        "--workers 2 trials/min": lambda: trials_per_minute(2),
    }
    return _section(interleave(plan["rounds"], measures))


def bm5(ctx: Context) -> dict[str, Any]:
    """Stacks of K fused trials (epoch-trials per minute)."""
    arms, ours, fused = ctx.arms, ctx.ours(), ctx.plan["fused"]
    settings = {k: v for k, v in fused.items() if k != "slots"}
    measures = {
        f"K={k} epoch-trials/min": _asker(
            arms, ours, {"kind": "fused_set", "data_dir": ctx.data_dir, "slots": k, **settings}
        )
        for k in fused["slots"]
    }
    return _section(interleave(ctx.plan["rounds"], measures))


def bm6(ctx: Context) -> dict[str, Any]:
    """Time to accuracy: wall seconds from process start to the target validation accuracy, ours (``study.run``)
    and the article's Keras code, each in a fresh process per run, interleaved."""
    tta, arms = ctx.plan["tta"], ctx.arms

    def reading(timeline: Timeline) -> Reading:
        reached = timeline.to_target(tta["target"])
        extra = {**timeline.as_dict(), "reached_epoch": reached[0] if reached else None}
        return Reading(reached[1] if reached else math.nan, extra, timeline.check)

    def ours(precision: str) -> Callable[[], Reading]:
        def args(folder: str) -> list[str]:
            trial = seed_trial_args(folder, tta["batch_size"], precision, tta["lr"], tta["seed"])
            return trial + fresh_study_args(folder, tta["train_size"], tta["epochs"], ctx.data_dir)

        return lambda: reading(study_run(arms, args, ctx.threads))

    inter_op = 0 if ctx.keras_skip else ctx.keras_inter_op()  # calibrated before the rounds (once a run)

    def keras(bf16: bool) -> Callable[[], Reading]:
        return lambda: reading(keras_run(arms, ctx.threads, inter_op, ctx.data_dir, ctx.split(), tta, bf16))

    labels = ctx.labels if tta["bf16"] else ["f32"]
    measures = {f"ours {label}": ours(PRECISIONS[label]) for label in labels}
    if not ctx.keras_skip:
        measures.update({f"keras {label}": keras(label == "bf16") for label in labels})
    settings = {k: v for k, v in tta.items() if k not in ("rounds", "bf16")}
    return _section(interleave(tta["rounds"], measures), skipped=ctx.skipped(), settings=settings)


RUNS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "BM-1": bm1,
    "BM-2": bm2,
    "BM-3": bm3,
    "BM-4": bm4,
    "BM-5": bm5,
    "BM-6": bm6,
}
