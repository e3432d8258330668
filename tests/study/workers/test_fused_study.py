"""A study with ``--fuse`` leaves the records a study without it leaves: every trial linked to its run, states
that agree, per-epoch curves, pruning and divergence included; the stacked trials say they were stacked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow import MlflowClient
from optuna.trial import TrialState

from study.run import main
from study.schema import EPOCHS, FUSED_SLOTS, RUN_ID_ATTR, STATE_REASON, VAL_ACC
from testsupport import stores_disagree

if TYPE_CHECKING:
    from study.conftest import TinyStudy

# one optimizer and batch size, so every claimed trial can share a stack; lrs up to 300 make some diverge
SEARCH = {
    "--optimizers": "sgd",
    "--lr-range": "sgd=0.01:300",
    "--sampler": "random",
    "--n-trials": "6",
    "--max-epochs": "3",
    "--pruner": "median",
}


def _records(tiny: TinyStudy, study: str) -> list[tuple[int, str, int, str]]:
    """Per trial: number, state, epochs in its run's val/acc curve, and the kind of its reason."""
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", study) == []
    client = MlflowClient(tiny.tracking_uri)
    rows = []
    for trial in tiny.load(study).trials:
        assert trial.state in (TrialState.COMPLETE, TrialState.PRUNED), trial
        curve = client.get_metric_history(trial.user_attrs[RUN_ID_ATTR], VAL_ACC)
        assert [m.step for m in curve] == list(range(1, len(curve) + 1))
        assert len(curve) == trial.user_attrs[EPOCHS]
        reason = str(trial.user_attrs.get(STATE_REASON, "")).split(" ")[0]
        rows.append((trial.number, trial.state.name, len(curve), reason))
    return rows


def test_fused_and_unfused_searches_record_alike(tiny: TinyStudy) -> None:
    assert main(tiny.args("alone", **{**SEARCH, "--fuse": "1"})) == 0
    assert main(tiny.args("stacked", **{**SEARCH, "--fuse": "3"})) == 0
    alone, stacked = _records(tiny, "alone"), _records(tiny, "stacked")
    # the same configurations (a seeded sampler) and the same diverging trials; pruning may differ, since a
    # stack's trials report their epochs together where lone trials report one after another
    assert [t.params for t in tiny.load("alone").trials] == [t.params for t in tiny.load("stacked").trials]
    diverged = {r[0] for r in alone if r[3] == "diverged:"}
    assert diverged and diverged == {r[0] for r in stacked if r[3] == "diverged:"}
    assert all(r[2] == 1 for r in stacked if r[0] in diverged)
    assert {t.user_attrs.get(FUSED_SLOTS) for t in tiny.load("stacked").trials} == {3}
    assert all(FUSED_SLOTS not in t.user_attrs for t in tiny.load("alone").trials)
    client = MlflowClient(tiny.tracking_uri)
    for trial in tiny.load("stacked").trials:
        assert client.get_run(trial.user_attrs[RUN_ID_ATTR]).data.tags[FUSED_SLOTS] == "3"


def test_the_seed_protocol_stacks_each_optimizer_s_seeds(tiny: TinyStudy) -> None:
    args = {"--protocol": "seed", "--optimizers": "adam,sgd", "--seeds": "2", "--fuse": "4", "--max-epochs": "2"}
    assert main(tiny.args(**args)) == 0
    trials = tiny.load().trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert [t.user_attrs[FUSED_SLOTS] for t in trials] == [2] * 4  # 4 claimed: two stacks of one optimizer each
    assert all(t.value is not None for t in trials)
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny") == []
