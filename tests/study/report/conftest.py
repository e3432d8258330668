"""Tiny synthetic studies in real stores: an Optuna journal file and an MLflow SQLite database in a temp folder.

The records are written the way ``study.run`` writes them (trial params and user attributes, a parent run,
child runs with per-epoch metrics whose step is the epoch), so the report reads them through its real code
path, without training a network. Three studies share the stores, one per protocol:

- ``srch`` (search): adam, sgd, rmsprop over batch sizes 32 and 64, 3 epochs; adam's best lr sits at the top
  of its range (the edge warning), and there is a pruned and a failed trial.
- ``seedy`` (seed): adam, sgd, momentum, adadelta at the article's settings, 10 epochs, seeds 0 and 1 each.
- ``tune`` (tuned): sub-studies ``tune.adam``, ``tune.sgd``, ``tune.rmsprop`` (3 trials each, 2 epochs) and
  ``tune.final`` (seeds 0, 1, 2 each with a test accuracy); adam beats sgd clearly and rmsprop within the noise.
  No study is named plain ``tune``: the tuned protocol may keep only sub-studies.

A study given a ``StudyConfig`` is recorded as the runner records it: its definition on every Optuna study, the
configuration as the parent run's ``config.*`` params, and the trials' data settings in their runs' params.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from study.config import StudyConfig
from study.config.definition import definition, flatten_params
from study.design.search_space import LR_RANGES
from study.records.stores import open_storage
from study.report.build import write_report
from study.schema import (
    CONFIG_PARAM_PREFIX,
    DATASET,
    DEFAULTS,
    DEFINITION_ATTR,
    FINAL_BEST_VAL_ACC,
    FINAL_FIT_SECONDS,
    FINAL_PREFIX,
    FINAL_TEST_ACC,
    FINAL_TEST_LOSS,
    LEGACY_FINAL_PREFIX,
    MAX_EPOCHS,
    TRAIN_SAMPLES,
    VALIDATE_ON_TEST,
    epochs_to_key,
    seconds_to_key,
)
from study.workers.export import MODEL_ARTIFACT

EXPERIMENT = "tests"
DEVICE = "Test CPU (2 cores)"
SHA = "0123456789abcdef"


@dataclass(frozen=True)
class Spec:
    """One synthetic trial: what the runner would have recorded."""

    optimizer: str | None
    lr: float
    batch_size: int
    top: float  # the accuracy the curve approaches
    epochs: int
    state: TrialState = TrialState.COMPLETE
    seed: int = 0
    role: str | None = None  # user attr "role"; None for a searched trial
    test_acc: float | None = None
    lr_range: tuple[float, float] | None = None  # the distribution; None: the registry's range
    seconds_per_epoch: float = 2.0


def curve(top: float, epochs: int, seed: int) -> list[float]:
    """A saturating validation-accuracy curve with a little seed noise."""
    rng = random.Random(seed)
    return [top - (top - 0.3) * math.exp(-2.0 * e) + rng.uniform(-0.002, 0.002) for e in range(1, epochs + 1)]


class Stores:
    def __init__(self, root: Path, legacy_names: bool = False) -> None:
        """``legacy_names``: end-of-trial metrics under the prefix runs had before it was renamed."""
        self.root = root
        self.legacy_names = legacy_names
        self.journal = str(root / "journal.log")
        self.tracking_uri = f"sqlite:///{root}/mlflow.db"
        self.storage = open_storage(self.journal)
        self.client = MlflowClient(self.tracking_uri)
        # an explicit artifact location keeps the parent run's artifacts in the temp folder, not ./mlruns
        self.experiment_id = self.client.create_experiment(EXPERIMENT, artifact_location=(root / "artifacts").as_uri())
        self.parents: dict[str, str] = {}

    def parent(self, name: str, params: dict[str, str] | None = None) -> str:
        if name not in self.parents:
            run = self.client.create_run(
                self.experiment_id,
                run_name=f"study-{name}",
                tags={"optimizer_study.role": "parent", "optuna.study_name": name},
            )
            self.client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in (params or {}).items()])
            self.parents[name] = run.info.run_id
        return self.parents[name]

    def add_study(
        self,
        name: str,
        parent_name: str,
        protocol: str,
        specs: list[Spec],
        config: StudyConfig | None = None,
        train_samples: int = 512,
    ) -> optuna.Study:
        """``config``: record the study as the runner does (its definition, the parent's config.* params, the
        trials' data settings, ``train_samples`` images each), else the fixed settings of the session's studies."""
        study = optuna.create_study(study_name=name, storage=self.storage, direction="maximize")
        study.set_user_attr("protocol", protocol)
        recorded = None if config is None else flatten_params(config.to_dict(), CONFIG_PARAM_PREFIX)
        parent_id = self.parent(parent_name, recorded)
        study.set_user_attr("mlflow_parent_run_id", parent_id)
        settings: dict[str, str] = {}
        if config is not None:
            study.set_user_attr(DEFINITION_ATTR, definition(config))
            settings = {
                DATASET: config.dataset,
                TRAIN_SAMPLES: str(train_samples),
                VALIDATE_ON_TEST: str(config.validate_on_test),
                DEFAULTS: config.defaults,
                MAX_EPOCHS: str(config.max_epochs),
            }
        for number, spec in enumerate(specs):
            self._add_trial(study, name, number, spec, parent_id, settings)
        return study

    def add_trials(self, name: str, parent_name: str, specs: list[Spec]) -> None:
        """More trials in an existing study (a study continued), numbered after its last one."""
        study = optuna.load_study(study_name=name, storage=self.storage)
        first = len(study.trials)
        for number, spec in enumerate(specs, start=first):
            self._add_trial(study, name, number, spec, self.parents[parent_name], {})

    def log_model(self, run_id: str) -> None:
        """An MLflow model folder in a trial's run, where the runner's export logs it (its MLmodel file marks it)."""
        folder = self.root / "model-artifact" / run_id / MODEL_ARTIFACT
        folder.mkdir(parents=True)
        (folder / "MLmodel").write_text("flavors: {}\n")
        self.client.log_artifacts(run_id, str(folder), MODEL_ARTIFACT)

    def _add_trial(
        self, study: optuna.Study, name: str, number: int, spec: Spec, parent_id: str, settings: dict[str, str]
    ) -> None:
        accs = curve(spec.top, spec.epochs, spec.seed + number)
        # a fixed configuration runs the same seeds for every optimizer (paired), a searched trial a fresh one
        seed = spec.seed if spec.role else spec.seed + number
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"trial-{number:03d}-{spec.optimizer}",
            tags={
                "mlflow.parentRunId": parent_id,
                "optimizer_study.role": "trial",
                "optuna.study_name": name,
                "optuna.trial_number": str(number),
                "optuna.trial_state": spec.state.name,
                "device_name": DEVICE,
                "mlflow.source.git.commit": SHA,
            },
        )
        run_id = run.info.run_id
        params = {
            "optimizer": str(spec.optimizer),
            "lr": str(spec.lr),
            "batch_size": str(spec.batch_size),
            "dataset": "mnist",
            "train_samples": "60000" if spec.role == "seed" else "512",
            "validate_on_test": str(spec.role == "seed"),
            "defaults": "keras" if spec.role == "seed" else "torch",
            "seed": str(seed),
            **settings,
        }
        if spec.optimizer == "momentum":
            params["opt.momentum"] = "0.9"
        metrics = []
        for epoch, acc in enumerate(accs, start=1):
            for key, value in {
                "val/acc": acc,
                "val/loss": 2.5 * (1 - acc),
                "time/samples_per_second": 5000.0 + 10 * epoch,
                "time/cumulative_seconds": spec.seconds_per_epoch * epoch,
            }.items():
                metrics.append(Metric(key, value, 0, epoch))
        final = {FINAL_FIT_SECONDS: spec.seconds_per_epoch * spec.epochs}
        if accs:
            final[FINAL_BEST_VAL_ACC] = max(accs)
        for threshold in (0.97, 0.98, 0.99):
            reached = next((e for e, a in enumerate(accs, start=1) if a >= threshold), None)
            if reached:
                final[seconds_to_key(threshold)] = spec.seconds_per_epoch * reached
                final[epochs_to_key(threshold)] = float(reached)
        if spec.test_acc is not None:
            final.update({FINAL_TEST_ACC: spec.test_acc, FINAL_TEST_LOSS: 0.05})
        if self.legacy_names:
            final = {LEGACY_FINAL_PREFIX + k.removeprefix(FINAL_PREFIX): v for k, v in final.items()}
        metrics += [Metric(k, v, 0, spec.epochs) for k, v in final.items()]
        self.client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
        self.client.set_tag(run_id, "optuna.trial_state", spec.state.name)
        self.client.set_terminated(run_id, {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(spec.state.name, "FAILED"))

        attrs: dict[str, object] = {"seed": seed, "mlflow_run_id": run_id, "epochs": spec.epochs}
        attrs["fit_seconds"] = spec.seconds_per_epoch * spec.epochs
        if spec.role:
            attrs["role"] = spec.role
        if spec.test_acc is not None:
            attrs.update(test_acc=spec.test_acc, test_loss=0.05)
        if spec.state != TrialState.COMPLETE:
            attrs["state_reason"] = f"{spec.state.name.lower()} at epoch {spec.epochs}"
        trial_params: dict[str, object] = {}
        distributions: dict[str, BaseDistribution] = {}
        if spec.optimizer:
            low, high = spec.lr_range or LR_RANGES[spec.optimizer]
            if spec.role:  # a fixed configuration: the runner records a one-point distribution
                low = high = spec.lr
            trial_params = {"optimizer": spec.optimizer, f"lr_{spec.optimizer}": spec.lr, "batch_size": spec.batch_size}
            distributions = {
                "optimizer": CategoricalDistribution([spec.optimizer]),
                f"lr_{spec.optimizer}": FloatDistribution(low, high, log=True),
                "batch_size": CategoricalDistribution(sorted({32, 64, spec.batch_size})),
            }
        study.add_trial(
            optuna.trial.create_trial(
                state=spec.state,
                value=max(accs) if spec.state == TrialState.COMPLETE else None,
                params=trial_params,
                distributions=distributions,
                user_attrs=attrs,
                intermediate_values=dict(enumerate(accs, start=1)),
            )
        )


SEARCH = [
    Spec("adam", 9.5e-3, 64, 0.975, 3),  # the best adam: lr in the top 10% of [1e-5, 1e-2]
    Spec("adam", 1e-3, 32, 0.960, 3),
    Spec("adam", 1e-4, 64, 0.930, 3),
    Spec("sgd", 0.05, 64, 0.950, 3),  # the best sgd: mid-range of [1e-3, 1]
    Spec("sgd", 0.01, 32, 0.900, 3),
    Spec("sgd", 0.002, 64, 0.500, 1, state=TrialState.PRUNED),
    Spec("rmsprop", 1e-3, 32, 0.985, 3),
    Spec("rmsprop", 3e-4, 64, 0.965, 3),
    Spec("rmsprop", 5e-5, 32, 0.0, 0, state=TrialState.FAIL),
    Spec(None, 0.0, 0, 0.0, 0, state=TrialState.FAIL),  # died before choosing an optimizer
]

SEED_SETTINGS = {"adam": (1e-3, 0.991), "sgd": (0.01, 0.969), "momentum": (0.01, 0.970), "adadelta": (1e-3, 0.84)}
SEEDS = [
    Spec(name, lr, 64, top, 10, seed=seed, role="seed") for name, (lr, top) in SEED_SETTINGS.items() for seed in (0, 1)
]

FINAL_TEST = {"adam": (0.9920, 0.9918, 0.9923), "rmsprop": (0.9921, 0.9905, 0.9915), "sgd": (0.9700, 0.9710, 0.9695)}


@dataclass(frozen=True)
class Built:
    stores: Stores
    reports: dict[str, Path]  # study name -> report.md


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("report-stores")
    stores = Stores(root)
    stores.parent("srch", {"config.optimizers": "['adam', 'sgd', 'rmsprop', 'nadam']", "config.dataset": "mnist"})
    stores.add_study("srch", "srch", "search", SEARCH)
    stores.add_study("seedy", "seedy", "seed", SEEDS)
    for name, lrs in {"adam": (1e-3, 3e-4, 3e-3), "sgd": (0.05, 0.1, 0.02), "rmsprop": (1e-3, 3e-4, 1e-4)}.items():
        stores.add_study(
            f"tune.{name}", "tune", "tuned", [Spec(name, lr, 64, 0.97 + i / 200, 2) for i, lr in enumerate(lrs)]
        )
    finals = [
        Spec(name, 1e-3, 64, 0.96, 2, seed=seed, role="final", test_acc=acc)
        for name, accs in FINAL_TEST.items()
        for seed, acc in enumerate(accs)
    ]
    stores.add_study("tune.final", "tune", "tuned", finals)
    reports = {
        name: write_report(name, stores.journal, stores.tracking_uri, EXPERIMENT, root / "reports" / name)
        for name in ("srch", "seedy", "tune")
    }
    return Built(stores, reports)
