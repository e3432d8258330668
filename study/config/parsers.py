"""Value parsers: a command-line string or a TOML value in, a typed value out.

Each raises ``ValueError`` (or ``TypeError``) when it cannot read the value; ``study.config.fields.parse_value``
turns that into a ``ConfigError`` naming the option, the value and the field's ``accepted`` text. Nothing here
imports torch, Optuna or MLflow: the command line answers at once.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from study.schema import SEARCHABLE, param_optimizer

__all__ = [
    "STUDY_NAME",
    "Hint",
    "choice",
    "flag",
    "fraction",
    "items",
    "keyword_args",
    "lr_ranges",
    "metric_name",
    "names",
    "optional_text",
    "optional_whole",
    "pinned_values",
    "positive_seconds",
    "positive_seconds_up_to",
    "reference",
    "seconds_or_none",
    "size_or_all",
    "study_name",
    "text",
    "unknown_name",
    "whole",
    "whole_list",
]

STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def study_name(value: Any) -> str:
    """A name that is safe as a file name and inside filter strings: it names folders, runs and sub-studies
    (``NAME.adam``: the dot is the study's own separator)."""
    if not isinstance(value, str) or not STUDY_NAME.fullmatch(value):
        raise ValueError
    return value


def optional_text(value: Any) -> str | None:
    return None if value is None else text(value)


def choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError
        return str(value)

    return parse


def whole(minimum: int, maximum: float = math.inf) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        number = int(value)
        if not minimum <= number <= maximum:
            raise ValueError
        return number

    return parse


def seconds_or_none(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError
    seconds = float(value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError
    return seconds


def positive_seconds(value: Any) -> float:
    seconds = seconds_or_none(value)
    if seconds is None:
        raise ValueError
    return seconds


def positive_seconds_up_to(maximum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        seconds = positive_seconds(value)
        if seconds > maximum:
            raise ValueError
        return seconds

    return parse


def fraction(value: Any) -> float:
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError
    number = float(value)
    if not 0.0 <= number < 1.0:
        raise ValueError
    return number


def optional_whole(value: Any) -> int | None:
    return None if value is None else whole(1)(value)


def size_or_all(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    return whole(1)(value)


def items(value: Any) -> list[Any]:
    """A comma-separated string (command line) or a list (TOML)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError


class Hint(ValueError):
    """A refusal that says which part of the value is wrong, e.g. which name of a list is unknown."""


def unknown_name(name: str, choices: tuple[str, ...]) -> Hint:
    """``'adma' is unknown: did you mean adam?`` (the closest accepted names, if any are close)."""
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.6)
    guess = f": did you mean {' or '.join(close)}?" if close else ""
    return Hint(f"{name!r} is unknown{guess}")


def names(choices: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    def parse(value: Any) -> tuple[str, ...]:
        given = items(value)
        if not given or any(not isinstance(n, str) for n in given):
            raise ValueError
        unknown = [n for n in given if n not in choices]
        if unknown:
            raise unknown_name(unknown[0], choices)
        repeated = [n for n in dict.fromkeys(given) if given.count(n) > 1]
        if repeated:
            raise Hint(f"{repeated[0]!r} is given twice")
        return tuple(given)

    return parse


def whole_list(value: Any) -> tuple[int, ...]:
    numbers = [whole(1)(item) for item in items(value)]
    if not numbers or len(set(numbers)) != len(numbers):
        raise ValueError
    return tuple(numbers)


def _named(value: Any, read: Callable[[str], Any]) -> list[tuple[str, Any]]:
    """``(name, value)`` pairs from a TOML table, or from command-line items ``NAME=TEXT`` (TEXT through ``read``)."""
    if isinstance(value, Mapping):
        return [(str(name), given) for name, given in value.items()]
    if not isinstance(value, list | tuple):
        raise ValueError
    pairs = []
    for item in value:
        name, equals, text = str(item).partition("=")
        if not equals:
            raise ValueError
        pairs.append((name.strip(), read(text)))
    return pairs


def lr_ranges(value: Any) -> dict[str, tuple[float, float]]:
    """``{"adam": [1e-5, 1e-2]}`` (TOML) or ``["adam=1e-5:1e-2", ...]`` (command line)."""
    out: dict[str, tuple[float, float]] = {}
    for name, rng in _named(value, lambda text: text.split(":")):
        if name not in SEARCHABLE:
            raise unknown_name(name, SEARCHABLE)
        if name in out or not isinstance(rng, list | tuple) or len(rng) != 2:
            raise ValueError
        if any(isinstance(v, bool) or not isinstance(v, int | float | str) for v in rng):
            raise ValueError
        low, high = float(rng[0]), float(rng[1])
        if not (0 < low < high and math.isfinite(high)):
            raise ValueError
        out[name] = (low, high)
    return out


def pinned_values(value: Any) -> dict[str, float]:
    """``{"lr_adam": 0.001}`` (TOML) or ``["lr_adam=0.001", ...]`` (command line)."""
    out: dict[str, float] = {}
    for name, given in _named(value, str):
        if isinstance(given, bool) or not isinstance(given, int | float | str):
            raise ValueError
        number = float(given)
        if param_optimizer(name) is None:
            raise ValueError
        if not math.isfinite(number) or number <= 0 or name in out:
            raise ValueError
        out[name] = number
    return out


def reference(value: Any) -> str | None:
    """``MODULE:CALLABLE``: a module name or a path to a ``.py`` file, then a (dotted) attribute of it; or None."""
    if value is None:
        return None
    text_value = text(value)
    module, colon, attribute = text_value.rpartition(":")
    if not colon or not module.strip() or not all(part.isidentifier() for part in attribute.split(".")):
        raise ValueError
    return text_value


def keyword_args(value: Any) -> dict[str, Any]:
    """``{"depth": 2}`` (a TOML table) or ``["depth=2", "name=wide"]`` (command line: each value read as JSON when
    it is a number, true/false or null, else kept as text)."""
    out: dict[str, Any] = {}
    for name, given in _named(value, _json_or_text):
        if not name.isidentifier() or name in out:
            raise ValueError
        out[name] = given
    return out


def _json_or_text(raw: str) -> Any:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return raw
    return parsed if isinstance(parsed, int | float | bool) or parsed is None else raw


def metric_name(value: Any) -> str:
    """A metric's name as a model logs it, e.g. ``val/acc``: no spaces."""
    name = text(value)
    if any(c.isspace() for c in name):
        raise ValueError
    return name


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value
