"""The stream consumer handler on its sample event (event.json), with an in-memory table."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from lambdas.shared.entity_store import RevisionConflict
from mdlc import features as F
from mdlc.contract import MODELS_DIR, load_team, runtime_spec

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
FOLDER = Path(__file__).resolve().parents[4] / "lambdas" / "features" / "consume_events"
consumer = importlib.import_module("lambdas.features.consume_events.handler")


class MemoryStore:
    """The EntityStore interface over a dict; ``fail`` names entities whose write fails."""

    def __init__(self, fail: set[str] | None = None, conflicts: int = 0) -> None:
        self.spec, self.lateness_us = SPEC, F.lateness_us(SPEC)
        self.items: dict[str, tuple[str, int]] = {}
        self.fail, self.conflicts, self.writes = fail or set(), conflicts, 0

    def load(self, entity: str):
        if entity not in self.items:
            return None, 0
        text, revision = self.items[entity]
        return F.EntityState.from_json(text, SPEC, self.lateness_us), revision

    def save(self, entity: str, state: F.EntityState, revision: int, *, writer: str) -> int:
        if entity in self.fail:
            raise RuntimeError("ProvisionedThroughputExceededException")
        if self.conflicts:
            self.conflicts -= 1
            raise RevisionConflict(entity)
        self.writes += 1
        self.items[entity] = (state.to_json(), revision + 1)
        return revision + 1

    def features(self, entity: str, at: str) -> dict[str, Any] | None:
        state, _ = self.load(entity)
        return None if state is None else state.features_at(at)


def sample() -> list[dict[str, Any]]:
    """The records of the sample event (``event.json``, also the ``event`` fixture)."""
    return json.loads((FOLDER / "event.json").read_text())["Records"]


def test_sample_batch_applies_each_event_once_and_skips_the_record_that_is_no_event():
    store = MemoryStore()
    outcome = consumer.consume(sample(), SPEC, store, now_ms=1772375410_000)
    assert (outcome.applied, outcome.duplicates, outcome.invalid, outcome.failed) == (3, 1, 1, [])
    assert store.features("C-000001", "2026-03-01T14:31:00Z")["txn_count_30d"] == 2
    assert store.features("C-000001", "2026-03-01T14:31:00Z")["amount_sum_30d"] == 55.0
    assert store.features("C-000002", "2026-03-01T14:31:00Z")["home_country"] == "FR"
    assert store.writes == 2  # one write per entity per batch
    assert outcome.response() == {"batchItemFailures": []}


def test_replaying_the_whole_batch_changes_nothing():
    store = MemoryStore()
    consumer.consume(sample(), SPEC, store)
    before = dict(store.items)
    outcome = consumer.consume(sample(), SPEC, store)
    assert outcome.applied == 0 and outcome.duplicates == 4 and store.items == before


def test_a_failing_entity_reports_only_its_own_records_in_batch_order():
    store = MemoryStore(fail={"C-000001"})
    records = sample()
    outcome = consumer.consume(records, SPEC, store)
    assert outcome.response()["batchItemFailures"] == [
        {"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in records[:3]]
    assert store.features("C-000002", "2026-03-01T14:31:00Z")["txn_count_30d"] == 1


def test_a_revision_conflict_is_read_again_and_retried():
    store = MemoryStore(conflicts=1)
    outcome = consumer.consume(sample(), SPEC, store)
    assert outcome.failed == [] and outcome.applied == 3


def test_handler_returns_the_partial_batch_response(handler, event, context, monkeypatch):
    monkeypatch.setattr(handler.metrics, "namespace", "MDLC/fraud-detection", raising=False)
    monkeypatch.setattr(handler, "_store", MemoryStore(fail={"C-000002"}))

    response = handler.handler(event, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": sample()[3]["kinesis"]["sequenceNumber"]}]}
