"""What the CPU can compute natively, from ``/proc/cpuinfo`` (no torch: the benchmark's planner reads it too)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BF16_FLAGS", "bf16_flags", "cpu_flags"]

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # a CPU with either runs bfloat16 matrix products natively
_FLAG_PREFIXES = ("avx", "amx", "fma", "f16c")  # the flags a result is recorded with


def cpu_flags() -> list[str]:
    """The CPU's vector and matrix extensions (avx*, amx*, fma, f16c) from ``/proc/cpuinfo``; [] elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return sorted({f for f in line.partition(":")[2].split() if f.startswith(_FLAG_PREFIXES)})


def bf16_flags() -> str:
    """The native bfloat16 extensions this CPU has, space-separated; "none" (emulated, slower than float32) or
    "unknown" (no /proc/cpuinfo)."""
    flags = cpu_flags()
    if not flags:
        return "unknown"
    return " ".join(f for f in BF16_FLAGS if f in flags) or "none"
