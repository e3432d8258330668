"""Flush denormal floats to zero in every thread that trains on the CPU, as TensorFlow does by default.

Values below float32's smallest normal number (1.2e-38) are computed in microcode on x86, tens of times slower
than normal ones. Training the article's CNN makes them: Adam's first moment of an fc1 weight whose gradient has
gone to zero (a dead ReLU unit) decays by beta1 = 0.9 a step and reaches that range after about 800 steps, and
then a tenth of fc1's 1.4M moments are denormal. A step of the second epoch on full MNIST (batch 64, 2 threads,
Intel Xeon) took 11.5 ms instead of 10.0; on random data 15 instead of 10. With the x86 flags FTZ and DAZ set,
such values are zero: an update they would have made is below the parameter's own rounding (a moment of 1e-39
moves a weight of 1e-2 by nothing), so what is learned does not change (the default study gave the same trials
and values bit for bit with and without it; docs/results.md, Speed). TensorFlow sets the same flags in its
threads, so the Keras arm of the benchmark already has them.

The flags are per thread: the OpenMP pool that runs torch's kernels keeps its own, so the call is made once in
each thread of the pool (libgomp's ``GOMP_parallel``, the library torch itself loaded). Without libgomp (another
OpenMP runtime) only the calling thread gets them. Without x86 (or a CPU lacking DAZ) this is a no-op.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch

__all__ = ["flush_denormals"]

_EACH_THREAD = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@functools.cache
def flush_denormals() -> bool:
    """Set FTZ and DAZ in this thread and in every thread of torch's OpenMP pool (once); True when the CPU took it."""
    if not torch.set_flush_denormal(True):
        return False
    gomp = _loaded_libgomp()
    if gomp is not None:
        in_each_thread = _EACH_THREAD(lambda _: torch.set_flush_denormal(True))
        gomp.GOMP_parallel(in_each_thread, None, ctypes.c_uint(torch.get_num_threads()), ctypes.c_uint(0))
    return True


def _loaded_libgomp() -> ctypes.CDLL | None:
    """The libgomp this process already runs torch's kernels on (opening it again returns the same library)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "libgomp" in line and line.split()[-1].startswith("/")}
    if len(paths) != 1:
        return None
    try:
        gomp = ctypes.CDLL(paths.pop())
        gomp.GOMP_parallel.restype = None
        gomp.GOMP_parallel.argtypes = [_EACH_THREAD, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    except (OSError, AttributeError):
        return None
    return gomp
