"""A worker: claims the study's queued trials one at a time, trains each, and records how it ended.

Any number of workers, in one process tree (``--workers N``) or started by hand on several machines, share a
study through its storage. A worker claims a WAITING trial by moving it to RUNNING in the storage, which
succeeds for exactly one worker; it trains it with a heartbeat running, then commits the outcome to both stores
(``study.records.ledger``). Between trials it fails the trials of workers that stopped answering
(``study.workers.liveness``). When nothing is left to claim it waits for the other workers' trials (one may die
and need a retry), and returns once the study has nothing queued or running, or its ``--timeout`` passed.

Bookkeeping (claiming, creating the run, committing, sweeping) runs with Ctrl-C and SIGTERM held; training
and waiting can be interrupted at any instant. An interrupted trial is recorded FAIL and queued again.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

from models.allocator import keep_freed_memory
from study.config import FUSE_AUTO
from study.design.protocols import Part, retraining, waiting_for
from study.design.sampling import make_sampler
from study.records.failures import StoreError, writes_to
from study.records.ledger import Outcome, commit, crashed
from study.records.optuna_internals import claim, enqueued, live_trial, refreshed, set_enqueued
from study.schema import FAIL, INTERRUPTED, OPTIMIZER, sub_study
from study.training.fused import fusable, group_key
from study.training.train import TrialSpec
from study.workers.events import Events
from study.workers.interrupts import Interrupts
from study.workers.liveness import beating, retry, sweep
from study.workers.trial_runner import TrialRunner

if TYPE_CHECKING:
    from study.design.tasks import Task
    from study.records.tracking import StudyTracker

__all__ = ["AUTO_SLOTS", "Worker", "WorkerResult", "stack_size"]

POLL_SECONDS = 1.0  # how often an idle worker looks for work and for silent trials
# ``--fuse auto`` by device. On this project's 2-core CPU a stack trains no faster than its trials one by one
# (README, "When fusing pays"), so a CPU trains alone; a GPU gets 8 slots, unmeasured (no GPU was lent).
AUTO_SLOTS = {"cpu": 1, "cuda": 8}


def stack_size(fuse: str, device: str) -> int:
    """The trials a worker claims and stacks at once for ``--fuse`` (a number, or auto) on ``device``."""
    return AUTO_SLOTS.get(device, 1) if fuse == FUSE_AUTO else int(fuse)


@dataclass
class WorkerResult:
    trials: int = 0  # trials this worker ran to an end
    timed_out: bool = False
    interrupted: bool = False


@dataclass
class _Claim:
    """A claimed trial on its way through the worker: claimed, started, trained, committed."""

    part: Part
    trial: FrozenTrial  # as claimed (RUNNING)
    live: optuna.Trial | None = None  # once started: the trial that suggests, reports and prunes
    spec: TrialSpec | None = None  # once started: what it trains with
    run_id: str | None = None  # once started: its MLflow run
    outcome: Outcome | None = None  # once it ended (or could not start)

    def started(self) -> tuple[optuna.Trial, TrialSpec, str]:
        assert self.live is not None and self.spec is not None and self.run_id is not None, "a trial not started"
        return self.live, self.spec, self.run_id


class Worker:
    def __init__(
        self,
        parts: list[Part],
        studies: Mapping[str, optuna.Study],
        tracker: StudyTracker,
        task: Task,
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
        self.task = task
        self.runners = {
            p.name: TrialRunner(p.config, task, tracker, device, events.trial_started, events.epoch_done) for p in parts
        }
        task.data.digests()  # start-up work, once per process: the datasets every trial's run logs
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
                with writes_to("--tracking-uri"):
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
                claimed = claim(study, trial)
                if claimed is not None:
                    return _Claim(part, claimed)
        return None

    def _claim_stack(self) -> list[_Claim]:
        """One claimed trial, and up to ``--fuse`` - 1 more of the same (sub-)study to stack with it."""
        first = self._claim()
        if first is None:
            return []
        claims = [first]
        size = stack_size(first.part.config.fuse, self.device) if self.task.builtin_model else 1
        while len(claims) < size:
            more = self._claim(only=first.part)
            if more is None:
                break
            claims.append(more)
        return claims

    def _next(self) -> bool:
        """Claims queued trials (one, or a stack's worth with ``--fuse``), trains them and commits each outcome;
        False when there was nothing to claim.

        The sampler proposes each claimed trial as it would for parallel workers; the claimed trials that share
        optimizer and batch size then train as one stack (``study.training.fused``), any other alone.

        Invariant, whatever line a signal (or a crash) interrupts: a trial is in ``claims`` from the instant its
        claim succeeds (claims are made, and assigned, with signals held) until its outcome is committed. So the
        handlers below always know every claimed trial; each then gets an outcome (its own if it ended, else the
        interruption's or the crash's) and is committed to both stores, an interrupted one queued again, before
        the interrupt is re-raised. Starting a trial and committing it also run with signals held: neither store
        is left half-written. No trial is left RUNNING by this worker.
        """
        claims: list[_Claim] = []
        ending: Outcome | None = None
        try:
            with self.interrupts.held(), writes_to("--storage"):
                self.sweep()
                claims = self._claim_stack()
            if not claims:
                return False
            with self._heartbeats(claims):
                self._start_all(claims)
                self._train_all(claims)
        except KeyboardInterrupt:
            if not claims:
                raise
            ending = Outcome(FAIL, reason=INTERRUPTED, interrupted=True)
        except Exception as err:  # noqa: BLE001 - a failure outside any trial's training ends the claimed ones
            if not claims:
                raise
            ending = crashed(err)
        self._commit_all(claims, ending)
        return True

    @contextlib.contextmanager
    def _heartbeats(self, claims: Sequence[_Claim]) -> Iterator[None]:
        """Every claimed trial's heartbeat, refreshed while the block runs."""
        with contextlib.ExitStack() as beats:
            for c in claims:
                beats.enter_context(beating(self.studies[c.part.name], c.trial, self.heartbeat_seconds))
            yield

    def _start_all(self, claims: Sequence[_Claim]) -> None:
        """Starts each claimed trial with signals held; one that cannot start gets its outcome and ends alone."""
        for c in claims:
            with self.interrupts.held():
                try:
                    self._start(c)
                except Exception as err:  # noqa: BLE001 - a trial that cannot start ends alone
                    c.outcome = crashed(err)

    def _start(self, c: _Claim) -> None:
        """Builds the claimed trial and its MLflow run; sets its outcome instead when it cannot run."""
        study = self.studies[c.part.name]
        values = retraining(c.part, c.trial, self.studies)
        if values is None:
            source = sub_study(c.part.config.study_name, str(enqueued(c.trial)[OPTIMIZER]))
            c.outcome = Outcome(FAIL, reason=f"no completed trial in {source} to retrain")
            return
        if values != enqueued(c.trial):  # a retraining takes its optimizer's best configuration
            set_enqueued(study, c.trial, values)
        study.sampler = make_sampler(c.part.config, c.trial.number)
        runner = self.runners[c.part.name]
        c.live = live_trial(study, c.trial)
        c.spec = runner.spec(c.live)
        c.run_id = runner.start(c.live, c.spec)

    def _train_all(self, claims: Sequence[_Claim]) -> None:
        """Trains the started trials, stack by stack; stops after a stack that an interrupt ended."""
        for stack in _stacks([c for c in claims if c.outcome is None]):
            runner = self.runners[stack[0].part.name]
            begun = [c.started() for c in stack]
            if len(begun) == 1:
                outcomes = [runner.train(*begun[0])]
            else:
                trials, specs, runs = zip(*begun, strict=True)
                outcomes = runner.train_stack(trials, specs, runs)
            for c, outcome in zip(stack, outcomes, strict=True):
                c.outcome = outcome
            if any(o.interrupted for o in outcomes):
                break

    def _commit_all(self, claims: Sequence[_Claim], ending: Outcome | None) -> None:
        """Commits every claimed trial's outcome (``ending`` for those without one); re-raises an interrupt, or
        the first store that refused a write once every trial is recorded as far as the stores allow."""
        interrupted = ending is not None and ending.interrupted
        refused: StoreError | None = None
        for c in claims:
            outcome = c.outcome or ending or Outcome(FAIL, reason=INTERRUPTED, interrupted=True)
            interrupted |= outcome.interrupted
            try:
                self._commit(c, outcome)
            except StoreError as err:
                refused = refused or err
        if refused is not None:
            raise refused
        if interrupted:
            raise KeyboardInterrupt(INTERRUPTED)

    def _commit(self, c: _Claim, outcome: Outcome) -> None:
        """Writes the outcome to both stores with signals held (an interrupt is queued again)."""
        study = self.studies[c.part.name]
        with self.interrupts.held():
            state = commit(study, c.trial, c.run_id, outcome, self.tracker)
            if outcome.interrupted:
                retry(study, refreshed(study, c.trial))
            self.events.trial_finished(c.part.name, c.trial.number, state, outcome.value, outcome.reason)


def _stacks(claims: Sequence[_Claim]) -> list[list[_Claim]]:
    """The started claims grouped into stacks: those that share ``group_key`` (and can be fused) together, in
    claim order; every other one alone."""
    groups: dict[tuple[object, ...], list[_Claim]] = {}
    alone: list[list[_Claim]] = []
    for c in claims:
        spec = c.started()[1]
        if fusable(spec):
            groups.setdefault(group_key(spec), []).append(c)
        else:
            alone.append([c])
    order = {id(c): index for index, c in enumerate(claims)}
    return sorted([*groups.values(), *alone], key=lambda stack: order[id(stack[0])])
