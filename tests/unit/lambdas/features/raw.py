"""Raw records of the team's schema for the backfill handler tests, in the standard library
only: these tests also run in the Lambda runtime's virtualenv, which has no numpy/pandas
(the handlers need neither)."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.lambdas.support import SPEC


def raw_records(n_entities: int, days: int, seed: int, spec: dict[str, Any] = SPEC) -> list[dict[str, str]]:
    """About two records per entity and day over ``days`` days from 2026-01-01, values of
    every record column within its declared range or categories, as CSV gives them (text)."""
    rng = random.Random(seed)
    sc = spec["schema"]
    record_features = [f for f in sc["features"] if f["source"] == "record"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, str]] = []
    for entity in range(1, n_entities + 1):
        for _ in range(rng.randint(days, 3 * days)):
            when = start + timedelta(seconds=rng.randrange(days * 86400))
            row = {sc["entity_key"]: f"C-{entity:06d}", sc["timestamp_column"]: when.strftime("%Y-%m-%dT%H:%M:%SZ")}
            for f in record_features:
                if f["categories"]:
                    row[f["name"]] = rng.choice(f["categories"])
                elif f["type"] in ("int", "float"):
                    low = f["min"] if f["min"] is not None else 0.0
                    high = min(f["max"] if f["max"] is not None else low + 1000.0, low + 1000.0)
                    value = rng.uniform(low, high)
                    row[f["name"]] = str(round(value, 2) if f["type"] == "float" else int(value))
                else:
                    row[f["name"]] = f"v{rng.randint(0, 5)}"
            row[sc["label"]] = str(int(rng.random() < 0.05))
            rows.append(row)
    rows.sort(key=lambda r: r[sc["timestamp_column"]])
    for i, row in enumerate(rows):
        row[sc["id_column"]] = f"T{seed}-{i:08d}"
    return rows


def to_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
