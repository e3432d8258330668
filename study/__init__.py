"""The study of optimizers: ``python -m study.run`` on the command line, ``study.compare`` from Python.

Importing ``study`` loads nothing heavy: ``compare`` imports the stack when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from study.api import Results

__all__ = ["compare"]


def compare(
    model: str | Callable[..., Any] | None = None,
    data: str | Callable[..., Any] | None = None,
    *,
    quiet: bool = False,
    **options: Any,
) -> Results:
    """Compares optimizers on ``model`` and ``data`` (the article's CNN on MNIST by default); see ``study.api``."""
    from study.api import compare as run

    return run(model, data, quiet=quiet, **options)
