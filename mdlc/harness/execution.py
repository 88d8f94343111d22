"""Start a Step Functions execution in moto, follow it to the end, and report it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

_TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
_POLL_SECONDS = 0.05
_FIRST_POLL_SECONDS = 0.005
#: How often the history is read back while a `progress` callback follows a run: moto
#: serialises the whole history on every read, so reading it at every poll of a long run cost
#: more than the run's own states.
_PROGRESS_SECONDS = 0.5
#: Between polls while the harness' executor signals ends (`end_signals`): the signal wakes
#: the follower when the execution ends; the poll is only a safety net.
_SIGNALLED_POLL_SECONDS = 0.5

# The end of each execution moto's executor runs, signalled by `end_signals()` (installed by
# OfflineAws): a follower waits for it instead of sleeping between polls, so a short
# execution (a decision) is seen ended when it ends, not at the next poll, and a long one
# (training) is not described twenty times a second. What is read and returned is the same
# DescribeExecution response; only the waiting between reads changed.
_ENDS: dict[str, threading.Event] = {}
_ENDS_LOCK = threading.Lock()
_signalling = 0  # how many harnesses signal ends now


def _end_event(execution_arn: str) -> threading.Event:
    with _ENDS_LOCK:
        return _ENDS.setdefault(execution_arn, threading.Event())


@contextmanager
def end_signals() -> Iterator[None]:
    """Signal the end of every execution of moto's executor to its followers, while active."""
    from unittest import mock

    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    terminated = BaseExecutionWorkerCommunication.terminated

    def signalling(comm: BaseExecutionWorkerCommunication) -> None:
        try:
            terminated(comm)  # moto records the final status first
        finally:
            _end_event(comm.execution.exec_arn).set()

    global _signalling
    with mock.patch.object(BaseExecutionWorkerCommunication, "terminated", signalling):
        with _ENDS_LOCK:
            _signalling += 1
        try:
            yield
        finally:
            with _ENDS_LOCK:
                _signalling -= 1
                if not _signalling:
                    _ENDS.clear()  # executions nobody followed


@dataclass
class StateVisit:
    """One entry into a state: when it was entered and how long it ran (seconds)."""

    name: str
    entered_at: float
    duration: float | None = None
    state_type: str = ""


@dataclass
class RunResult:
    """How an execution ended, as a test or the CLI needs it."""

    execution_arn: str
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    states: list[StateVisit] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    #: The final DescribeExecution response (a StartSyncExecution answer is made from it).
    description: dict | None = field(default=None, repr=False)

    @property
    def succeeded(self) -> bool:
        """True when the execution ended with SUCCEEDED."""
        return self.status == "SUCCEEDED"

    @property
    def state_names(self) -> list[str]:
        """Names of the entered states, in order (a state entered twice appears twice)."""
        return [visit.name for visit in self.states]


ProgressCallback = Callable[[StateVisit], None]


class _VisitTracker:
    """Turns history events into StateVisits and reports each one as it happens."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.visits: list[StateVisit] = []
        self._open: dict[str, StateVisit] = {}
        self._seen = 0
        self._start: datetime | None = None
        self._progress = progress

    def feed(self, events: list[dict]) -> None:
        """Consume history events not seen yet."""
        for event in events[self._seen :]:
            self._consume(event)
        self._seen = len(events)

    def _consume(self, event: dict) -> None:
        stamp: datetime = event["timestamp"]
        if self._start is None:
            self._start = stamp
        offset = (stamp - self._start).total_seconds()
        kind: str = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            visit = StateVisit(name=name, entered_at=offset, state_type=kind[: -len("StateEntered")])
            self.visits.append(visit)
            self._open[name] = visit
            self._notify(visit)
        elif kind.endswith("StateExited"):
            visit = self._open.pop(event["stateExitedEventDetails"]["name"], None)
            if visit is not None:
                visit.duration = offset - visit.entered_at
                self._notify(visit)

    def _notify(self, visit: StateVisit) -> None:
        if self._progress is not None:
            self._progress(replace(visit))  # a snapshot: the visit is updated on exit


def _history(sfn: Any, execution_arn: str) -> list[dict]:
    events: list[dict] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _parse(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def follow_execution(
    sfn: Any,
    execution_arn: str,
    *,
    timeout: float,
    progress: ProgressCallback | None = None,
    history: bool = True,
) -> RunResult:
    """Poll an execution until it ends (or `timeout` seconds pass) and describe it.

    `progress` is called with a StateVisit when a state is entered (duration None)
    and again when it exits (duration set). With `history=False` (and no `progress`) the
    history is not read: the result has no history and no states.
    """
    tracker = _VisitTracker(progress)
    ended = _end_event(execution_arn)
    try:
        description = _wait_for_end(sfn, execution_arn, tracker, progress, timeout, ended)
    finally:
        with _ENDS_LOCK:
            _ENDS.pop(execution_arn, None)
    events = _history(sfn, execution_arn) if history or progress is not None else []
    tracker.feed(events)
    return RunResult(
        execution_arn=execution_arn,
        status=description["status"],
        output=_parse(description.get("output")),
        error=description.get("error"),
        cause=description.get("cause"),
        states=tracker.visits,
        history=events,
        description=description,
    )


def _wait_for_end(sfn: Any, execution_arn: str, tracker: _VisitTracker, progress: ProgressCallback | None,
                  timeout: float, ended: threading.Event) -> dict:
    """DescribeExecution until the execution ends (its final description), or TimeoutError."""
    deadline = time.monotonic() + timeout
    pause = _FIRST_POLL_SECONDS
    next_report = time.monotonic()
    if _signalling and progress is None:  # no state to report: the first read can wait for the end
        ended.wait(min(_SIGNALLED_POLL_SECONDS, timeout))
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        # The history is read while running only to report states as they go (their times
        # come from the events, so reading it less often delays a report but does not skew it).
        if progress is not None and time.monotonic() >= next_report and description["status"] not in _TERMINAL:
            tracker.feed(_history(sfn, execution_arn))
            next_report = time.monotonic() + _PROGRESS_SECONDS
        if description["status"] in _TERMINAL:
            return description
        now = time.monotonic()
        if now > deadline:
            tracker.feed(_history(sfn, execution_arn))
            raise TimeoutError(
                f"execution {execution_arn} still {description['status']} after {timeout} s; "
                f"states so far: {[visit.name for visit in tracker.visits]}"
            )
        if _signalling and not ended.is_set():
            wait = min(_SIGNALLED_POLL_SECONDS, deadline - now + 0.001)
            ended.wait(min(wait, max(next_report - now, 0.001)) if progress is not None else wait)
            continue
        time.sleep(pause)
        pause = min(pause * 2, _POLL_SECONDS)  # short executions (a decision) end between early polls


def sync_response(sfn: Any, result: RunResult, state_machine_arn: str, name: str) -> dict:
    """Shape a finished execution like a StartSyncExecution response."""
    description = result.description or sfn.describe_execution(executionArn=result.execution_arn)
    response: dict[str, Any] = {
        "executionArn": result.execution_arn,
        "stateMachineArn": state_machine_arn,
        "name": name,
        "startDate": description["startDate"],
        "stopDate": description.get("stopDate"),
        "status": result.status,
        "input": description.get("input"),
        "inputDetails": {"included": True},
    }
    if result.status == "SUCCEEDED":
        response["output"] = description.get("output")
        response["outputDetails"] = {"included": True}
    else:
        response["error"] = result.error
        response["cause"] = result.cause
    return response
