"""What a worker tells the person watching: a trial started, an epoch ended, a trial ended, a note.

In one process the events go straight to the console display (``study.workers.progress``). A worker started by
``--workers N`` writes them as JSON lines on its standard output instead, and the supervising process replays
them into its one display, so N workers show as one study.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Protocol, TextIO

from study.design.search_space import Choice
from study.schema import BATCH_SIZE, LR, OPTIMIZER
from study.training.train import EpochRecord

__all__ = ["Events", "JsonLines", "replay"]


class Events(Protocol):
    def trial_started(self, study: str, number: int, choice: Choice) -> None: ...

    def epoch_done(self, study: str, number: int, record: EpochRecord) -> None: ...

    def trial_finished(self, study: str, number: int, state: str, value: float | None, reason: str | None) -> None: ...

    def note(self, text: str) -> None: ...


class JsonLines:
    """Events as one JSON object per line: ``{"event": "trial_started", "study": ..., ...}``."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def _emit(self, event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, **fields}), file=self.out, flush=True)

    def trial_started(self, study: str, number: int, choice: Choice) -> None:
        self._emit(
            "trial_started",
            study=study,
            number=number,
            **{OPTIMIZER: choice.optimizer, LR: choice.lr, BATCH_SIZE: choice.batch_size},
        )

    def epoch_done(self, study: str, number: int, record: EpochRecord) -> None:
        self._emit(
            "epoch_done",
            study=study,
            number=number,
            epoch=record.epoch,
            seconds=record.seconds,
            metrics=dict(record.metrics),
        )

    def trial_finished(self, study: str, number: int, state: str, value: float | None, reason: str | None) -> None:
        self._emit("trial_finished", study=study, number=number, state=state, value=value, reason=reason)

    def note(self, text: str) -> None:
        self._emit("note", text=text)


def replay(line: str, events: Events) -> bool:
    """Calls ``events`` with the event a JSON line holds; False when the line is not an event."""
    try:
        fields = json.loads(line)
    except ValueError:
        return False
    if not isinstance(fields, dict) or "event" not in fields:
        return False
    kind = fields.pop("event")
    if kind == "trial_started":
        choice = Choice(fields[OPTIMIZER], int(fields[BATCH_SIZE]), {LR: float(fields[LR])})
        events.trial_started(fields["study"], fields["number"], choice)
    elif kind == "epoch_done":
        record = EpochRecord(fields["epoch"], fields["seconds"], fields["metrics"])
        events.epoch_done(fields["study"], fields["number"], record)
    elif kind == "trial_finished":
        events.trial_finished(fields["study"], fields["number"], fields["state"], fields["value"], fields["reason"])
    elif kind == "note":
        events.note(fields["text"])
    else:
        return False
    return True
