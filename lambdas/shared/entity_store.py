"""The online feature table as entity states: one item per entity, written with a revision
check so two writers (the stream consumer and the backfill) never lose each other's events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lambdas.shared.aws import client
from mdlc import features as F


class RevisionConflict(RuntimeError):
    """The item changed between read and write (another writer); read again and retry."""


class EntityStore:
    """Reads and writes ``{<entity key>, state, revision, …}`` items (an adapter tests replace)."""

    def __init__(self, table_name: str, spec: dict[str, Any]) -> None:
        self.table_name = table_name
        self.spec = spec
        self.key = spec["schema"]["entity_key"]
        self.lateness_us = F.lateness_us(spec)

    def load(self, entity: str) -> tuple[F.EntityState | None, int]:
        """The entity's state and revision (None, 0 when absent). Raises F.StaleState for
        a state of other feature definitions."""
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

    def save(self, entity: str, state: F.EntityState, revision: int, *, writer: str) -> int:
        """Write the state if the item is still at ``revision``; returns the new revision."""
        new = revision + 1
        item = {
            self.key: {"S": entity},
            F.STATE_ATTRIBUTE: {"S": state.to_json()},
            "revision": {"N": str(new)},
            "feature_signature": {"S": F.state_signature(self.spec, self.lateness_us)},
            "newest_event_time": {"S": F.iso_from_us(state.newest_us or 0)},
            "updated_at": {"S": datetime.now(UTC).isoformat()},
            "updated_by": {"S": writer},
        }
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
