"""Credentials never leave the process: one place masks them in everything the study prints, logs or stores.

A store URL may carry a password (``postgresql://user:pw@host/db``) or a token in its query string, and the
environment may hold more (``PGPASSWORD``, ``MLFLOW_TRACKING_PASSWORD``...). ``mask_url`` hides the secret parts
of a URL while keeping it readable; ``redact`` removes every secret value known to this process from any text
(an error message, a log line); ``install_log_filter`` applies ``redact`` to every log record. The console,
the MLflow params and artifacts, the Optuna study attributes and the report all go through these.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["MASK", "install_log_filter", "mask_url", "redact", "remember", "secrets_in", "show_masked_command_line"]

MASK = "***"
# Query parameters and environment variables whose values are secrets.
_SECRET_NAME = re.compile(r"pass(word)?|pwd|secret|token|api[_-]?key|credential|auth", re.IGNORECASE)
# The shell's working folders: "pwd" in their names means "print working directory", not a password.
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})


def _secret_variable(name: str) -> bool:
    return name.upper() not in _NOT_SECRET and _SECRET_NAME.search(name) is not None


# A secret-named query parameter's value, e.g. the "x" of "?password=x&...".
_SECRET_VALUE = re.compile(
    r"([?&](?:[^=&#]*(?:pass|pwd|secret|token|key|credential|auth)[^=&#]*)=)[^&#]*", re.IGNORECASE
)
_MIN_SECRET = 3  # shorter values would blank out ordinary text

_known: set[str] = set()


def secrets_in(url: str) -> list[str]:
    """The secret parts of a URL: its password and the values of secret-named query parameters."""
    if "://" not in url:
        return []
    parts = urlsplit(url)
    found = [unquote(parts.password)] if parts.password else []
    found += [value for key, value in parse_qsl(parts.query) if _SECRET_NAME.search(key) and value]
    return found


def remember(*urls: str | None) -> None:
    """Adds the secrets of these URLs (and of the environment) to what ``redact`` removes."""
    for url in urls:
        if url:
            _known.update(s for s in secrets_in(url) if len(s) >= _MIN_SECRET)
    _known.update(v for k, v in os.environ.items() if _secret_variable(k) and len(v) >= _MIN_SECRET)


def mask_url(url: str) -> str:
    """The URL with its password and secret query values replaced by ``***``; otherwise unchanged, to the byte."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    scheme, rest = url.split("://", 1)
    if parts.password is not None:
        userinfo, _, host = parts.netloc.rpartition("@")
        rest = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}" + rest[len(parts.netloc) :]
    return f"{scheme}://" + _SECRET_VALUE.sub(lambda m: m.group(1) + MASK, rest)


def show_masked_command_line() -> None:
    """Replaces this process's visible command line (``ps``, ``/proc/<pid>/cmdline``) with its masked form when it
    holds a secret, which every user of the machine could otherwise read for the process's whole life. The
    instants before this runs cannot be helped: prefer ``PGPASSWORD``, ``~/.pgpass`` or ``MLFLOW_TRACKING_PASSWORD``
    to a password in a URL."""
    try:
        words = Path("/proc/self/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return  # not Linux: nothing to read the command line from, and ps shows what the system shows
    masked = [redact(mask_url(word)) for word in words]
    if masked != words:
        import setproctitle

        setproctitle.setproctitle(" ".join(masked))


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every known secret (and ``extra`` ones) replaced by ``***``, longest first."""
    for secret in sorted({*_known, *(s for s in extra if len(s) >= _MIN_SECRET)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()


def install_log_filter() -> None:
    """Redacts every record that reaches a handler of the root logger or of the libraries' own loggers."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("optuna", "mlflow", "sqlalchemy", "alembic"))]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
