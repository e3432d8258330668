"""Arm processes, interleaved rounds and the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from study.records.environment import PROJECT_ROOT, device_name

__all__ = ["KERAS_PYTHON", "Arm", "Series", "fresh_study_args", "interleave", "machine", "study_run_seconds"]

KERAS_PYTHON = PROJECT_ROOT / ".venv-keras" / "bin" / "python"  # `make bench` builds it (tensorflow-cpu)


class Arm:
    """A long-lived arm process (``study.bench.server``, or the Keras arm under TensorFlow's Python)."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.hello = self._reply()

    @classmethod
    def torch(cls, threads: int) -> Arm:
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        return cls([sys.executable, "-m", "study.bench.server", "--threads", str(threads)], env)

    @classmethod
    def keras(cls, threads: int, data_dir: str) -> Arm:
        script = PROJECT_ROOT / "study" / "bench" / "keras_arm.py"
        return cls([str(KERAS_PYTHON), str(script), "--threads", str(threads), "--data-dir", data_dir])

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the arm process exited ({self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, **request: Any) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._reply()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["value"]  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


@dataclass
class Series:
    """One measured quantity over the rounds."""

    values: list[float] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)  # whatever else a measurement returned (accuracies)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": min(self.values, default=float("nan")),
            "max": max(self.values, default=float("nan")),
            "values": self.values,
        }


def interleave(rounds: int, measures: Mapping[str, Callable[[], float | dict[str, Any]]]) -> dict[str, Series]:
    """Every measure once per round, the order rotated each round so that no arm always runs first."""
    names = list(measures)
    out = {name: Series() for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            value = measures[name]()
            if isinstance(value, dict):
                out[name].values.append(float(value["trials_per_minute"]))
                out[name].extra.append(value.get("accuracies"))
            else:
                out[name].values.append(float(value))
    return out


def study_run_seconds(args: Sequence[str], workers: int, threads: int | None = None) -> float:
    """Wall seconds of ``python -m study.run`` on a fresh study in a temporary folder."""
    folder = tempfile.mkdtemp(prefix="bench-workers-")
    stores = ["--storage", f"{folder}/journal.log", "--tracking-uri", f"sqlite:///{folder}/mlflow.db"]
    command = [sys.executable, "-m", "study.run", *args, *stores, "--workers", str(workers), "--no-report"]
    if threads:
        command += ["--threads-per-worker", str(threads)]
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def machine() -> dict[str, Any]:
    return {
        "cpu": device_name("cpu"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("torch", "lightning", "optuna", "mlflow", "numpy")},
        "malloc": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
    }


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def keras_available() -> bool:
    return Path(KERAS_PYTHON).exists()


def fresh_study_args(folder: str, train_size: int, epochs: int, data_dir: str | None) -> list[str]:
    """The options every in-process benchmark study shares: its own stores in ``folder``, CPU, no pruning, no
    timeout, no report."""
    args = ["--max-epochs", str(epochs), "--train-size", str(train_size), "--pruner", "none", "--no-report"]
    args += ["--storage", f"{folder}/journal.log", "--tracking-uri", f"sqlite:///{folder}/mlflow.db"]
    args += ["--experiment", "bench", "--device", "cpu", "--timeout", "none"]
    return args + (["--data-dir", data_dir] if data_dir else [])
