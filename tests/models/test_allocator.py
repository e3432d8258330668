"""keep_freed_memory: a training step reuses the pages of the step before instead of faulting in new ones (each
case in a process of its own)."""

from __future__ import annotations

import subprocess
import sys

from testsupport import PROJECT_ROOT

FAULTS = """
import resource, sys, torch
import torch.nn.functional as F
from models.allocator import keep_freed_memory
from models.cnn import ArticleCNN
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
torch.manual_seed(0)
net = ArticleCNN()
x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
def step():
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
for _ in range(10):  # glibc settles on where each buffer lives
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    kept, faults = result.stdout.split()
    return kept, int(faults)


def test_freed_buffers_are_reused_instead_of_faulted_in_again() -> None:
    kept, kept_faults = _faults("keep")
    _, default_faults = _faults("default")
    assert kept == "True"
    # kept: under 300 fresh pages a step, where the conv output alone spans 1352 (measured 339-3044 in 20 steps)
    assert kept_faults < 20 * 300, kept_faults
    # glibc's defaults fault in several times as many; how many varies from process to process with where its
    # dynamic mmap threshold settles (measured 11174-50009 in 20 steps)
    assert kept_faults * 3 < default_faults, (kept_faults, default_faults)
