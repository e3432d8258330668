"""A run records whether its CPU computes bfloat16 natively, read from /proc/cpuinfo."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.records.cpu import BF16_FLAGS, bf16_flags, cpu_flags
from study.records.environment import environment_tags
from study.schema import CPU_BF16_TAG


def test_the_recorded_bf16_support_is_what_cpuinfo_says() -> None:
    words = set(Path("/proc/cpuinfo").read_text().split())
    native = [f for f in BF16_FLAGS if f in words]
    assert bf16_flags() == (" ".join(native) or "none")
    assert environment_tags("cpu")[CPU_BF16_TAG] == bf16_flags()
    assert "avx2" in cpu_flags() or "avx2" not in words


def test_without_cpuinfo_the_support_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    import study.records.cpu as cpu

    def missing(self: Path) -> str:
        raise FileNotFoundError(self)

    monkeypatch.setattr(Path, "read_text", missing)
    assert cpu.cpu_flags() == []
    assert cpu.bf16_flags() == "unknown"
