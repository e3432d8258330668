"""Every setting a report states is the study's own: one small real study per protocol, created with settings that
differ from the protocol's presets, and each stated value (epochs, batch sizes, seeds and their count, the test
used, training images, dataset, validation set) checked against what the stores hold."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import optuna
from mlflow import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from study.config import StudyConfig
from study.config.definition import DEFINING, definition
from study.config.fields import PRUNERS, SAMPLERS
from study.report.build import write_report
from study.report.setting import Definition
from study.report.statements import ADAPTIVE_SAMPLERS, NO_PRUNER
from study.schema import (
    BATCH_SIZE,
    DATASET,
    DEFAULTS,
    DEFINITION_ATTR,
    EPOCHS,
    FINAL_ROLE,
    MAX_EPOCHS,
    OPTIMIZER,
    ROLE,
    RUN_ID_ATTR,
    SEARCH,
    SEED,
    SEED_PROTOCOL,
    SEED_ROLE,
    TRAIN_SAMPLES,
    TUNED,
    VALIDATE_ON_TEST,
    sub_study,
)

from .conftest import EXPERIMENT, Spec, Stores

_HEADER_LINE = re.compile(r"^- \*\*(?P<key>[^*]+)\*\*: (?P<text>.*)$")


def _header(text: str) -> dict[str, str]:
    """The report's header lines, ``- **Key**: text``, before its first section."""
    head = text.split("\n## ", 1)[0]
    return {m["key"]: m["text"] for line in head.splitlines() if (m := _HEADER_LINE.match(line))}


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _records(stores: Stores, names: list[str]) -> tuple[list[FrozenTrial], list[dict[str, str]]]:
    """The study's trials as Optuna holds them, and their MLflow runs' params; each study's recorded definition is
    the one the configuration defines (checked by the caller through ``_recorded``)."""
    trials = [t for n in names for t in optuna.load_study(study_name=n, storage=stores.storage).trials]
    client = MlflowClient(stores.tracking_uri)
    params = [dict(client.get_run(t.user_attrs[RUN_ID_ATTR]).data.params) for t in trials]
    return trials, params


def _recorded(stores: Stores, names: list[str], config: StudyConfig) -> None:
    for name in names:
        study = optuna.load_study(study_name=name, storage=stores.storage)
        assert study.user_attrs[DEFINITION_ATTR] == definition(config)


def _one(values: list[str]) -> str:
    (value,) = set(values)
    return value


def _data_line(params: list[dict[str, str]], config: StudyConfig) -> str:
    """The dataset line the records call for: their dataset, training images and validation set."""
    on_test = _one([p[VALIDATE_ON_TEST] for p in params]) == "True"
    validated = (
        "validated on the official test set"
        if on_test
        else f"validated on a held-out split of the training set (split seed {config.split_seed})"
    )
    images = _one([p[TRAIN_SAMPLES] for p in params])
    return f"{_one([p[DATASET] for p in params])}, {images} training images; {validated}"


def test_search_report_states_the_search_it_ran(tmp_path: Path) -> None:
    config = StudyConfig(
        protocol=SEARCH, study_name="look", optimizers=("adam", "sgd"), batch_sizes=(32, 128), max_epochs=2,
        sampler="random", pruner="median", seed=7, split_seed=3, dataset="fashion-mnist", train_size=300,
    )  # fmt: skip
    stores = Stores(tmp_path)
    specs = [
        Spec("adam", 1e-3, 32, 0.90, 2, seed=7),
        Spec("sgd", 0.05, 128, 0.85, 2, seed=7),
        Spec("adam", 3e-3, 128, 0.50, 1, state=TrialState.PRUNED, seed=7),
    ]
    stores.add_study("look", "look", SEARCH, specs, config, train_samples=300)
    text = write_report("look", stores.journal, stores.tracking_uri, EXPERIMENT, tmp_path / "out").read_text()
    _recorded(stores, ["look"], config)
    trials, params = _records(stores, ["look"])
    header = _header(text)

    epochs = int(_one([p[MAX_EPOCHS] for p in params]))
    assert epochs == config.max_epochs == max(t.user_attrs[EPOCHS] for t in trials)
    assert header["Training"].startswith(f"up to {epochs} epochs (the {config.pruner} pruner stops poor trials early)")
    sizes = ", ".join(map(str, config.batch_sizes))
    assert f"batch sizes searched: {sizes};" in header["Training"] and "batch 64" not in text
    assert f"{config.defaults} defaults for the hyperparameters not searched" in header["Training"]
    assert f"({config.sampler} sampler, {config.pruner} pruner)" in header["Protocol"]
    assert f"over the optimizer ({', '.join(config.optimizers)})" in header["Protocol"]
    assert all(t.user_attrs[SEED] == config.seed + t.number for t in trials)
    assert header["Seeds"] == f"each trial trains with its own seed (base seed {config.seed} + its number)"
    assert header["Dataset"] == _data_line(params, config)
    assert "no difference can be tested" in _section(text, "Significance")  # the test used: none
    counts = {name: sum(t.params.get(OPTIMIZER) == name for t in trials) for name in ("sgd", "adam")}
    assert f"The {config.sampler} sampler does not follow early winners" in text
    assert f"differs (sgd {counts['sgd']}, adam {counts['adam']})" in text


def test_seed_report_states_one_epoch_one_seed_and_that_no_test_is_possible(tmp_path: Path) -> None:
    """The issue's case: a 1-epoch seed study at batch 32 whose report said "batch 64, 10 epochs", "compared by
    Welch's unpaired t-test", "Welch t not tested" and "their seeds are not shared" although all ran seed 0."""
    config = StudyConfig(
        protocol=SEED_PROTOCOL, study_name="quick", optimizers=("adam", "sgd", "momentum"), defaults="keras",
        batch_sizes=(32,), max_epochs=1, seeds=1, seed=0, pruner="none", train_size=512,
    )  # fmt: skip
    stores = Stores(tmp_path)
    tops = {"adam": (1e-3, 0.95), "sgd": (0.01, 0.90), "momentum": (0.01, 0.92)}
    specs = [Spec(name, lr, 32, top, 1, seed=0, role=SEED_ROLE) for name, (lr, top) in tops.items()]
    stores.add_study("quick", "quick", SEED_PROTOCOL, specs, config, train_samples=512)
    text = write_report("quick", stores.journal, stores.tracking_uri, EXPERIMENT, tmp_path / "out").read_text()
    _recorded(stores, ["quick"], config)
    trials, params = _records(stores, ["quick"])
    header = _header(text)

    epochs = int(_one([p[MAX_EPOCHS] for p in params]))
    assert epochs == 1 == config.max_epochs and all(t.user_attrs[EPOCHS] == epochs for t in trials)
    (batch,) = {t.params[BATCH_SIZE] for t in trials}
    assert header["Training"] == f"1 epoch per trial; batch {batch}; every optimizer at its {config.defaults} defaults"
    assert "10 epochs" not in text and "batch 64" not in text
    seeds = {t.user_attrs[SEED] for t in trials}
    assert seeds == {0}
    assert config.seeds == len(seeds) == 1 and header["Seeds"] == "0 for every optimizer (1 each)"
    assert header["Dataset"] == _data_line(params, config)
    article = _section(text, "Against the article")
    assert "1 epoch (the article: 10)" in article and f"batch size {batch} (the article: 64)" in article
    assert "512 training images (the article: 60000)" in article
    assert "validated on a held-out split of the training set (the article: on the test set)" in article

    significance = _section(text, "Significance")
    assert "Every optimizer ran one seed: no test is possible with one seed" in significance
    assert "single runs on the same seed" in significance
    for name in ("sgd", "momentum"):
        why = re.escape("not tested (one seed each: no test is possible with one seed), 1 seed shared.")
        assert re.search(rf"- adam vs {name}: [+-]\d+\.\d\d pp, {why}", significance)
    assert "Not tested: no test is possible with one seed" in significance
    for wrong in ("Welch", "not shared", "paired t", "p_holm ="):
        assert wrong not in text, wrong
    assert "| adam | 1 | " in significance and "| – |" in significance  # n = 1: no interval
    assert "Each row is a single run (one seed)" in text


def test_tuned_report_states_its_search_its_seeds_and_the_paired_test(tmp_path: Path) -> None:
    config = StudyConfig(
        protocol=TUNED, study_name="fair", optimizers=("adam", "sgd"), max_epochs=2, batch_sizes=(64, 128), seeds=2,
        seed=5, sampler="qmc", pruner="median", split_seed=1,
    )  # fmt: skip
    stores = Stores(tmp_path)
    for name, lrs in {"adam": (1e-3, 3e-3), "sgd": (0.05, 0.1)}.items():
        specs = [Spec(name, lr, 64 + 64 * i, 0.95 + i / 100, 2, seed=5) for i, lr in enumerate(lrs)]
        stores.add_study(sub_study("fair", name), "fair", TUNED, specs, config, train_samples=1000)
    tests = {"adam": (0.981, 0.984), "sgd": (0.962, 0.969)}
    finals = [
        Spec(name, 1e-3, 128, 0.96, 2, seed=10_005 + k, role=FINAL_ROLE, test_acc=acc)
        for name, accs in tests.items()
        for k, acc in enumerate(accs)
    ]
    stores.add_study(sub_study("fair", "final"), "fair", TUNED, finals, config, train_samples=1000)
    text = write_report("fair", stores.journal, stores.tracking_uri, EXPERIMENT, tmp_path / "out").read_text()
    names = [sub_study("fair", n) for n in ("adam", "sgd", "final")]
    _recorded(stores, names, config)
    trials, params = _records(stores, names)
    header = _header(text)

    epochs = int(_one([p[MAX_EPOCHS] for p in params]))
    assert epochs == config.max_epochs
    assert header["Training"].startswith(
        f"up to {epochs} epochs per search trial (the {config.pruner} pruner stops poor trials early), "
        f"{epochs} epochs per retraining; batch sizes searched: 64, 128;"
    )
    assert f"({config.sampler} sampler, {config.pruner} pruner)" in header["Protocol"]
    assert header["Protocol"].endswith("tested once on the held-out test set")
    finals_run = [t for t in trials if t.user_attrs.get(ROLE) == FINAL_ROLE]
    final_seeds = {n: sorted(t.user_attrs[SEED] for t in finals_run if t.params[OPTIMIZER] == n) for n in tests}
    assert final_seeds == {"adam": [10_005, 10_006], "sgd": [10_005, 10_006]}
    assert header["Seeds"] == "final retraining: 10005, 10006 for every optimizer (2 each)"
    assert header["Dataset"] == _data_line(params, config)
    final = _section(text, "Final retraining on the test set")
    assert "compared on the per-seed differences over the seeds both have: by the paired t-test" in final
    assert re.search(r"- adam vs sgd: \+1\.70 pp \[[-\d.]+, [-\d.]+\], paired t p_holm = [\d.e-]+ \(", final)
    assert "2 seeds — " in final and "Welch" not in text
    searched = {len(optuna.load_study(study_name=sub_study("fair", n), storage=stores.storage).trials) for n in tests}
    assert searched == {2}
    assert "Each optimizer had the same number of search trials (2) in its own sub-study" in text
    assert "retrained with 2 seeds and evaluated once on the held-out test set" in text


def test_the_definition_is_read_back_under_the_configuration_field_names() -> None:
    """The report's reader names each recorded option as the configuration does, and gets back its value."""
    names = {f.name for f in dataclasses.fields(Definition)}
    assert names <= set(DEFINING)
    assert {DATASET, MAX_EPOCHS, DEFAULTS, VALIDATE_ON_TEST, SEED} <= names  # the trials' params share these names
    assert NO_PRUNER in PRUNERS and set(ADAPTIVE_SAMPLERS) <= set(SAMPLERS)
    config = StudyConfig(
        protocol=SEED_PROTOCOL, optimizers=("adam", "sgd"), batch_sizes=(48,), max_epochs=4, seeds=2, seed=9,
        split_seed=2, sampler="random", pruner="none", defaults="keras", validate_on_test=True, train_size=700,
        lr_ranges={"adam": (1e-4, 1e-2)}, fixed={"lr_adam": 0.002}, dataset="cifar10",
    )  # fmt: skip
    d = Definition.read(definition(config))
    assert (d.protocol, d.dataset, d.max_epochs, d.train_size) == (SEED_PROTOCOL, "cifar10", 4, 700)
    assert (d.optimizers, d.batch_sizes, d.seeds, d.seed, d.split_seed) == (("adam", "sgd"), (48,), 2, 9, 2)
    assert (d.sampler, d.pruner, d.defaults, d.validate_on_test) == ("random", "none", "keras", True)
    assert d.lr_ranges == {"adam": (1e-4, 1e-2)} and d.fixed == {"lr_adam": 0.002}
    assert Definition.read({}) == Definition()  # a study from before definitions: every value unknown
