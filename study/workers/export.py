"""The winner, ready to use: a study's best configuration as a TOML file, and its trained weights.

At the end of a study (by the process that closes it) the best trial of the protocol's main study (the search;
the article's runs; the tuned protocol's retrainings) is written as ``best.toml``: a configuration of the seed
protocol pinned to that trial's optimizer, learning rate (and searched extras), batch size, seed, epochs and
data, so that ``python -m study.run --config best.toml`` retrains exactly that trial (bit for bit on the same
machine: the same seed decides the weights, the dropout masks and the data order). The configuration is also
trained once more here and its weights saved: a Lightning checkpoint beside the report, and an MLflow model
(``runs:/<best run>/model``) in the best trial's run.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from study.config import StudyConfig, option_of
from study.config.console import quiet_libraries
from study.design.protocols import Part
from study.design.tasks import Task
from study.records.tracking import StudyTracker
from study.schema import BATCH_SIZE, OPTIMIZER, RUN_ID_ATTR, SEED, SEED_PROTOCOL, TUNED, best_trial

__all__ = ["Exported", "export_best", "toml_text"]

MODEL_ARTIFACT = "model"  # the MLflow model's folder in the best trial's run


@dataclass(frozen=True)
class Exported:
    config: Path  # best.toml
    checkpoint: Path  # the Lightning checkpoint of the retrained best configuration
    model_uri: str | None  # runs:/<id>/model, when the best trial has an MLflow run
    trial: str  # "trial 3 of NAME.final"
    value: float


def _main_part(config: StudyConfig, parts: list[Part]) -> Part:
    """Where the study's answer lies: the search, the article's runs, or the tuned protocol's retrainings."""
    return parts[-1] if config.protocol == TUNED else parts[0]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def toml_text(config: StudyConfig, trial: optuna.trial.FrozenTrial, source: str, weights: list[str]) -> str:
    """The seed protocol pinned to ``trial``: every option that defines a trial (the fields marked ``defines``)
    and the study's name, nothing about stores or how the run is spread."""
    optimizer = str(trial.params[OPTIMIZER])
    pinned = dataclasses.replace(
        config,
        protocol=SEED_PROTOCOL,
        study_name=f"{config.study_name}-best",
        optimizers=(optimizer,),
        batch_sizes=(int(trial.params[BATCH_SIZE]),),
        seed=int(trial.user_attrs[SEED]),
        seeds=1,
        pruner="none",
        lr_ranges={},
        fixed={k: v for k, v in trial.params.items() if k not in (OPTIMIZER, BATCH_SIZE)},
    )
    named = {"study_name"}  # a new study of its own, beside the one it came from
    values = {k: v for k, v in pinned.to_dict().items() if k in named or option_of(k).defines}
    tables = {k: values.pop(k) for k in list(values) if isinstance(values[k], dict)}
    lines = [
        f"# The best configuration of study {config.study_name!r}: {source}, validation accuracy {trial.value:.4f}.",
        "# Retrain it exactly: python -m study.run --config best.toml (add your --storage / --tracking-uri)",
        *(f"# Weights: {w}" for w in weights),
    ]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
    for key, table in tables.items():
        if table:
            lines += ["", f"[{key}]"]
            lines += [f"{name} = {_toml_value(value)}" for name, value in table.items()]
    return "\n".join(lines) + "\n"


def export_best(
    config: StudyConfig,
    parts: list[Part],
    studies: dict[str, optuna.Study],
    tracker: StudyTracker,
    task: Task,
    device: str,
    folder: Path,
) -> Exported | None:
    """Writes ``folder/best.toml``, retrains that configuration once and saves its weights; None without a winner."""
    import mlflow.pytorch  # here: importing it configures the root logger (its Lightning autologging module)

    from study.workers.trial_runner import TrialRunner  # the trial path builds the same spec the trial trained with

    quiet_libraries()
    from study.training.train import train

    part = _main_part(config, parts)
    trial = best_trial(studies[part.name].get_trials(deepcopy=False), config.objective)
    if trial is None:
        return None
    source = f"trial {trial.number} of {part.name}"
    spec = TrialRunner(part.config, task, tracker, device).spec_of(trial)
    checkpoint = folder / "best" / "model.ckpt"
    result = train(spec, task.data, model=task.model, objective=task.objective, checkpoint=checkpoint)
    model_uri = None
    run_id = trial.user_attrs.get(RUN_ID_ATTR)
    if run_id and result.network is not None:
        network = result.network.cpu().eval()
        batch = next(iter(task.data.with_batch_size(2).val_dataloader()))
        images = batch[0] if isinstance(batch, list | tuple) else batch
        with tempfile.TemporaryDirectory() as tmp:
            # MLflow's default "pt2" format (torch.export: loading runs no pickled code) traces forward on an example
            # two images, not one: torch.export would specialise a batch dimension of 1 (and warn so)
            example = images[:2].cpu().numpy()
            mlflow.pytorch.save_model(network, f"{tmp}/{MODEL_ARTIFACT}", input_example=example)
            tracker.client.log_artifacts(run_id, f"{tmp}/{MODEL_ARTIFACT}", MODEL_ARTIFACT)
        model_uri = f"runs:/{run_id}/{MODEL_ARTIFACT}"
    weights = [f"{checkpoint.name} (Lightning checkpoint, beside this file in best/)"]
    weights += [f"{model_uri} (MLflow model: mlflow.pytorch.load_model)"] if model_uri else []
    best = folder / "best.toml"
    best.write_text(toml_text(config, trial, source, weights), encoding="utf-8")
    return Exported(best, checkpoint, model_uri, source, float(trial.value or 0.0))
