"""flush_denormals reaches every thread of torch's OpenMP pool, even one started before it was called."""

from __future__ import annotations

import subprocess
import sys

from testsupport import PROJECT_ROOT

# A denormal product computed over 2 threads (each takes half of the tensor): counts the nonzero results before and
# after the call, in a process whose pool already exists when the call is made.
PROBE = """
import torch
torch.set_num_threads(2)
tiny = torch.full((4_000_000,), 1e-30)
def denormal_results():
    return int(((tiny * 1e-10) != 0).sum())
before = denormal_results()
from models.denormals import flush_denormals
took = flush_denormals()
print(before, took, denormal_results())
"""


def test_every_thread_of_the_pool_flushes_denormals() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    before, took, after = result.stdout.split()
    assert int(before) == 4_000_000  # nothing flushed yet: the product is denormal everywhere
    assert took == "True"
    assert int(after) == 0  # every chunk flushed, the pool's thread's included


# Our Adam on 200k weights (split over both threads), half of whose gradients turn zero after 50 steps, as a dead
# unit's do: their first moments decay by 0.9 a step and pass into the denormal range after about 800 steps.
ADAM = """
import sys, torch
from optimizers.registry import build_optimizer
if sys.argv[1] == "flush":
    from models.denormals import flush_denormals; flush_denormals()
torch.set_num_threads(2)
torch.manual_seed(0)
weight = torch.nn.Parameter(torch.randn(200_000) * 0.05)
adam = build_optimizer("adam", [weight])
gradients = torch.randn(200_000)
dead = torch.arange(200_000) % 2 == 1
for step in range(1200):
    weight.grad = gradients * (0.99 ** step) if step < 50 else gradients.masked_fill(dead, 0.0)
    adam.step()
moment = adam.state[weight]["exp_avg"]
denormal = int(((moment != 0) & (moment.abs() < torch.finfo(torch.float32).tiny)).sum())
print(denormal, float(weight.double().sum()).hex(), int(weight.view(torch.int32).sum()))
"""


def test_flushed_denormals_leave_the_weights_bit_for_bit() -> None:
    """The flags change only values below 1.2e-38: the moments they zero moved no weight."""
    runs = {
        mode: subprocess.run(
            [sys.executable, "-c", ADAM, mode],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout.split()
        for mode in ("flush", "keep")
    }
    assert int(runs["keep"][0]) > 10_000  # the regime is reached: many moments are denormal without the flags
    assert int(runs["flush"][0]) == 0
    assert runs["flush"][1:] == runs["keep"][1:]
