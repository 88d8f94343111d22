"""The streaming feature pipeline's costs, in-process, one core.

* consumer throughput: Kinesis batches of 100 events through the consumer's logic
  (``lambdas/features/consume_events``: decode, per-entity read-modify-write of the state)
  against an in-memory table (stubbed DynamoDB), events/s;
* DynamoDB write units per event: one PutItem per entity per batch, 1 WCU per started KB
  of the item (the state of the entity's events in the longest window + lateness);
* serving: the state item → features as of the request (the part of the feature merge
  that depends on the entity's history), p50/p99 for 10, 90 and 900 events in the item;
* backfill: recompute and reconcile 10k and 100k entities (``states_from_records`` +
  comparison with an in-memory table holding the same states), seconds.
Run: ``python bench/bench_features.py`` (~1-2 min).
"""

from __future__ import annotations

import base64
import json
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lambdas.features.consume_events import handler as consumer  # noqa: E402
from lambdas.shared import backfill  # noqa: E402
from mdlc import features as F  # noqa: E402
from mdlc.contract import MODELS_DIR, load_team, runtime_spec  # noqa: E402

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
DAY = 86_400


class MemoryStore:
    """The EntityStore interface over a dict, counting write units like DynamoDB."""

    def __init__(self) -> None:
        self.spec, self.lateness_us = SPEC, F.lateness_us(SPEC)
        self.items: dict[str, tuple[str, int]] = {}
        self.writes = self.write_units = 0

    def load(self, entity):
        if entity not in self.items:
            return None, 0
        text, rev = self.items[entity]
        return F.EntityState.from_json(text, SPEC, self.lateness_us), rev

    def load_revision(self, entity):
        return entity in self.items, self.items.get(entity, ("", 0))[1]

    def save(self, entity, state, revision, *, writer):
        text = state.to_json()
        self.items[entity] = (text, revision + 1)
        self.writes += 1
        self.write_units += math.ceil((len(text) + 200) / 1024)  # + key and bookkeeping attributes
        return revision + 1


def event(i: int, entity: int, t: int) -> dict:
    return {"transaction_id": f"T-{i}", "customer_id": f"C-{entity:06d}", "amount": 10.0 + i % 97,
            "merchant_category": "grocery", "channel": "online", "country": "GB" if i % 4 else "FR",
            "event_time": F.iso_from_us(t * 10**6)}


def kinesis_batch(events: list[dict], first_seq: int) -> list[dict]:
    return [{"kinesis": {"data": base64.b64encode(json.dumps(e).encode()).decode(),
                         "sequenceNumber": str(first_seq + k), "approximateArrivalTimestamp": time.time()}}
            for k, e in enumerate(events)]


def consumer_throughput(entities: int, days: int, per_day: float) -> dict:
    """Events of ``entities`` cards over ``days`` days, in time order, in batches of 100."""
    start = int(F.time_us("2026-01-01T00:00:00Z") / 10**6)
    n = int(entities * days * per_day)
    events = [event(i, i % entities, start + i * (days * DAY) // n) for i in range(n)]
    store = MemoryStore()
    began = time.perf_counter()
    for b in range(0, n, 100):
        consumer.consume(kinesis_batch(events[b:b + 100], b), SPEC, store)
    elapsed = time.perf_counter() - began
    sizes = [len(text) for text, _ in store.items.values()]
    return {"events": n, "entities": entities, "events_per_s": n / elapsed,
            "wcu_per_event": store.write_units / n, "writes_per_event": store.writes / n,
            "item_kb_median": statistics.median(sizes) / 1024, "item_kb_max": max(sizes) / 1024}


def serving(events_in_item: int, n: int = 2000) -> dict:
    start = F.time_us("2026-03-01T00:00:00Z") - 90 * F.US_PER_DAY
    state = F.EntityState(SPEC, F.lateness_us(SPEC))
    for i in range(events_in_item):
        t = start + (i + 1) * (90 * F.US_PER_DAY // (events_in_item + 1))
        state.add(*state.event_from_record(event(i, 1, t // 10**6)))
    item = {"customer_id": "C-000001", "state": state.to_json()}
    record = {"amount": 42.5, "merchant_category": "grocery", "channel": "online", "country": "GB",
              "event_time": "2026-03-01T00:00:00Z"}
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        F.derive_record(record, item, SPEC)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"events": events_in_item, "p50": times[n // 2], "p99": times[int(n * 0.99)],
            "item_kb": len(item["state"]) / 1024}


def backfill_time(entities: int, per_entity: int = 10) -> dict:
    start = int(F.time_us("2026-01-01T00:00:00Z") / 10**6)
    rows = [event(i, i % entities, start + (i // entities) * DAY * 3 + i % entities)
            for i in range(entities * per_entity)]
    store = MemoryStore()
    began = time.perf_counter()
    first = backfill.reconcile_records(rows, store, F.iso_from_us((start + 40 * DAY) * 10**6), repair=False)
    bootstrap = time.perf_counter() - began
    began = time.perf_counter()
    second = backfill.reconcile_records(rows, store, F.iso_from_us((start + 40 * DAY) * 10**6), repair=False)
    compare = time.perf_counter() - began
    assert first["written"] == entities and second["mismatched"] == 0, (first, second)
    return {"entities": entities, "rows": len(rows), "bootstrap_s": bootstrap, "reconcile_s": compare}


def main() -> int:
    print("| consumer (batches of 100, in-memory table) | events | events/s | PutItem per event | "
          "WCU per event | item KB median / max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, entities, days, per_day in (("1,000 cards × 30 days × 1/day", 1000, 30, 1.0),
                                           ("100 cards × 90 days × 3/day (full windows)", 100, 90, 3.0)):
        r = consumer_throughput(entities, days, per_day)
        print(f"| {label} | {r['events']:,} | {r['events_per_s']:,.0f} | {r['writes_per_event']:.2f} | "
              f"{r['wcu_per_event']:.2f} | {r['item_kb_median']:.1f} / {r['item_kb_max']:.1f} |")
    print("\n| serving: state item → online features | events in item | item KB | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for events_in_item in (10, 90, 900):
        r = serving(events_in_item)
        print(f"| derive_record with the state item | {r['events']} | {r['item_kb']:.1f} | {r['p50']:.3f} | "
              f"{r['p99']:.3f} |")
    print("\n| backfill (one process, in-memory table) | entities | rows | bootstrap s | reconcile s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for entities in (10_000, 100_000):
        r = backfill_time(entities)
        print(f"| recompute + write / compare | {r['entities']:,} | {r['rows']:,} | {r['bootstrap_s']:.1f} | "
              f"{r['reconcile_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
