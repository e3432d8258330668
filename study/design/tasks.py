"""A task is a model and its data: the article's CNN on a built-in dataset, or yours (``--model``, ``--data``).

``load_task`` imports your code (``MODULE:CALLABLE``: a module to import, or a path to a ``.py`` file, and a
callable in it), calls it with what it asks for among what the study offers (the model: ``input_shape`` and
``num_classes``; the data: ``batch_size``, ``seed`` (the study's split seed) and ``data_dir``; both: the
``--model-arg`` / ``--data-arg`` values), and checks the result on one real batch before any store is opened: a
network whose output does not fit the classes, a data module without a validation set, a model that does not log
the metric the study optimises. Every problem is a ``ConfigError``: one line naming the option, what was given
and what is accepted (the callable's own error message included when it raised).

The task's code is part of the study's definition: the SHA-256 of each file is recorded when the study is
created, and a process whose files differ is refused (every machine that joins must import the same code).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from models.cnn import article_cnn_parameters
from models.data import ImageDataModule
from models.datasets import DatasetUnavailableError
from models.user_data import UserData
from study.config import ConfigError, StudyConfig
from study.schema import VAL_ACC, VAL_LOSS, Objective
from study.training.train import ModelBuilder, TrialData, article_cnn, plugged

__all__ = ["Task", "builtin_data", "load_reference", "load_task"]

_ACCEPTED = "MODULE:CALLABLE: an importable module or a path to a .py file, and a callable in it"


@dataclass(frozen=True)
class Task:
    """What the study trains: how to build a trial's network, the data, the objective, and how each is named."""

    model: ModelBuilder
    data: TrialData
    objective: Objective
    model_name: str  # "ArticleCNN", or the --model reference
    model_parameters: int  # trainable parameters of the network as built for this data
    dataset_name: str  # the built-in dataset's name, or the --data reference
    data_source: str  # where the data comes from, as MLflow's dataset source says
    code: Mapping[str, str] = field(default_factory=dict)  # {"model": sha256 of its file, "data": ...}

    @property
    def builtin_model(self) -> bool:
        """The article's CNN: the only network a stack of trials (``--fuse``) is built from."""
        return not self.code.get("model")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def load_reference(option: str, reference: str) -> tuple[Callable[..., Any], str]:
    """The callable ``MODULE:CALLABLE`` names, and a digest of the file it comes from."""
    module_name, _, attribute = reference.rpartition(":")
    path = Path(module_name)
    try:
        if module_name.endswith(".py") or "/" in module_name:
            if not path.is_file():
                raise ConfigError(option, f"got {reference!r}: no file {module_name}; accepted: {_ACCEPTED}")
            digest = _file_digest(path)
            name = f"optimizer_study_task_{digest}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None, "a .py file has a loader"
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)  # its own sibling modules import as they would when it runs
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
            file = getattr(module, "__file__", None)
            digest = _file_digest(Path(file)) if file else "builtin"
    except ConfigError:
        raise
    except ModuleNotFoundError as err:
        raise ConfigError(option, f"got {reference!r}: {_one_line(err)}; accepted: {_ACCEPTED}") from None
    except Exception as err:  # noqa: BLE001 - whatever the user's module raised while being imported
        raise ConfigError(
            option, f"got {reference!r}: importing {module_name} raised {_one_line(err)}; accepted: {_ACCEPTED}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(option, f"got {reference!r}: {module_name} has no {attribute}; accepted: {_ACCEPTED}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(option, f"got {reference!r}: {attribute} is not callable; accepted: {_ACCEPTED}")
    return target, digest


def _call(
    function: Callable[..., Any], offered: Mapping[str, Any], given: Mapping[str, Any], option: str, args_flag: str
) -> Callable[[], Any]:
    """``function`` bound to what it takes among ``offered`` and to every ``given`` argument; a given argument it
    does not take is refused now."""
    parameters = inspect.signature(function).parameters
    anything = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [k for k in given if k not in parameters and not anything]
    if unknown:
        takes = ", ".join(parameters) or "nothing"
        raise ConfigError(
            args_flag,
            f"got {unknown[0]}={given[unknown[0]]!r}, which {option}'s callable does not take; accepted: {takes}",
        )
    kwargs = {k: v for k, v in offered.items() if anything or k in parameters}
    return lambda: function(**{**kwargs, **given})


def builtin_data(config: StudyConfig, device: str) -> ImageDataModule:
    """The built-in dataset, decoded once for the whole study; files missing are downloaded when the network
    allows (into a temporary folder, moved into place only when complete); data that cannot be had is bad input."""
    data = ImageDataModule(
        dataset=config.dataset,
        data_dir=config.data_dir,
        train_size=config.train_size,
        validate_on_test=config.validate_on_test,
        normalize=config.normalize,
        seed=config.split_seed,
        device=device,
    )
    try:
        data.prepare_data()
        data.setup("fit")
    except DatasetUnavailableError as err:
        raise ConfigError(
            "--data-dir" if config.data_dir is not None else "--dataset",
            f"{err.summary}; accepted: a folder holding the dataset's files (`make data` copies MNIST and "
            "Fashion-MNIST from ../shared/data), or a network connection to download them",
        ) from None
    return data


def _user_data(config: StudyConfig, reference: str) -> tuple[UserData, str]:
    function, digest = load_reference("--data", reference)
    offered = {"seed": config.split_seed, "data_dir": config.data_dir}

    def made(batch_size: int | None) -> Any:
        given = {**offered, **({"batch_size": batch_size} if batch_size is not None else {})}
        try:
            return _call(function, given, config.data_args, "--data", "--data-arg")()
        except ConfigError:
            raise
        except Exception as err:  # noqa: BLE001 - the user's callable raised: its message, one line
            raise ConfigError("--data", f"got {reference!r}: calling it raised {_one_line(err)}") from None

    takes_batch = "batch_size" in inspect.signature(function).parameters
    first = made(64 if takes_batch else None)
    accepted = "a LightningDataModule with a validation set, or (train, validation[, test]) datasets"
    try:
        if isinstance(first, L.LightningDataModule):
            if not takes_batch and not hasattr(first, "batch_size"):
                raise ConfigError(
                    "--data",
                    f"got {reference!r}: its data module has no batch_size the study can set; accepted: a callable "
                    "that takes batch_size, or a data module whose loaders read its batch_size attribute",
                )
            if not _has_validation(first):
                raise ConfigError(
                    "--data", f"got {reference!r}: its data module has no validation set; accepted: {accepted}"
                )
            rebuild = (lambda size: made(size)) if takes_batch else None
            data = UserData(first, rebuild, getattr(first, "num_classes", None), reference)
        elif isinstance(first, Sequence) and len(first) in (2, 3) and all(hasattr(d, "__len__") for d in first):
            if len(first[1]) == 0:
                raise ConfigError("--data", f"got {reference!r}: its validation dataset is empty; accepted: {accepted}")
            data = UserData.of_datasets(first, getattr(first[0], "num_classes", None), reference)
        else:
            raise ConfigError("--data", f"got {reference!r}: it returned {type(first).__name__}; accepted: {accepted}")
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - the user's data module raised while being set up
        raise ConfigError("--data", f"got {reference!r}: setting its data up raised {_one_line(err)}") from None
    return data, digest


def _has_validation(module: L.LightningDataModule) -> bool:
    module.prepare_data()
    module.setup("fit")
    try:
        loader = module.val_dataloader()
    except Exception:  # noqa: BLE001 - Lightning's default raises: no validation set
        return False
    return loader is not None and len(loader) > 0


def _user_model(config: StudyConfig, reference: str) -> tuple[ModelBuilder, str]:
    function, digest = load_reference("--model", reference)

    def build(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        offered = {"input_shape": input_shape, "num_classes": num_classes}
        built = _call(function, offered, config.model_args, "--model", "--model-arg")()
        if not isinstance(built, nn.Module):
            raise TypeError(f"{reference} returned {type(built).__name__}, not an nn.Module or a LightningModule")
        return built

    return build, digest


def _first_batch(data: TrialData) -> tuple[Any, Any]:
    batch = next(iter(data.with_batch_size(8, shuffle_seed=0).train_dataloader()))
    return (batch[0], batch[1]) if isinstance(batch, list | tuple) and len(batch) > 1 else (batch, None)


def _check_on_a_batch(task: Task, config: StudyConfig) -> int:
    """Builds the network once, checks its output on a real batch and that one step logs the objective's metric;
    returns its trainable parameters. Before any store is opened: a mismatch is one line now, not N failed trials."""
    option = "--model" if config.model else "--dataset"
    try:
        net = task.model(task.data.input_shape, task.data.num_classes)
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - the user's callable raised: its message, one line
        raise ConfigError("--model", f"got {config.model!r}: building it raised {_one_line(err)}") from None
    parameters = sum(p.numel() for p in net.parameters() if p.requires_grad)
    if not isinstance(net, L.LightningModule):
        inputs, _ = _first_batch(task.data)
        with torch.no_grad():
            try:
                out = net.eval()(inputs.to(next(net.parameters()).device) if parameters else inputs)
            except Exception as err:  # noqa: BLE001
                raise ConfigError(
                    option, f"got {config.model!r}: its forward on a real batch raised {_one_line(err)}"
                ) from None
        expected = (inputs.shape[0], task.data.num_classes)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ConfigError(
                "--model",
                f"got {config.model!r}: it returns {shape} for a batch of {expected[0]}; accepted: logits of shape "
                f"(batch, {expected[1]}) for cross-entropy over the data's {expected[1]} classes",
            )
    from optimizers.registry import build_optimizer  # one real step: the metric is logged, the loss is a loss

    module = plugged(net.train(), lambda params: build_optimizer("sgd", params, lr=0.0), {})
    trainer = L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
    try:
        trainer.fit(module, datamodule=task.data.with_batch_size(8, shuffle_seed=0))
    except Exception as err:  # noqa: BLE001 - the user's steps raised: their message, one line
        raise ConfigError(
            option, f"got {config.model!r}: one training step on a real batch raised {_one_line(err)}"
        ) from None
    logged = {k for k, v in trainer.callback_metrics.items() if isinstance(v, torch.Tensor) and v.numel() == 1}
    if task.objective.metric not in logged:
        raise ConfigError(
            "--metric",
            f"got {task.objective.metric!r}, which the model does not log after validation; accepted: one of "
            f"{', '.join(sorted(logged)) or 'none (the model logs nothing: self.log a validation metric)'}",
        )
    value = float(trainer.callback_metrics[task.objective.metric])
    if not math.isfinite(value):
        raise ConfigError("--metric", f"got {task.objective.metric!r}, which is {value} after one step")
    return parameters


def load_task(config: StudyConfig, device: str) -> Task:
    """The study's task, loaded and checked (see the module docstring). Writes nothing."""
    objective = Objective(config.metric, config.maximize)
    code: dict[str, str] = {}
    data: TrialData
    if config.data is not None:
        data, code["data"] = _user_data(config, config.data)
        dataset_name, source = config.data, config.data
    else:
        images = builtin_data(config, device)
        data, dataset_name, source = images, config.dataset, str(images.data_dir)
    model: ModelBuilder = article_cnn
    if config.model is not None:
        model, code["model"] = _user_model(config, config.model)
    name = config.model or "ArticleCNN"
    too_large = [size for size in config.batch_sizes if size > data.num_train_samples]
    if too_large:
        raise ConfigError(
            "--batch-sizes",
            f"got {','.join(map(str, too_large))}, larger than the {data.num_train_samples} training samples; "
            f"accepted: batch sizes up to {data.num_train_samples}",
        )
    probe = Task(model, data, objective, name, 0, dataset_name, source, code)
    if config.model is None and config.data is None and objective.metric in (VAL_ACC, VAL_LOSS):
        channels, height, *_ = data.input_shape  # the article's CNN logs both: nothing of the user's to check
        parameters = article_cnn_parameters(channels, height, data.num_classes)
    else:
        parameters = _check_on_a_batch(probe, config)
    return Task(model, data, objective, name, parameters, dataset_name, source, code)
