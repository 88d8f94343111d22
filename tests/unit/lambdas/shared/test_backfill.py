"""Backfill and reconciliation logic (lambdas/shared/backfill.py) and the publish handler on
their sample events: entity shards, missing/stale/mismatched entities, the mismatch rate."""

from __future__ import annotations

import json

import pytest

from lambdas.shared import backfill
from mdlc import features as F
from mdlc.contract import MODELS_DIR, load_team, runtime_spec
from tests.unit.lambdas.features.raw import raw_records
from tests.unit.lambdas.features.test_consume_events import MemoryStore

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    # the standard library's records: these tests also run in the Lambda runtime (no pandas)
    return raw_records(n_entities=30, days=40, seed=2)


def test_a_fresh_table_is_bootstrapped_and_then_matches(rows):
    store = MemoryStore()
    first = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    items = len(F.states_from_records(rows, SPEC))  # 30 customers, their cards and devices
    assert items > 30 and first["missing"] == first["written"] == first["entities"] == items
    again = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    assert (again["compared"], again["mismatched"], again["written"]) == (items, 0, 0)


def test_a_tampered_entity_is_found_and_repaired_only_when_asked(rows):
    store = MemoryStore()
    backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    victim = sorted(store.items)[3]
    text, revision = store.items[victim]
    state = json.loads(text)
    state["events"] = state["events"][:-1]  # the stream lost an event
    store.items[victim] = (json.dumps(state), revision)
    found = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    assert found["mismatched_entities"] == [victim] and found["written"] == 0
    fixed = backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=True)
    assert fixed["written"] == 1
    assert backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)["mismatched"] == 0


def test_events_newer_than_the_snapshot_are_not_mismatches(rows):
    store = MemoryStore()
    backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)
    entity = sorted(store.items)[0]
    state, revision = store.load(entity)
    state.add(*state.event_from_record({**rows[0], "customer_id": entity, "transaction_id": "NEW-1",
                                        "event_time": "2026-03-01T10:00:00Z"}))
    store.save(entity, state, revision, writer="stream")
    assert backfill.reconcile_records(rows, store, "2026-03-01T00:00:00Z", repair=False)["mismatched"] == 0
