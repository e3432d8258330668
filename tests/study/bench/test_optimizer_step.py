"""The step benchmark runs in-process and prints its Markdown table."""

from __future__ import annotations

import pytest
import torch

from study.bench.optimizer_step import main


def test_prints_a_row_per_optimizer_and_thread_count(capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    assert main(["--repeats", "1", "--steps", "1", "--threads", "1", "--names", "sgd", "adam"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| optimizer | threads |")
    assert [row.split(" | ")[:2] for row in rows[1:]] == [["| sgd", "1"], ["| adam", "1"]]
    assert torch.get_num_threads() == threads, "the benchmark must restore the thread count"
