"""Lambda event filtering (``FilterCriteria``) of stream event source mappings, offline.

Lambda filters stream records with EventBridge's pattern language (equality, ``prefix``,
``suffix``, ``anything-but``, ``exists``, ``numeric``, ``equals-ignore-case``, ``wildcard``,
``$or``); the patterns are parsed and matched by moto's own EventBridge implementation
(``moto.events.models.EventPattern``), not a subset of our own. What a pattern is matched
against is Lambda's (developer guide, "Control which events Lambda sends to your function"):

* a DynamoDB stream record as the function receives it (``eventName``, ``dynamodb``…);
* a Kinesis record as the function receives it, with its ``data`` base64-decoded and
  parsed as JSON at the top level (``{"data": {...}}``). A record whose data is not JSON
  matches no pattern that filters on ``data`` (Lambda drops it).

Records no pattern matches are skipped, as Lambda drops them; no patterns: every record passes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from moto.events.exceptions import InvalidEventPatternException
from moto.events.models import EventPattern


class InvalidFilterCriteria(ValueError):
    """A ``FilterCriteria`` pattern Lambda would refuse when the mapping is created."""


@dataclass(frozen=True)
class FilterCriteria:
    """The parsed patterns of one event source mapping (a record passes if any matches)."""

    patterns: tuple[EventPattern, ...] = field(default_factory=tuple)

    @classmethod
    def from_properties(cls, props: dict[str, Any]) -> FilterCriteria:
        """From ``AWS::Lambda::EventSourceMapping`` properties (``FilterCriteria.Filters[].Pattern``)."""
        filters = (props.get("FilterCriteria") or {}).get("Filters") or []
        patterns = []
        for position, entry in enumerate(filters):
            raw = entry.get("Pattern") if isinstance(entry, dict) else None
            if not isinstance(raw, str):
                raise InvalidFilterCriteria(f"FilterCriteria.Filters[{position}].Pattern must be a JSON string "
                                            f"(an EventBridge event pattern); got {raw!r}")
            try:
                patterns.append(EventPattern.load(raw))
            except InvalidEventPatternException as exc:
                raise InvalidFilterCriteria(f"FilterCriteria.Filters[{position}].Pattern {raw!r} is not a valid "
                                            f"event pattern: {exc.message}") from None
        return cls(tuple(patterns))

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether Lambda passes a DynamoDB stream record (in the function's event shape)."""
        return not self.patterns or any(p.matches_event(record) for p in self.patterns)

    def matches_kinesis(self, record: dict[str, Any]) -> bool:
        """Whether Lambda passes a Kinesis record (in the function's event shape)."""
        if not self.patterns:
            return True
        try:
            data = json.loads(base64.b64decode(record["kinesis"]["data"]))
        except ValueError:  # not JSON (or not UTF-8): only patterns without ``data`` can match
            return any("data" not in p.get_pattern() and p.matches_event(record) for p in self.patterns)
        view = {**record, "data": data}
        return any(p.matches_event(view) for p in self.patterns)


__all__ = ["FilterCriteria", "InvalidFilterCriteria"]
