"""The command line of ``python -m study.run``, generated from StudyConfig's fields.

Each field's ``Option`` gives its flag, help and metavar; values arrive as strings and are parsed by the same
function that reads the TOML file, so both report a bad value the same way. Only options actually given
override the file (``argparse.SUPPRESS``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, NoReturn

from study.config import (
    FIELDS,
    PROTOCOL_PRESETS,
    ConfigError,
    StudyConfig,
    config_from_mapping,
    environment_options,
    flag_of,
    option_of,
    parse_value,
    read_toml,
)
from study.config.console import NORMAL, QUIET, VERBOSE
from study.config.sources import ENVIRONMENT
from study.secrets import install_log_filter, mask_url, redact, remember

__all__ = [
    "ARGV_ENV",
    "Command",
    "EVENTS_ENV",
    "OneLineParser",
    "build_parser",
    "command_line_of",
    "parse_reader_args",
    "parse_command_line",
    "parse_config",
    "worker_argv",
]

EVENTS_ENV = "OPTIMIZER_STUDY_EVENTS"  # "jsonl": a supervised worker writes its events as JSON lines
ARGV_ENV = "OPTIMIZER_STUDY_WORKER_ARGV"  # a supervised worker's options, as a JSON list


def worker_argv() -> list[str] | None:
    """The options a supervisor gave this worker through the environment (not on the command line, where
    ``ps`` would show a store's password), or None in a process a person started."""
    raw = os.environ.pop(ARGV_ENV, None)  # popped: the worker's own children must not inherit it
    return [str(a) for a in json.loads(raw)] if raw else None


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage block) and exits with code 2, with a hint for the
    two slips its own messages do not explain: a space after a comma in a list, and options unquoted under make."""

    _given: list[str] = []

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_args(self._given, namespace)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self._hint(message)}\n")

    def _hint(self, message: str) -> str:
        if message.startswith("unrecognized arguments"):
            split = next((a for a in self._given if a.endswith(",") and len(a) > 1), None)
            if split is not None:
                return f" (a space after the comma of {split!r} ended the list: write the items without spaces, a,b)"
        if os.environ.get("MAKELEVEL") and "expected one argument" in message:
            return ' (under make, quote the options: make run ARGS="--n-trials 5 --optimizers adam,sgd")'
        return ""


# The options of the commands that read a study (report, ui): study.run's own fields, with their help and rules.
READER_FIELDS = ("study_name", "storage", "tracking_uri", "experiment")


def add_store_options(p: argparse.ArgumentParser, d: StudyConfig, *, study_required: bool = False) -> None:
    """--study-name, --storage, --tracking-uri and --experiment of a command that reads a study (report, ui): the
    same help, metavar and rule as ``study.run``'s, defaulting to ``d``'s (the built-in stores or the
    environment's), shown masked. ``parse_reader_args`` checks the values given."""
    for name in READER_FIELDS:
        option = option_of(name)
        help_text = option.help.split(" (default")[0]
        if study_required and name == READER_FIELDS[0]:
            p.add_argument(flag_of(name), dest=name, metavar=option.metavar, required=True, help=help_text)
            continue
        default = d.storage_url if name == "storage" else getattr(d, name)
        shown = f"{help_text} (default {mask_url(str(default))})"
        p.add_argument(flag_of(name), dest=name, metavar=option.metavar, default=default, help=shown)


def parse_reader_args(
    build: Callable[[StudyConfig], OneLineParser], argv: Sequence[str] | None
) -> argparse.Namespace | None:
    """The options of a command that reads a study (report, ui), its store defaults from the environment; None
    after a one-line error for a bad value (given, or from the environment). Its stores' secrets are remembered
    for redaction."""
    try:
        parser = build(StudyConfig(**environment_options(os.environ)))
    except ConfigError as err:
        print(redact(f"{build(StudyConfig()).prog}: error: {err}"), file=sys.stderr)
        return None
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    remember(args.storage, args.tracking_uri)
    install_log_filter()
    try:
        for name in READER_FIELDS:
            parse_value(name, getattr(args, name))
    except ConfigError as err:
        print(redact(f"{parser.prog}: error: {err}"), file=sys.stderr)
        return None
    return args


def _default_text(name: str) -> str:
    f = FIELDS[name]
    value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    if value is None or value == {} or isinstance(value, bool):
        return ""
    shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
    return f" (default {shown})"


def build_parser(prog: str = "python -m study.run") -> OneLineParser:
    p = OneLineParser(
        prog=prog,
        description="Search optimizer, lr and batch size with Optuna; record every trial in MLflow.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--config", metavar="FILE", help="TOML file of options (the command line overrides it)")
    talk = p.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET, help="print only results")
    talk.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE, help="add the libraries' log lines"
    )
    for name, f in FIELDS.items():
        option = option_of(name)
        flag = flag_of(name)
        if f.type in ("bool", bool):
            action = "store_false" if f.default is True else "store_true"
            p.add_argument(flag, dest=name, action=action, help=option.help)
        elif option.repeatable:
            p.add_argument(flag, dest=name, action="append", metavar=option.metavar, help=option.help)
        else:
            help_text = option.help if "(default" in option.help else option.help + _default_text(name)
            p.add_argument(flag, dest=name, metavar=option.metavar, help=help_text)
    return p


class Command(NamedTuple):
    """A parsed command line: the configuration, the verbosity (-q/-v) and which options the environment gave
    (field -> variable), so that an error about one of them names the variable the user set."""

    config: StudyConfig
    verbosity: int
    from_environment: Mapping[str, str]

    def named(self, err: ConfigError) -> ConfigError:
        """``err`` naming the environment variable, when its option's value came from one."""
        for name, variable in self.from_environment.items():
            if err.option == flag_of(name):
                return ConfigError(variable, str(err).partition(": ")[2])
        return err


def command_line_of(config: StudyConfig) -> list[str]:
    """The options that give ``config`` from the built-in defaults (``parse_config`` reads them back to an equal
    configuration): how ``study.compare`` hands its options to the workers of ``workers=N``."""
    out: list[str] = []
    defaults = StudyConfig(**PROTOCOL_PRESETS.get(config.protocol, {}))  # what --protocol alone gives
    for name in FIELDS:
        value, default = getattr(config, name), getattr(defaults, name)
        flag = flag_of(name)
        if value == default:
            continue
        if isinstance(value, bool):
            out.append(flag)  # store_true, or --no-report's store_false: either way the flag flips the default
        elif isinstance(value, Mapping):
            for key, item in value.items():
                text = f"{item[0]}:{item[1]}" if isinstance(item, tuple) else _as_text(item)
                out += [flag, f"{key}={text}"]
        elif isinstance(value, tuple):
            out += [flag, ",".join(map(str, value))]
        else:
            out += [flag, "none" if value is None else str(value)]
    return out


def _as_text(value: object) -> str:
    return json.dumps(value) if isinstance(value, bool | int | float) or value is None else str(value)


def parse_config(argv: Sequence[str] | None, parser: OneLineParser | None = None) -> StudyConfig:
    return parse_command_line(argv, parser).config


def parse_command_line(argv: Sequence[str] | None, parser: OneLineParser | None = None) -> Command:
    """The configuration and the verbosity (-q/-v). Defaults < protocol preset < environment (``OPTUNA_STORAGE``,
    ``MLFLOW_TRACKING_URI``) < TOML file < command line. Raises ConfigError (exits 2 on argparse errors)."""
    parser = parser or build_parser()
    raw = vars(parser.parse_args(sys.argv[1:] if argv is None else list(argv)))
    verbosity = int(raw.pop("verbosity", NORMAL))
    config_file = raw.pop("config", None)
    given = config_from_mapping(raw, source="command line")
    from_file = read_toml(config_file) if config_file else {}
    protocol = given.get("protocol", from_file.get("protocol", StudyConfig.protocol))
    from_environment = environment_options(os.environ)
    config = StudyConfig(**{**PROTOCOL_PRESETS.get(protocol, {}), **from_environment, **from_file, **given})
    variables = {name: variable for variable, name in ENVIRONMENT.items()}
    origins = {name: variables[name] for name in from_environment if name not in from_file and name not in given}
    return Command(config, verbosity, origins)
