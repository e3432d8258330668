"""Runs written before the end-of-trial metrics were renamed (``final/*``) still give their reports every number."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.report.load import load_study_data
from study.report.tables import seconds_to
from study.schema import (
    FINAL_FIT_SECONDS,
    FINAL_TEST_ACC,
    LEGACY_FINAL_PREFIX,
    SEED_PROTOCOL,
    SEED_ROLE,
    seconds_to_key,
)

from .conftest import EXPERIMENT, Spec, Stores


@pytest.mark.parametrize("legacy", [False, True])
def test_end_metrics_read_under_either_prefix(tmp_path: Path, legacy: bool) -> None:
    stores = Stores(tmp_path, legacy_names=legacy)
    stores.add_study("old", "old", SEED_PROTOCOL, [Spec("adam", 1e-3, 64, 0.99, 4, role=SEED_ROLE, test_acc=0.985)])
    run = stores.client.search_runs([stores.experiment_id], "tags.`optimizer_study.role` = 'trial'")[0]
    assert any(k.startswith(LEGACY_FINAL_PREFIX) for k in run.data.metrics) == legacy  # the fixture wrote them so

    (trial,) = load_study_data("old", stores.journal, stores.tracking_uri, EXPERIMENT).trials
    assert trial.final[FINAL_FIT_SECONDS] == trial.fit_seconds == 8.0
    assert trial.final[FINAL_TEST_ACC] == trial.test_acc == 0.985
    assert trial.final[seconds_to_key(0.97)] == 4.0
    assert seconds_to(trial, 0.97) == (4.0, 2.0)
