"""A worker: claims the study's queued trials one at a time, trains each, and records how it ended.

Any number of workers, in one process tree (``--workers N``) or started by hand on several machines, share a
study through its storage. A worker claims a WAITING trial by moving it to RUNNING in the storage, which
succeeds for exactly one worker; it trains it with a heartbeat running, then commits the outcome to both stores
(``study.ledger``). Between trials it fails the trials of workers that stopped answering (``study.liveness``).
When nothing is left to claim it waits for the other workers' trials (one may die and need a retry), and
returns once the study has nothing queued or running, or its ``--timeout`` passed.

Bookkeeping (claiming, creating the run, committing, sweeping) runs with Ctrl-C and SIGTERM held; training
and waiting can be interrupted at any instant. An interrupted trial is recorded FAIL and queued again.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from study.allocator import keep_freed_memory
from study.events import Events
from study.fused import fusable, group_key, stack_size
from study.interrupts import Interrupts
from study.ledger import Outcome, commit, crashed
from study.liveness import beating, retry, sweep
from study.objective import INTERRUPTED, Objective
from study.protocols import Part, retraining, waiting_for
from study.sampling import make_sampler
from study.schema import FAIL, OPTIMIZER, sub_study
from study.search_space import enqueued
from study.train import TrialSpec

if TYPE_CHECKING:
    from models.data import ImageDataModule
    from study.tracking import StudyTracker

__all__ = ["Worker", "WorkerResult"]

POLL_SECONDS = 1.0  # how often an idle worker looks for work and for silent trials


@dataclass
class WorkerResult:
    trials: int = 0  # trials this worker ran to an end
    timed_out: bool = False
    interrupted: bool = False


@dataclass
class _Claim:
    part: Part
    trial: FrozenTrial


class Worker:
    def __init__(
        self,
        parts: list[Part],
        studies: Mapping[str, optuna.Study],
        tracker: StudyTracker,
        data: ImageDataModule,
        device: str,
        events: Events,
        interrupts: Interrupts,
        heartbeat_seconds: float,
    ) -> None:
        self.parts = parts
        self.studies = studies
        self.tracker = tracker
        self.interrupts = interrupts
        self.events = events
        self.heartbeat_seconds = heartbeat_seconds
        self.device = device
        self.objectives = {
            p.name: Objective(p.config, data, tracker, device, events.trial_started, events.epoch_done) for p in parts
        }
        data.digests()  # start-up work, once per process: the datasets every trial's run logs
        # What is alive before the first trial (modules, the data, the stores) stays alive: freezing it keeps
        # the per-trial collection in run() to the trial's own objects (4 ms instead of 0.4 s here).
        gc.collect()
        gc.freeze()
        keep_freed_memory()

    def run(self, timeout: float | None = None) -> WorkerResult:
        result = WorkerResult()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    result.timed_out = True
                    return result
                ran = self._next()
                if ran:
                    result.trials += 1
                    # Lightning's Trainer, module and callbacks reference one another: without a full collection
                    # per trial a worker grew about 4 MiB a trial until the collector's rare full pass came
                    gc.collect()
                elif self._anything_live():
                    time.sleep(POLL_SECONDS)  # others' trials: one may die and need a retry, or unblock ours
                else:
                    return result
        except KeyboardInterrupt:
            result.interrupted = True
            return result
        finally:
            gc.unfreeze()

    def sweep(self) -> None:
        """Fails (in both stores) and requeues every silent trial of the study."""
        for part in self.parts:
            study = self.studies[part.name]

            def closed(trial: FrozenTrial, reason: str, name: str = part.name) -> None:
                run = self.tracker.trial_runs(name).get(trial.number)
                if run is not None:
                    self.tracker.end_trial(run.info.run_id, FAIL, reason=reason)
                self.events.note(f"{name}: trial {trial.number} failed: {reason}; its configuration is queued again")

            sweep(study, self.heartbeat_seconds, closed)

    def _anything_live(self) -> bool:
        states = (TrialState.WAITING, TrialState.RUNNING)
        return any(self.studies[p.name].get_trials(deepcopy=False, states=states) for p in self.parts)

    def _claim(self, only: Part | None = None) -> _Claim | None:
        for part in self.parts if only is None else [only]:
            study = self.studies[part.name]
            for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                if waiting_for(part, trial, self.studies):
                    continue
                try:
                    if study._storage.set_trial_state_values(trial._trial_id, TrialState.RUNNING):
                        return _Claim(part, study._storage.get_trial(trial._trial_id))
                except UpdateFinishedTrialError:
                    continue  # another worker claimed and finished it meanwhile
        return None

    def _claim_stack(self) -> list[_Claim]:
        """One claimed trial, and up to ``--fuse`` − 1 more of the same (sub-)study to stack with it."""
        first = self._claim()
        if first is None:
            return []
        claims = [first]
        while len(claims) < stack_size(first.part.config.fuse, self.device):
            more = self._claim(only=first.part)
            if more is None:
                break
            claims.append(more)
        return claims

    def _start(self, part: Part, frozen: FrozenTrial) -> tuple[optuna.Trial, TrialSpec, str] | Outcome:
        """Builds the claimed trial and its MLflow run; the Outcome instead when it cannot run."""
        study = self.studies[part.name]
        values = retraining(part, frozen, self.studies)
        if values is None:
            source = sub_study(part.config.study_name, str(enqueued(frozen)[OPTIMIZER]))
            return Outcome(FAIL, reason=f"no completed trial in {source} to retrain")
        if values != enqueued(frozen):  # a retraining takes its optimizer's best configuration
            study._storage.set_trial_system_attr(frozen._trial_id, "fixed_params", values)
        study.sampler = make_sampler(part.config, frozen.number)
        trial = optuna.Trial(study, frozen._trial_id)
        objective = self.objectives[part.name]
        spec = objective.spec(trial)
        return trial, spec, objective.start(trial, spec)

    def _next(self) -> bool:
        """Claims queued trials (one, or a stack's worth with ``--fuse``), trains them and commits each outcome;
        False when there was nothing to claim.

        The sampler proposes each claimed trial as it would for parallel workers; the claimed trials that share
        optimizer and batch size then train as one stack (``study.fused``), any other alone. An interrupt is
        recorded (every claimed trial without an outcome FAIL and queued again) and then re-raised. Claims are
        made with signals held and assigned inside the ``try``: an interrupt at any instant after them reaches
        the handler with the claims known, so no trial is left RUNNING unrecorded.
        """
        claims: list[_Claim] = []
        run_ids: dict[int, str] = {}
        outcomes: dict[int, Outcome] = {}
        ending: Outcome | None = None
        try:
            with self.interrupts.held():
                self.sweep()
                claims = self._claim_stack()
            if not claims:
                return False
            with contextlib.ExitStack() as beats:
                for claim in claims:
                    storage = self.studies[claim.part.name]._storage
                    beats.enter_context(beating(storage, claim.trial._trial_id, self.heartbeat_seconds))
                started: dict[int, tuple[optuna.Trial, TrialSpec]] = {}
                for index, claim in enumerate(claims):
                    with self.interrupts.held():
                        try:
                            begun = self._start(claim.part, claim.trial)
                        except Exception as err:  # noqa: BLE001 - a trial that cannot start ends alone
                            begun = crashed(err)
                        if isinstance(begun, Outcome):
                            outcomes[index] = begun
                        else:
                            started[index], run_ids[index] = (begun[0], begun[1]), begun[2]
                for stack in _stacks({i: spec for i, (_, spec) in started.items()}):
                    objective = self.objectives[claims[stack[0]].part.name]
                    if len(stack) == 1:
                        (i,) = stack
                        ended = [objective.train(started[i][0], started[i][1], run_ids[i])]
                    else:
                        trials, specs = [started[i][0] for i in stack], [started[i][1] for i in stack]
                        ended = objective.train_stack(trials, specs, [run_ids[i] for i in stack])
                    outcomes.update(zip(stack, ended, strict=True))
                    if any(o.interrupted for o in ended):
                        break
        except KeyboardInterrupt:
            if not claims:
                raise
            ending = Outcome(FAIL, reason=INTERRUPTED, interrupted=True)
        except Exception as err:  # noqa: BLE001 - a failure outside any trial's training ends the claimed ones
            if not claims:
                raise
            ending = crashed(err)
        interrupted = ending is not None and ending.interrupted
        for index, claim in enumerate(claims):
            outcome = outcomes.get(index) or ending or Outcome(FAIL, reason=INTERRUPTED, interrupted=True)
            interrupted |= outcome.interrupted
            self._commit(claim, run_ids.get(index), outcome)
        if interrupted:
            raise KeyboardInterrupt(INTERRUPTED)
        return True

    def _commit(self, claim: _Claim, run_id: str | None, outcome: Outcome) -> None:
        """Writes the outcome to both stores with signals held (an interrupt is queued again)."""
        part, frozen = claim.part, claim.trial
        study = self.studies[part.name]
        with self.interrupts.held():
            state = commit(study, frozen._trial_id, frozen.number, run_id, outcome, self.tracker)
            if outcome.interrupted:
                retry(study, study._storage.get_trial(frozen._trial_id))
            self.events.trial_finished(part.name, frozen.number, state, outcome.value, outcome.reason)


def _stacks(specs: Mapping[int, TrialSpec]) -> list[list[int]]:
    """The claimed trials' indices grouped into stacks: those that share ``group_key`` (and can be fused)
    together, in claim order; every other trial alone."""
    groups: dict[tuple[object, ...], list[int]] = {}
    alone: list[list[int]] = []
    for index, spec in specs.items():
        if fusable(spec):
            groups.setdefault(group_key(spec), []).append(index)
        else:
            alone.append([index])
    return sorted([*groups.values(), *alone], key=lambda stack: stack[0])
