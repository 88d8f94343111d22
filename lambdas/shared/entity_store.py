"""The online feature table: one item per key value (an entity, a card, a device, …), each an
entity state written with a revision check so two writers (the stream consumer and the
backfill) never lose each other's events; and the serving read, every key of a request in
one batched read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lambdas.shared.aws import client
from mdlc import features as F

BATCH_GET_ATTEMPTS = 3  # DynamoDB may leave keys unprocessed under throttling: read them again


class RevisionConflict(RuntimeError):
    """The item changed between read and write (another writer); read again and retry."""


class ItemTooLarge(ValueError):
    """A state that would exceed DynamoDB's item size limit (the write would be refused)."""


class EntityStore:
    """Reads and writes ``{<entity key attribute>: <item key>, state, revision, …}`` items (an
    adapter tests replace). Item keys come from ``F.item_key``: the entity's value, or
    ``<key column>#<value>`` for another key."""

    def __init__(self, table_name: str, spec: dict[str, Any]) -> None:
        self.table_name = table_name
        self.spec = spec
        self.key = spec["schema"]["entity_key"]
        self.lateness_us = F.lateness_us(spec)
        self.largest_item = 0  # bytes of the largest item written since the last reset

    def load(self, entity: str) -> tuple[F.EntityState | None, int]:
        """The item's state and revision (None, 0 when absent). Raises F.StaleState for a state
        of other feature definitions."""
        item = client("dynamodb").get_item(TableName=self.table_name, Key={self.key: {"S": entity}},
                                           ConsistentRead=True).get("Item")
        if item is None or "state" not in item:
            return None, 0
        revision = int(item.get("revision", {}).get("N", "0"))
        return F.EntityState.from_json(item["state"]["S"], self.spec, self.lateness_us), revision

    def load_revision(self, entity: str) -> tuple[bool, int]:
        """Whether the item exists, and its revision (without reading its state)."""
        item = client("dynamodb").get_item(TableName=self.table_name, Key={self.key: {"S": entity}},
                                           ConsistentRead=True, ProjectionExpression="revision").get("Item")
        return item is not None, int((item or {}).get("revision", {}).get("N", "0"))

    def item(self, entity: str, state: F.EntityState, revision: int, writer: str) -> dict[str, Any]:
        """The DynamoDB item (low-level form) of a key value's state at ``revision``."""
        return {
            self.key: {"S": entity},
            F.STATE_ATTRIBUTE: {"S": state.to_json()},
            "revision": {"N": str(revision)},
            "feature_signature": {"S": F.state_signature(self.spec, self.lateness_us)},
            "newest_event_time": {"S": F.iso_from_us(state.newest_us or 0)},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
            "updated_by": {"S": writer},
        }

    def save(self, entity: str, state: F.EntityState, revision: int, *, writer: str) -> int:
        """Write the state if the item is still at ``revision``; returns the new revision.
        Raises ItemTooLarge (naming the key value and its event count) rather than send an item
        DynamoDB refuses."""
        new = revision + 1
        item = self.item(entity, state, new, writer)
        size = F.item_size(item)
        if size > F.MAX_ITEM_BYTES:
            raise ItemTooLarge(f"online item {entity!r} would be {size} bytes ({len(state.events)} events of "
                               f"{state.key}); DynamoDB's limit is {F.MAX_ITEM_BYTES}: shorten that key's longest "
                               "window or the allowed lateness")
        self.largest_item = max(self.largest_item, size)
        # Revision 0: a new entity, or an item without a state (a flat item of an older layout).
        condition = "attribute_not_exists(#k) OR attribute_not_exists(revision)" if revision == 0 \
            else "revision = :rev"
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": item, "ConditionExpression": condition,
                                  "ExpressionAttributeNames": {"#k": self.key}}
        if revision:
            kwargs["ExpressionAttributeValues"] = {":rev": {"N": str(revision)}}
            del kwargs["ExpressionAttributeNames"]
        ddb = client("dynamodb")
        try:
            ddb.put_item(**kwargs)
        except ddb.exceptions.ConditionalCheckFailedException:
            raise RevisionConflict(f"entity {entity!r} changed since revision {revision}") from None
        return new


def read_online(table_name: str, record: dict[str, Any], spec: dict[str, Any], *,
                ddb: Any = None) -> dict[str, dict[str, Any] | None]:
    """The online item of every key of a request (key column → item, None when absent), in ONE
    BatchGetItem (keys left unprocessed under throttling are read again). The decision path's
    feature read: hand the result to ``F.derive_record_items``. ``ddb``: the DynamoDB client to
    read with (the decision function's has a short timeout and no retry)."""
    wanted = F.request_item_keys(record, spec)
    out: dict[str, dict[str, Any] | None] = dict.fromkeys(F.aggregate_keys(spec))
    if not wanted:
        return out
    attribute = spec["schema"]["entity_key"]
    by_item = {item: key for key, item in wanted.items()}
    request = {table_name: {"Keys": [{attribute: {"S": item}} for item in by_item]}}
    ddb = ddb or client("dynamodb")
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    for _ in range(BATCH_GET_ATTEMPTS):
        answer = ddb.batch_get_item(RequestItems=request)
        for item in answer.get("Responses", {}).get(table_name, []):
            key = by_item.get(item.get(attribute, {}).get("S"))
            if key is not None:
                out[key] = {name: deserializer.deserialize(value) for name, value in item.items()}
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            return out
    raise RuntimeError(f"online feature read left {len(request[table_name]['Keys'])} key(s) unprocessed "
                       f"after {BATCH_GET_ATTEMPTS} attempts (table {table_name} throttled)")
