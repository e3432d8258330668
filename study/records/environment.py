"""What a result must be traced back to: the code's git SHA, package versions and the device."""

from __future__ import annotations

import functools
import getpass
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch
from mlflow.utils.mlflow_tags import (
    MLFLOW_GIT_COMMIT,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
)

from study.records.cpu import bf16_flags
from study.schema import CPU_BF16_TAG, DEVICE_NAME_TAG, GIT_DIRTY_TAG

__all__ = ["PACKAGES", "device_name", "environment_tags", "git_sha", "resolve_device"]

PACKAGES = ("torch", "torchvision", "lightning", "optuna", "mlflow", "numpy")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DIRTY = "-dirty"  # git_sha()'s suffix when tracked files differ from the commit


def resolve_device(device: str) -> str:
    """auto -> cuda when a GPU is visible, else cpu; cuda without a GPU is an error the caller reports."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@functools.cache
def git_sha() -> str:
    """HEAD's SHA, with '-dirty' when tracked files differ from it; 'unknown' outside a checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}{DIRTY}" if dirty else sha


@functools.cache
def device_name(device: str) -> str:
    """A human name for the hardware: the GPU's name, or the CPU model with its core count."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores)"


def environment_tags(device: str) -> dict[str, str]:
    """MLflow's standard source tags (the UI shows the commit and user), whether the checkout had local changes,
    the hardware and the package versions."""
    sha = git_sha()
    tags = {
        MLFLOW_GIT_COMMIT: sha.removesuffix(DIRTY),
        GIT_DIRTY_TAG: str(sha.endswith(DIRTY)).lower(),
        MLFLOW_SOURCE_NAME: "study.run",
        MLFLOW_SOURCE_TYPE: "LOCAL",
        MLFLOW_USER: getpass.getuser(),
        DEVICE_NAME_TAG: device_name(device),
        CPU_BF16_TAG: bf16_flags(),
        "python": platform.python_version(),
    }
    for package in PACKAGES:
        try:
            tags[f"version.{package}"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            tags[f"version.{package}"] = "absent"
    return tags
