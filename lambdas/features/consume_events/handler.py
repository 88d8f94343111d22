"""Stream consumer: applies a Kinesis batch of raw events to each entity's online state.

Invoked by the event source mapping of the team's stream (batched, bisect on error,
partial batch responses, on-failure destination: the DLQ). Each event is applied to the
online item of every key its aggregates are grouped by (the entity, and e.g. its card and
device: ``aggregate.key``); events are grouped by item, each item's state is read, the
events added (a replay is counted once; an event later
than the allowed lateness is counted in ``LateEventsDropped`` and logged) and written
back with a revision check. An entity whose write fails reports its records in
``batchItemFailures``, so Lambda retries from the first of them; the records it retries
that were applied already are replays and change nothing. The largest item written is
published as ``LargestOnlineItemBytes`` (the stack alarms when it nears DynamoDB's 400 KB
item limit); an item that would exceed it is refused, logged with its key and counted in
``OversizedOnlineItems``, and its records go to the DLQ after Lambda's retries.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.shared.entity_store import EntityStore, ItemTooLarge, RevisionConflict
from lambdas.shared.spec import env, team_spec
from mdlc import features as F

logger = Logger()
tracer = Tracer()
metrics = Metrics()

WRITE_ATTEMPTS = 3  # read-modify-write retries on a revision conflict


@dataclass
class Outcome:
    """What one batch did; ``failed`` holds the sequence numbers Lambda must retry."""

    applied: int = 0
    duplicates: int = 0
    late: int = 0
    invalid: int = 0
    stale: int = 0
    oversized: int = 0
    largest_item: int = 0
    failed: list[str] = field(default_factory=list)
    stream_lag_ms: float = 0.0
    event_lag_ms: float = 0.0

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in self.failed]}


def decode(record: dict[str, Any]) -> dict[str, Any]:
    """The raw event of one Kinesis record (base64 JSON object); ValueError if it is not one."""
    try:
        event = json.loads(base64.b64decode(record["kinesis"]["data"]))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"record data is not base64 JSON ({exc})") from None
    if not isinstance(event, dict):
        raise ValueError(f"record data is a JSON {type(event).__name__}; expected an object")
    return event


def consume(records: list[dict[str, Any]], spec: dict[str, Any], store: EntityStore,
            now_ms: float | None = None) -> Outcome:
    """Apply one batch of Kinesis records to the entity states (the handler's logic)."""
    now_ms = now_ms if now_ms is not None else time.time() * 1000
    entity_col = spec["schema"]["entity_key"]
    outcome = Outcome()
    late = F.lateness_us(spec)
    probes = {key: F.EntityState(spec, late, key) for key in F.aggregate_keys(spec)}
    groups: dict[str, list[tuple[str, tuple[str, int, list[Any]]]]] = {}
    for record in records:
        seq = record["kinesis"]["sequenceNumber"]
        try:
            raw = decode(record)
            if F.is_missing(raw.get(entity_col)):
                raise ValueError(f"event without {entity_col!r}")
            items = [(item, probes[key].event_from_record(raw))
                     for key, item in F.record_item_keys(raw, spec).items() if item is not None]
        except ValueError as exc:
            outcome.invalid += 1
            logger.warning("invalid event skipped", extra={"sequence_number": seq, "error": str(exc)})
            continue
        for item, event in items:
            groups.setdefault(item, []).append((seq, event))
        arrival = float(record["kinesis"].get("approximateArrivalTimestamp", now_ms / 1000)) * 1000
        outcome.stream_lag_ms = max(outcome.stream_lag_ms, now_ms - arrival)
        if items:
            outcome.event_lag_ms = max(outcome.event_lag_ms, now_ms - items[0][1][1] / 1000)
    store.largest_item = 0
    for entity, events in groups.items():
        _apply_entity(entity, events, store, outcome)
    outcome.largest_item = store.largest_item
    failed = set(outcome.failed)
    outcome.failed = [r["kinesis"]["sequenceNumber"] for r in records if r["kinesis"]["sequenceNumber"] in failed]
    return outcome


def _apply_entity(entity: str, events: list[tuple[str, tuple[str, int, list[Any]]]], store: EntityStore,
                  outcome: Outcome) -> None:
    for attempt in range(WRITE_ATTEMPTS):
        try:
            state, revision = store.load(entity)
            state = state or F.EntityState(store.spec, store.lateness_us, F.key_of_item(store.spec, entity))
            counts = {"applied": 0, "duplicates": 0, "late": 0}
            for seq, event in events:
                try:
                    counts["applied" if state.add(*event) else "duplicates"] += 1
                except F.LateEvent as exc:
                    counts["late"] += 1
                    logger.warning("late event dropped", extra={"sequence_number": seq, "entity": entity,
                                                                "error": str(exc)})
            if counts["applied"]:
                store.save(entity, state, revision, writer="stream")
            for name, value in counts.items():
                setattr(outcome, name, getattr(outcome, name) + value)
            return
        except RevisionConflict:
            if attempt == WRITE_ATTEMPTS - 1:
                break
        except ItemTooLarge as exc:
            outcome.oversized += 1
            logger.error("online item over DynamoDB's size limit; its records go to the DLQ",
                         extra={"entity": entity, "error": str(exc)})
            break
        except F.StaleState as exc:
            outcome.stale += 1
            logger.error("entity state of other feature definitions; run the backfill",
                         extra={"entity": entity, "error": str(exc)})
            break
        except Exception:  # noqa: BLE001 - any store error: Lambda retries these records
            logger.exception("entity update failed; its records are retried", extra={"entity": entity})
            break
    outcome.failed += [seq for seq, _ in events]


_store: EntityStore | None = None


def _entity_store(spec: dict[str, Any]) -> EntityStore:
    global _store
    if _store is None:
        _store = EntityStore(env("FEATURE_TABLE"), spec)
    return _store


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Kinesis event source mapping → ``{"batchItemFailures": [...]}``."""
    spec = team_spec()
    records = event.get("Records") or []
    outcome = consume(records, spec, _entity_store(spec))
    for name, value in (("EventsApplied", outcome.applied), ("DuplicateEvents", outcome.duplicates),
                        ("LateEventsDropped", outcome.late), ("InvalidEvents", outcome.invalid),
                        ("StaleEntityStates", outcome.stale), ("OversizedOnlineItems", outcome.oversized),
                        ("FailedEvents", len(outcome.failed))):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if records:
        metrics.add_metric(name="StreamToFeatureLag", unit=MetricUnit.Milliseconds, value=outcome.stream_lag_ms)
        metrics.add_metric(name="EventToFeatureLag", unit=MetricUnit.Milliseconds, value=outcome.event_lag_ms)
        metrics.add_metric(name="LargestOnlineItemBytes", unit=MetricUnit.Bytes, value=outcome.largest_item)
    logger.info("batch applied", extra={"records": len(records), "applied": outcome.applied,
                                        "duplicates": outcome.duplicates, "late": outcome.late,
                                        "invalid": outcome.invalid, "failed": len(outcome.failed)})
    return outcome.response()
