"""The streaming feature pipeline's costs, in-process, one core.

* consumer throughput: Kinesis batches of 100 events of the example generator (customers,
  their cards and devices, card-testing bursts) through the consumer's logic
  (``lambdas/features/consume_events``: decode, read-modify-write of the state of every key
  an event feeds: customer, card, device) against an in-memory table (stubbed DynamoDB),
  events/s (goal: >= 1,000 on one core);
* DynamoDB write units per event: one PutItem per item per batch, 1 WCU per started KB of
  the item (the key value's events in its longest window + lateness);
* serving: every key's state item → features as of the request (``derive_record_items``:
  the feature merge of the decision path), p50/p99 for 10, 90 and 900 events of the customer;
* backfill: 90 days of the example generator recomputed and written, then reconciled
  (``lambdas/shared/backfill.reconcile_records`` against an in-memory table), seconds.
Run: ``python bench/bench_features.py`` (~2-3 min).
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
from mdlc import synthetic  # noqa: E402
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
            "card_id": f"K-{entity:06d}-{i % 2}", "device_id": f"D-{entity:06d}-0", "merchant_id": f"M-{i % 40}",
            "event_time": F.iso_from_us(t * 10**6)}


def generated(customers: int, days: int, per_day: float = 1.0) -> list[dict]:
    """The example generator's records (card-testing bursts included), oldest first."""
    frame = synthetic.generate(n_customers=customers, days=days, seed=5, txns_per_day=per_day)
    return json.loads(frame.drop(columns=["is_fraud"]).to_json(orient="records"))


def kinesis_batch(events: list[dict], first_seq: int) -> list[dict]:
    return [{"kinesis": {"data": base64.b64encode(json.dumps(e).encode()).decode(),
                         "sequenceNumber": str(first_seq + k), "approximateArrivalTimestamp": time.time()}}
            for k, e in enumerate(events)]


def consumer_throughput(customers: int, days: int, per_day: float) -> dict:
    """The example generator's events of ``customers`` over ``days`` days, in time order, in
    batches of 100."""
    events = generated(customers, days, per_day)
    n = len(events)
    store = MemoryStore()
    batches = [kinesis_batch(events[b:b + 100], b) for b in range(0, n, 100)]
    began, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        consumer.consume(batch, SPEC, store)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    sizes = [len(text) for text, _ in store.items.values()]
    return {"events": n, "items": len(store.items), "events_per_s": n / cpu, "wall_events_per_s": n / elapsed,
            "wcu_per_event": store.write_units / n, "writes_per_event": store.writes / n,
            "item_kb_median": statistics.median(sizes) / 1024, "item_kb_max": max(sizes) / 1024}


def serving(events_in_item: int, n: int = 2000) -> dict:
    """The customer's item with ``events_in_item`` events over 90 days, its card's item with a
    burst of 8 payments in the last 10 minutes and its device's item with 5 cards today."""
    now = F.time_us("2026-03-01T00:00:00Z")
    start = now - 90 * F.US_PER_DAY
    states = {key: F.EntityState(SPEC, F.lateness_us(SPEC), key) for key in F.aggregate_keys(SPEC)}
    for i in range(events_in_item):
        t = start + (i + 1) * (90 * F.US_PER_DAY // (events_in_item + 1))
        states["customer_id"].add(*states["customer_id"].event_from_record(event(i, 1, t // 10**6)))
    for i in range(8):
        record = event(10_000 + i, 1, (now - (8 - i) * 60 * 10**6) // 10**6)
        states["card_id"].add(*states["card_id"].event_from_record(record))
    for i in range(5):
        record = {**event(20_000 + i, 1, (now - (5 - i) * 3600 * 10**6) // 10**6), "card_id": f"K-{i}"}
        states["device_id"].add(*states["device_id"].event_from_record(record))
    items = {key: {"customer_id": "x", "state": state.to_json()} for key, state in states.items()}
    record = {"amount": 42.5, "merchant_category": "grocery", "channel": "online", "country": "GB",
              "card_id": "K-000001-0", "device_id": "D-000001-0", "merchant_id": "M-1",
              "event_time": "2026-03-01T00:00:00Z"}
    times = []
    for _ in range(n):
        t0 = time.process_time()
        F.derive_record_items(record, items, SPEC)
        times.append((time.process_time() - t0) * 1000)
    times.sort()
    return {"events": events_in_item, "p50": times[n // 2], "p99": times[int(n * 0.99)],
            "item_kb": sum(len(i["state"]) for i in items.values()) / 1024}


def backfill_time(customers: int, days: int = 90) -> dict:
    """90 days of the example generator: every item recomputed and written to an empty table
    (bootstrap), then recomputed and compared with it (the daily reconciliation)."""
    rows = generated(customers, days)
    end = F.iso_from_us(max(F.time_us(r["event_time"]) for r in rows) + 1)
    store = MemoryStore()
    began = time.process_time()
    first = backfill.reconcile_records(rows, store, end, repair=False)
    bootstrap = time.process_time() - began
    began = time.process_time()
    second = backfill.reconcile_records(rows, store, end, repair=False)
    compare = time.process_time() - began
    assert first["written"] == first["entities"] and second["mismatched"] == 0, (first, second)
    return {"customers": customers, "items": first["entities"], "rows": len(rows), "bootstrap_s": bootstrap,
            "reconcile_s": compare}


def main() -> int:
    # CPU time of this process: what one core does, whatever else the machine runs meanwhile
    # (the wall-clock rate is printed beside it).
    print("| consumer (batches of 100, in-memory table, one core) | events | items | events/s (CPU) | "
          "events/s (wall) | PutItem per event | WCU per event | item KB median / max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    worst = math.inf
    for label, customers, days, per_day in (("example generator: 2,000 customers × 30 days", 2000, 30, 1.0),
                                            ("example generator: 200 customers × 90 days × 3/day", 200, 90, 3.0)):
        r = consumer_throughput(customers, days, per_day)
        worst = min(worst, r["events_per_s"])
        print(f"| {label} | {r['events']:,} | {r['items']:,} | {r['events_per_s']:,.0f} | "
              f"{r['wall_events_per_s']:,.0f} | "
              f"{r['writes_per_event']:.2f} | {r['wcu_per_event']:.2f} | "
              f"{r['item_kb_median']:.1f} / {r['item_kb_max']:.1f} |")
    print(f"\nconsumer: {worst:,.0f} events/s at worst ({'meets' if worst >= 1000 else 'misses'} the 1,000/s goal)")
    print("\n| serving: customer, card and device items → online features (CPU time per call) | customer events | "
          "items KB | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for events_in_item in (10, 90, 900):
        r = serving(events_in_item)
        print(f"| derive_record_items with three state items | {r['events']} | {r['item_kb']:.1f} | "
              f"{r['p50']:.3f} | {r['p99']:.3f} |")
    print("\n| backfill of 90 days of the example data (one process, in-memory table) | customers | items | "
          "rows | bootstrap s (CPU) | reconcile s (CPU) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for customers in (1000, 5000):
        r = backfill_time(customers)
        print(f"| recompute + write / compare | {r['customers']:,} | {r['items']:,} | {r['rows']:,} | "
              f"{r['bootstrap_s']:.1f} | {r['reconcile_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
