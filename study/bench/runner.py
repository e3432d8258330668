"""Arm processes, measured one at a time and interleaved round by round; fresh processes; the machine they ran on.

An arm is a long-lived process (``study.bench.server``, or the Keras arm under TensorFlow's Python) answering
requests on its standard input, one JSON object a line. ``Arms`` holds a run's live arms and runs every request
with the others paused (``study.bench.isolation``), a fresh arm or process likewise; each measurement comes back as
a ``Reading`` with its isolation check. This module imports no torch, Lightning, Optuna or MLflow.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from models.dataset_files import DATASET_FILES, VAL_SIZE
from study.bench.isolation import Check, children_cpu_seconds, measured_alone, process_cpu_seconds, summarize
from study.records.cpu import BF16_FLAGS, cpu_flags

__all__ = [
    "BF16_FLAGS",
    "KERAS_PYTHON",
    "KERAS_SCRIPT",
    "PROJECT_ROOT",
    "SPREAD_LIMIT",
    "Arm",
    "Arms",
    "Finished",
    "Reading",
    "Series",
    "bf16_skip_reason",
    "cpu_flags",
    "fresh_study_args",
    "interleave",
    "keras_skip_reason",
    "keras_versions",
    "load_average",
    "machine",
    "over_spread",
    "seed_trial_args",
    "torch_env",
    "write_split",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # study.records.environment's, without importing torch
KERAS_PYTHON = PROJECT_ROOT / ".venv-keras" / "bin" / "python"  # `make bench` builds it (tensorflow-cpu)
KERAS_SCRIPT = PROJECT_ROOT / "study" / "bench" / "keras_arm.py"
SPREAD_LIMIT = 1.15  # max/min of an arm's rounds above which a run says its numbers are noisy
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the arm between fork and exec
    # SIGKILL, which also ends a stopped process: an arm paused when the runner was killed must not linger
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def torch_env(threads: int) -> dict[str, str]:
    """The thread pools of a torch process of ``threads`` threads, as a study worker gets them."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


class Arm:
    """A long-lived arm process; ``ready`` waits for its greeting (its imports done, its data loaded)."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
        self.hello: dict[str, Any] = {}

    def ready(self) -> Arm:
        self.hello = self._reply()
        return self

    @classmethod
    def torch(cls, threads: int) -> Arm:
        return cls([sys.executable, "-m", "study.bench.server", "--threads", str(threads)], torch_env(threads))

    @classmethod
    def keras(cls, threads: int, data_dir: str, split: Path, inter_op: int) -> Arm:
        args = ["serve", "--threads", str(threads), "--inter-op", str(inter_op), "--data-dir", data_dir]
        args += ["--split", str(split)]
        return cls([str(KERAS_PYTHON), str(KERAS_SCRIPT), *args])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the arm process exited ({self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, **request: Any) -> dict[str, Any]:
        """The arm's reply to one request: ``{"value": ..., "extra": ...}``; its error raised as RuntimeError."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._reply()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=120)


@dataclass(frozen=True)
class Reading:
    """One measurement: its value, whatever else it returned, and how alone it ran."""

    value: float
    extra: Any = None
    check: Check | None = None


@dataclass(frozen=True)
class Finished:
    """A fresh process run to its end."""

    started: float  # time.time() just before the process was started: the origin of its start-up times
    seconds: float  # wall seconds from then to its exit
    stdout: str
    check: Check


class Arms:
    """A run's live arm processes. Each request runs with every other arm paused, and so does each fresh process."""

    def __init__(self) -> None:
        self.live: list[Arm] = []

    def start(self, *arms: Callable[[], Arm]) -> list[Arm]:
        """Starts arms side by side (nothing is measured meanwhile; the live ones are paused) and keeps them."""
        started: list[Arm] = []
        with measured_alone(children_cpu_seconds, [a.pid for a in self.live]):
            for make in arms:
                started.append(make())
                self.live.append(started[-1])  # closed with the others, even if the next one fails to start
            for arm in started:
                arm.ready()
        return started

    def ask(self, arm: Arm, **request: Any) -> Reading:
        """``arm``'s reply to ``request``, every other live arm paused meanwhile."""
        others = [a.pid for a in self.live if a is not arm]
        with measured_alone(lambda: process_cpu_seconds(arm.pid), others) as box:
            reply = arm.ask(**request)
        return Reading(float(reply["value"]), reply.get("extra"), box.check)

    def alone(self, arm: Callable[[], Arm], **request: Any) -> Reading:
        """The same request to a fresh arm process, started, asked and ended with every live arm paused: the
        standalone cross-check of an interleaved arm."""
        with measured_alone(children_cpu_seconds, [a.pid for a in self.live]) as box:
            fresh = arm().ready()
            try:
                reply = fresh.ask(**request)
            finally:
                fresh.close()
        return Reading(float(reply["value"]), reply.get("extra"), box.check)

    def run(self, command: Sequence[str], env: Mapping[str, str] | None = None) -> Finished:
        """Runs ``command`` to its end as a fresh process, every live arm paused; its standard output kept."""
        with measured_alone(children_cpu_seconds, [a.pid for a in self.live]) as box:
            started, clock = time.time(), time.perf_counter()
            done = subprocess.run(
                list(command), cwd=PROJECT_ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}
            )
            seconds = time.perf_counter() - clock
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} ... exited {done.returncode}: {done.stderr[-2000:]}")
        assert box.check is not None
        return Finished(started, seconds, done.stdout, box.check)

    def stop(self, arm: Arm) -> None:
        """Ends one arm."""
        self.live.remove(arm)
        arm.close()

    def close(self) -> None:
        for arm in self.live:
            arm.close()
        self.live.clear()


@dataclass
class Series:
    """One measured quantity over the rounds."""

    readings: list[Reading] = field(default_factory=list)
    alone: Reading | None = None  # the standalone cross-check, when the quantity has one

    @property
    def values(self) -> list[float]:
        """The rounds' values that are numbers (a round that measured nothing, such as a target never reached,
        is NaN and counted as missing)."""
        return [r.value for r in self.readings if math.isfinite(r.value)]

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def spread(self) -> float:
        """max / min over the rounds (1 for a single round; NaN without a positive value)."""
        low, high = min(self.values, default=float("nan")), max(self.values, default=float("nan"))
        return high / low if low > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median": self.median,
            "min": min(self.values, default=float("nan")),
            "max": max(self.values, default=float("nan")),
            "spread": self.spread,
            "values": self.values,
            "missing": len(self.readings) - len(self.values),
            "isolation": summarize([r.check for r in self.readings if r.check is not None]),
        }
        if any(r.extra is not None for r in self.readings):
            out["extra"] = [r.extra for r in self.readings]
        return out


def interleave(
    rounds: int,
    measures: Mapping[str, Callable[[], Reading]],
    then: Mapping[str, Callable[[], Reading]] | None = None,
) -> dict[str, Series]:
    """Every measure once per round, the order rotated each round so that no arm always runs first; and each of
    ``then`` (a cross-check) right after its measure's last reading, so that the two see the same machine (this
    host's speed drifts by 10-25 % over minutes, which a cross-check run after all the rounds read as a difference);
    its reading is the series' ``alone``."""
    names, then = list(measures), then or {}
    out = {name: Series() for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out[name].readings.append(measures[name]())
            if r == rounds - 1 and name in then:
                out[name].alone = then[name]()
    return out


def over_spread(series: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The measures whose spread (max/min over the rounds) exceeds ``SPREAD_LIMIT``."""
    return {name: s["spread"] for name, s in series.items() if s.get("spread", 0) > SPREAD_LIMIT}


def fresh_study_args(folder: str, train_size: int | None, epochs: int, data_dir: str | None) -> list[str]:
    """The options every benchmark study shares: its own stores in ``folder``, CPU, no pruning, no timeout, no
    report; ``train_size`` None trains on the whole split."""
    size = "all" if train_size is None else str(train_size)
    args = ["--max-epochs", str(epochs), "--train-size", size, "--pruner", "none", "--no-report"]
    args += ["--storage", f"{folder}/journal.log", "--tracking-uri", f"sqlite:///{folder}/mlflow.db"]
    args += ["--experiment", "bench", "--device", "cpu", "--timeout", "none"]
    return args + (["--data-dir", data_dir] if data_dir else [])


def seed_trial_args(folder: str, batch_size: int, precision: str, lr: float, seed: int = 0) -> list[str]:
    """One trial of Adam at ``lr`` trained with ``seed`` (the seed protocol, Keras' defaults otherwise) on the study's
    55k/5k split (split seed 0): the options beside ``fresh_study_args``. The seed protocol's preset validates on the
    test set; a file in ``folder`` sets it back."""
    settings = Path(folder) / "study.toml"
    settings.write_text("validate_on_test = false\n")
    args = ["--config", str(settings), "--protocol", "seed", "--seeds", "1", "--seed", str(seed), "--study-name"]
    args += ["bench", "--optimizers", "adam", "--fixed", f"lr_adam={lr}", "--batch-sizes", str(batch_size)]
    return args + ["--precision", precision]


def write_split(path: Path, split_seed: int = 0) -> Path:
    """The study's MNIST split (``models.data.split_indices``) as ``train`` and ``val`` index arrays in an .npz, for
    the Keras arms, which have no torch."""
    import numpy as np

    from models.data import split_indices  # torch: after the options were read, never beside TensorFlow

    train, val = split_indices(DATASET_FILES["mnist"].train_samples, VAL_SIZE, split_seed)
    np.savez(path, train=train.numpy(), val=val.numpy())
    return path


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def bf16_skip_reason(flags: Sequence[str]) -> str | None:
    """Why the bfloat16 arms do not run on this CPU, or None when it has native bf16 (AVX512-BF16 or AMX)."""
    if any(f in flags for f in BF16_FLAGS):
        return None
    if not flags:
        return "skipped: no /proc/cpuinfo flags to tell whether this CPU computes in bfloat16"
    return (
        f"skipped: this CPU has neither {' nor '.join(BF16_FLAGS)} (bfloat16 would be emulated, slower than float32: "
        "no comparison)"
    )


def keras_skip_reason() -> str | None:
    """Why the Keras arms do not run, or None when TensorFlow's interpreter is in place."""
    if KERAS_PYTHON.exists():
        return None
    return f"skipped: {KERAS_PYTHON.parent.parent.name} is missing (`make bench` builds it with tensorflow-cpu)"


def keras_versions() -> dict[str, str]:
    """TensorFlow's and Keras' versions in ``.venv-keras`` (read from its package metadata: no TensorFlow import)."""
    code = "from importlib.metadata import version as v; import json; "
    code += "print(json.dumps({'tensorflow': v('tensorflow-cpu'), 'keras': v('keras')}))"
    done = subprocess.run([str(KERAS_PYTHON), "-c", code], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def machine() -> dict[str, Any]:
    from study.records.environment import device_name  # torch: after the options were read

    return {
        "cpu": device_name("cpu"),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("torch", "lightning", "optuna", "mlflow", "numpy")},
        "malloc": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
    }


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
