"""Ctrl-C and SIGTERM as the study sees them: an interrupt anywhere, except while a record is being written.

A trial's end is written to two stores in a fixed order (see ``study.records.ledger``). A signal in the middle would
leave them disagreeing, so ``held()`` defers SIGINT and SIGTERM for the few milliseconds that takes and raises
the interrupt right after. Outside it, the first signal raises ``KeyboardInterrupt`` at once; later ones are
ignored, so that a second Ctrl-C cannot cut short the recording of the first. The first signal decides the exit
code: 130 for SIGINT, 143 for SIGTERM (128 + the signal number, the shell's convention).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupts"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Installs handlers for SIGINT and SIGTERM (main thread only) and remembers the first signal."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal's number
        self._holding = 0
        self._pending = False
        self._previous: dict[int, object] = {}

    def install(self) -> Interrupts:
        for signum in _SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        """The handlers from before ``install``; after an interrupt, none: the process is on its way out, and a
        second Ctrl-C must not turn a recorded interruption into a crash at exit."""
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.received is not None else handler)  # type: ignore[arg-type]
        self._previous.clear()

    @property
    def exit_code(self) -> int:
        return 128 + (self.received or signal.SIGINT)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already stopping: a second Ctrl-C must not cut the recording of the first short
        self.received = signum
        if self._holding:
            self._pending = True
            return
        raise KeyboardInterrupt(f"signal {signum}")

    @contextmanager
    def held(self) -> Iterator[None]:
        """Defers SIGINT and SIGTERM inside the block; an interrupt that arrived is raised when it ends."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if not self._holding and self._pending:
                self._pending = False
                raise KeyboardInterrupt(f"signal {self.received}")  # noqa: B012 - the interrupt wins
