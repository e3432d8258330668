"""What the user asked for: the options (``StudyConfig``), their parsers and sources, the command line and the
terminal. Light on purpose: none of it imports torch, Optuna or MLflow, so ``--help`` and a bad option answer at
once."""

from __future__ import annotations

from study.config.errors import ConfigError
from study.config.fields import (
    DATASETS,
    DEFAULT_STORAGE,
    DEVICES,
    FIELDS,
    FUSE_AUTO,
    PRECISIONS,
    Option,
    StudyConfig,
    flag_of,
    option_of,
    parse_value,
)
from study.config.sources import PROTOCOL_PRESETS, config_from_mapping, environment_options, read_toml

__all__ = [
    "DATASETS",
    "DEFAULT_STORAGE",
    "DEVICES",
    "FIELDS",
    "FUSE_AUTO",
    "PRECISIONS",
    "PROTOCOL_PRESETS",
    "ConfigError",
    "Option",
    "StudyConfig",
    "config_from_mapping",
    "environment_options",
    "flag_of",
    "option_of",
    "parse_value",
    "read_toml",
]
