"""Backfill and reconciliation of the online feature table from a raw partition.

The plan step splits the partition's records into shards of online items: a record goes to
the shard of each item it feeds (its entity, and its card, device, … for aggregates keyed by
them), so every item's records all land in one shard, named ``shard-<i>-of-<n>``; each
shard recomputes the items it owns with ``mdlc.features`` and compares them with the online
table, item by item: missing entities (and states of older feature
definitions) are written, mismatches are counted and, with ``repair``, overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from typing import Any

from lambdas.shared import s3uri
from lambdas.shared.aws import client
from lambdas.shared.entity_store import EntityStore, RevisionConflict
from mdlc import features as F

SAMPLE = 5  # mismatched entities named in a shard's result


class NoPartition(Exception):
    """No raw partition to backfill from."""


def signature_parameter(team: str) -> str:
    """SSM parameter naming the feature definitions the online table holds: written by the
    backfill, read by the deployment gate (``stacks/common/feature_names.py`` has the same)."""
    return f"/mdlc/{team}/features/state-signature"


def latest_partition(bucket: str, prefix: str) -> str:
    """The newest ``dt=YYYY-MM-DD/`` prefix under the team's raw prefix."""
    newest = s3uri.newest_partition(bucket, prefix)
    if newest is None:
        raise NoPartition(f"no dt=YYYY-MM-DD/ partition under s3://{bucket}/{prefix}")
    return newest


def read_rows(data_uri: str) -> list[dict[str, str]]:
    """Every row of every CSV object under a prefix, as text."""
    bucket, prefix = s3uri.split(data_uri)
    rows: list[dict[str, str]] = []
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".csv"):
                body = client("s3").get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode("utf-8")
                rows.extend(csv.DictReader(io.StringIO(body)))
    return rows


def shard_of(entity: str, shards: int) -> int:
    """Stable shard of an entity (the same in every run)."""
    return int(hashlib.sha1(entity.encode()).hexdigest()[:8], 16) % shards


def plan(data_uri: str, out_prefix: str, spec: dict[str, Any], shard_rows: int) -> dict[str, Any]:
    """Split the partition into entity shards of about ``shard_rows`` records under
    ``out_prefix``; returns the shard count, row count and the snapshot end time."""
    keys = F.key_columns(spec)
    rows = read_rows(data_uri)
    if not rows:
        raise NoPartition(f"no CSV rows under {data_uri}")
    n = max(1, min(500, -(-len(rows) // shard_rows)))
    parts: list[list[str]] = [[] for _ in range(n)]
    newest = None
    for row in rows:
        if F.is_missing(row.get(keys["entity"])):
            continue
        line = json.dumps(row, separators=(",", ":"))
        for shard in sorted({shard_of(item, n) for item in F.request_item_keys(row, spec).values()}):
            parts[shard].append(line)
        t = F.normalise("time", row.get(keys["timestamp"]))
        newest = t if newest is None or (t is not None and t > newest) else newest
    bucket, prefix = s3uri.split(out_prefix)
    for i, lines in enumerate(parts):
        client("s3").put_object(Bucket=bucket, Key=f"{prefix}{shard_name(i, n)}",
                                Body=("\n".join(lines) + "\n").encode())
    return {"shards": n, "rows": len(rows), "snapshot_end": F.iso_from_us((newest or 0) + 1)}


def shard_name(index: int, shards: int) -> str:
    """``shard-00003-of-00008.jsonl``: the reconciling step reads which items it owns from it."""
    return f"shard-{index:05d}-of-{shards:05d}.jsonl"


def shard_from_name(uri: str) -> tuple[int, int] | None:
    """(index, count) from a shard's name; None for a name without them (owns every item)."""
    match = re.search(r"shard-(\d+)-of-(\d+)\.jsonl$", uri)
    return (int(match.group(1)), int(match.group(2))) if match else None


def reconcile_records(rows: list[dict[str, Any]], store: EntityStore, snapshot_end: str, *,
                      repair: bool, shard: tuple[int, int] | None = None) -> dict[str, Any]:
    """Recompute each item a shard owns (``shard`` = (index, count); every item when None) and
    compare it with (or write it to) the table."""
    end = F.time_us(snapshot_end)
    result = {"entities": 0, "compared": 0, "missing": 0, "stale": 0, "mismatched": 0, "written": 0,
              "mismatched_entities": []}
    for entity, recomputed in sorted(F.states_from_records(rows, store.spec).items()):
        if shard is not None and shard_of(entity, shard[1]) != shard[0]:
            continue  # a record of this shard also feeds an item another shard owns
        result["entities"] += 1
        for _ in range(3):
            try:
                _reconcile_entity(entity, recomputed, store, end, repair, result)
                break
            except RevisionConflict:
                continue  # the stream wrote meanwhile: compare again
    return result


def _reconcile_entity(entity: str, recomputed: F.EntityState, store: EntityStore, end: int,
                      repair: bool, result: dict[str, Any]) -> None:
    try:
        online, revision = store.load(entity)
    except F.StaleState:
        _, revision = store.load_revision(entity)
        store.save(entity, recomputed, revision, writer="backfill")
        result["stale"] += 1
        result["written"] += 1
        return
    if online is None:
        store.save(entity, recomputed, 0, writer="backfill")
        result["missing"] += 1
        result["written"] += 1
        return
    result["compared"] += 1
    equal, merged = F.reconcile_state(online, recomputed, end)
    if equal:
        return
    if repair:
        store.save(entity, merged, revision, writer="reconciliation")
        result["written"] += 1
    result["mismatched"] += 1
    if len(result["mismatched_entities"]) < SAMPLE:
        result["mismatched_entities"].append(entity)
