"""Server-side request validation: what AWS checks on every request and moto does not.

botocore validates a request client-side only partly (required members, types and
minimum lengths and values), and not at all for moto's Step Functions executor, whose
clients turn `parameter_validation` off. An AWS service then checks the request against
its model (AWS's request framework, "Coral") and refuses what the model does not allow:
a value that does not match the member's `pattern`, is not one of its `enum` values, or
is out of its `min`/`max` length or value, in any structure, list or map of the request;
a required member that is missing. moto checks almost none of it, so a handler that
sends SageMaker a metadata value with a comma passes every offline test and fails on
its first real call.

`install()` registers two botocore event handlers on every botocore session created
afterwards (`BUILTIN_HANDLERS`, as moto registers its own interception): the first
notes the parameters as they will be sent (after botocore's own parameter handlers, e.g.
idempotency tokens), the second checks them against the operation's input shape in
botocore's service model and, on a violation, answers the call itself with AWS's 400
error, so botocore raises its real `ClientError` (the modelled exception class where
the service has one) and the request never reaches moto. It checks only while moto's
mock is active: every call made offline (tests, the harness, Lambda handlers, the Step
Functions executor's `aws-sdk:` and optimised integrations) goes through it.

The messages are AWS's: ``1 validation error detected: Value '{importance=a,b}' at
'customerMetadataProperties' failed to satisfy constraint: Map value must satisfy
constraint: [Member must have length less than or equal to 256, ...]``. Paths name
members in lowerCamel case, list items as ``.<n>.member`` (from 1); a list of scalars or
a map is reported once for all its items ("Member must satisfy constraint: [...]",
"Map keys/value must satisfy constraint: [...]", listing every constraint of the item
shape); a sensitive member's value is not shown.

Patterns are the models' Java regular expressions, compiled with the `regex` package
(`\\p{L}`-style classes) after translating what differs from Java (`\\w`, `\\d`, `\\s`,
POSIX `\\p{Alnum}`-style classes and `.` are ASCII/line-terminator aware in Java;
UTF-16 surrogate-pair ranges) and matched against the whole value, as Java's
`Pattern.matches` does.

Not checked: S3 (its REST errors are its own, e.g. `InvalidArgument`, not this
framework's) and other `rest-xml`/`ec2` protocol services; cross-field rules and
service-specific semantic checks (e.g. that an ARN names an existing resource);
documents and streaming bodies.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore.handlers
import regex
from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel, Shape
from moto.core.models import botocore_stubber

#: The error code a service answers a validation failure with, where it is not the
#: protocol's default (`ValidationException`; `ValidationError` for query services).
ERROR_CODES = {
    "logs": "InvalidParameterException",
    "sagemaker-runtime": "ValidationError",
    "cloudwatch": "ValidationError",  # query-compatible: keeps its query error codes
}
QUERY_PROTOCOLS = {"query"}
#: Protocols whose services do not answer with this framework's validation errors.
UNCHECKED_PROTOCOLS = {"rest-xml", "ec2"}

_PARAMS_KEY = "mdlc_validation_params"
_installed = False
_install_lock = threading.Lock()


# -- Java regular expressions -------------------------------------------------------------
#: Java's predefined and POSIX classes are ASCII-only; the `regex` package's are Unicode.
_JAVA_CLASSES = {
    r"\w": "a-zA-Z_0-9", r"\d": "0-9", r"\s": " \\t\\n\\x0B\\f\\r",
    r"\p{Alnum}": "a-zA-Z0-9", r"\p{Alpha}": "a-zA-Z", r"\p{Digit}": "0-9",
    r"\p{Upper}": "A-Z", r"\p{Lower}": "a-z", r"\p{ASCII}": "\\x00-\\x7F",
    r"\p{Print}": "\\x20-\\x7E", r"\p{Graph}": "\\x21-\\x7E",
    r"\p{Punct}": "!-/:-@\\[-`{-~", r"\p{Space}": " \\t\\n\\x0B\\f\\r", r"\p{XDigit}": "0-9a-fA-F",
}
_JAVA_NEGATED = {r"\W": r"\w", r"\D": r"\d", r"\S": r"\s"}
_JAVA_DOT = "[^\\n\\r\\u0085\\u2028\\u2029]"  # Java's `.` stops at every line terminator
_SURROGATE_PAIR = regex.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", regex.IGNORECASE)


def _code_point(match: regex.Match) -> str:
    high, low = int(match.group(1), 16), int(match.group(2), 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"


def translate_java_pattern(pattern: str) -> str:
    """`pattern` (Java syntax, as in the service models) for the `regex` package."""
    pattern = _SURROGATE_PAIR.sub(_code_point, pattern)  # Java strings are UTF-16
    out: list[str] = []
    depth = 0  # inside a character class (Java classes nest)
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            token = pattern[i:i + 2]
            if token == r"\p" and pattern.startswith("{", i + 2) and "}" in pattern[i:]:
                token = pattern[i:pattern.index("}", i) + 1]
            if token in _JAVA_CLASSES:
                out.append(_JAVA_CLASSES[token] if depth else f"[{_JAVA_CLASSES[token]}]")
            elif token in _JAVA_NEGATED and not depth:
                out.append(f"[^{_JAVA_CLASSES[_JAVA_NEGATED[token]]}]")
            else:  # incl. \W \D \S inside a class: no set difference to spell them with
                out.append(token)
            i += len(token)
            continue
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif char == "." and not depth:
            char = _JAVA_DOT
        out.append(char)
        i += 1
    return "".join(out)


@cache
def compiled_pattern(pattern: str) -> regex.Pattern | None:
    """The model's `pattern` compiled once; None if it cannot be (reported by the tests)."""
    try:
        return regex.compile(translate_java_pattern(pattern))
    except regex.error:
        return None


# -- what one shape allows ------------------------------------------------------------------
@dataclass(frozen=True)
class Constraint:
    """One constraint of a shape: `text` is AWS's wording, `ok(value)` whether it holds."""

    text: str
    ok: Callable[[Any], bool]


def _number(shape: Shape, bound: Any) -> str:
    return str(float(bound)) if shape.type_name in ("float", "double") else str(int(bound))


def _length(value: Any) -> int | None:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    return None  # a stream or another type botocore serialises itself


def _constraints(shape: Shape) -> list[Constraint]:
    """Every constraint the model declares on `shape`, in AWS's order (max, min, pattern, enum)."""
    meta = shape.metadata
    found: list[Constraint] = []
    if shape.type_name in ("string", "blob", "list", "map"):
        if "max" in meta:
            found.append(Constraint(f"Member must have length less than or equal to {meta['max']}",
                                    lambda v, m=meta["max"]: (n := _length(v)) is None or n <= m))
        if "min" in meta:
            found.append(Constraint(f"Member must have length greater than or equal to {meta['min']}",
                                    lambda v, m=meta["min"]: (n := _length(v)) is None or n >= m))
    elif shape.type_name in ("integer", "long", "float", "double"):
        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        if "max" in meta:
            found.append(Constraint(f"Member must have value less than or equal to {_number(shape, meta['max'])}",
                                    lambda v, m=meta["max"]: not number(v) or v <= m))
        if "min" in meta:
            found.append(Constraint(f"Member must have value greater than or equal to {_number(shape, meta['min'])}",
                                    lambda v, m=meta["min"]: not number(v) or v >= m))
    if shape.type_name == "string":
        pattern = meta.get("pattern")
        if pattern is not None and (compiled := compiled_pattern(pattern)) is not None:
            found.append(Constraint(f"Member must satisfy regular expression pattern: {pattern}",
                                    lambda v, p=compiled: not isinstance(v, str) or p.fullmatch(v) is not None))
        enum = getattr(shape, "enum", None)
        if enum:
            allowed = frozenset(enum)
            found.append(Constraint(f"Member must satisfy enum value set: [{', '.join(enum)}]",
                                    lambda v, a=allowed: not isinstance(v, str) or v in a))
    return found


def _holds(shape: Shape) -> Callable[[Any], bool]:
    """One function telling whether a value meets every constraint of `shape` (the fast path
    of every request; `_constraints` says which one failed, for the message)."""
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    if shape.type_name == "string":
        pattern = compiled_pattern(meta["pattern"]) if "pattern" in meta else None
        allowed = frozenset(getattr(shape, "enum", None) or ()) or None

        def string_holds(v: Any) -> bool:
            if not isinstance(v, str):
                return True
            n = len(v)
            return ((low is None or n >= low) and (high is None or n <= high)
                    and (allowed is None or v in allowed)
                    and (pattern is None or pattern.fullmatch(v) is not None))
        return string_holds
    checks = tuple(constraint.ok for constraint in _constraints(shape))
    return lambda v: all(ok(v) for ok in checks)


@dataclass(eq=False)
class Node:
    """What a shape and everything below it allow, compiled once per service model shape."""

    kind: str  # "scalar", "structure", "list", "map"
    constraints: list[Constraint] = field(default_factory=list)
    sensitive: bool = False
    members: list[tuple[str, str, Node]] = field(default_factory=list)  # (param, path name, node)
    required: frozenset[str] = frozenset()
    item: Node | None = None  # list member / map value
    key: Node | None = None  # map key
    active: bool = False  # anything to check here or below
    holds: Callable[[Any], bool] = lambda _: True  # every constraint of the shape itself

    @property
    def description(self) -> str:
        return ", ".join(constraint.text for constraint in self.constraints)


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _compile(shape: Shape, seen: dict[str, Node]) -> Node:
    if shape.name in seen:  # recursive shapes (e.g. DynamoDB's AttributeValue)
        return seen[shape.name]
    kind = {"structure": "structure", "list": "list", "map": "map"}.get(shape.type_name, "scalar")
    node = Node(kind=kind, constraints=_constraints(shape), sensitive=bool(shape.metadata.get("sensitive")),
                holds=_holds(shape))
    seen[shape.name] = node
    if kind == "structure":
        if shape.metadata.get("document"):
            return node
        node.required = frozenset(shape.required_members)
        node.members = [(name, _lower_camel(name), _compile(member, seen))
                        for name, member in shape.members.items()]
    elif kind == "list":
        node.item = _compile(shape.member, seen)
    elif kind == "map":
        node.key, node.item = _compile(shape.key, seen), _compile(shape.value, seen)
    return node


def _mark_active(root: Node) -> None:
    """Set `active` on every node below `root`: a fixed point, since shapes may be recursive."""
    nodes: list[Node] = []
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        node.active = bool(node.constraints or node.required)
        stack.extend(child for _, _, child in node.members)
        stack.extend(child for child in (node.item, node.key) if child is not None)
    changed = True
    while changed:
        changed = False
        for node in nodes:
            children = [child for _, _, child in node.members] + [c for c in (node.item, node.key) if c]
            if not node.active and any(child.active for child in children):
                node.active = changed = True
    for node in nodes:  # a request walks only what can fail
        node.members = [(name, camel, child) for name, camel, child in node.members
                        if child.active or name in node.required]


def _node_for(model: OperationModel) -> Node | None:
    """The compiled input shape of `model` (None: nothing to check), built once per operation."""
    service = model.service_model
    # Keyed by names, not by the model object: every client has its own copy of the model.
    key = (service.service_name, service.api_version, model.name)
    if key not in _NODES:
        node = None
        if model.input_shape is not None:
            node = _compile(model.input_shape, {})
            _mark_active(node)
        _NODES[key] = node if node is not None and node.active else None
    return _NODES[key]


_NODES: dict[tuple[str, str, str], Node | None] = {}


# -- checking a request ---------------------------------------------------------------------
def _shown(value: Any) -> str:
    """`value` as AWS's (Java) message shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_shown(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return str(value)


def _error(node: Node, value: Any, path: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{_shown(value)}'"
    where = "Value" if node.sensitive and value is not None else f"Value {shown}"
    return f"{where} at '{path}' failed to satisfy constraint: {constraint}"


def _failed(node: Node, value: Any) -> bool:
    """Whether `value` breaks a constraint of scalar `node` (collection-level reporting)."""
    return not node.holds(value)


def _check(node: Node, value: Any, path: str, errors: list[str], own: bool = True) -> None:
    """Append to `errors` what `value` (at `path`) breaks; `own=False`: not `node`'s own
    constraints (a map value's are reported with the map)."""
    if not node.active or value is None:
        return
    if node.kind == "scalar":
        if not node.holds(value):
            errors.extend(_error(node, value, path, c.text) for c in node.constraints if not c.ok(value))
        return
    if node.kind == "structure":
        if not isinstance(value, dict):
            return
        prefix = f"{path}." if path else ""
        for name, camel, child in node.members:
            member = value.get(name)
            if member is not None:
                _check(child, member, prefix + camel, errors)
            elif name in node.required:
                errors.append(_error(child, None, prefix + camel, "Member must not be null"))
        return
    if own and not node.holds(value):
        errors.extend(_error(node, value, path, c.text) for c in node.constraints if not c.ok(value))
    item = node.item
    assert item is not None
    if node.kind == "list":
        if not isinstance(value, (list, tuple)):
            return
        if item.kind == "scalar":
            if item.constraints and any(_failed(item, v) for v in value):
                errors.append(_error(node, value, path, f"Member must satisfy constraint: [{item.description}]"))
            return
        for index, element in enumerate(value, start=1):
            _check(item, element, f"{path}.{index}.member", errors)
        return
    if not isinstance(value, dict):
        return
    key = node.key
    assert key is not None
    if key.constraints and any(_failed(key, k) for k in value):
        errors.append(_error(node, value, path, f"Map keys must satisfy constraint: [{key.description}]"))
    if item.constraints and any(_failed(item, v) for v in value.values()):
        errors.append(_error(node, value, path, f"Map value must satisfy constraint: [{item.description}]"))
    if item.kind != "scalar":
        for name, element in value.items():
            _check(item, element, f"{path}.{name}", errors, own=False)


def violations(model: OperationModel, params: dict) -> list[str]:
    """AWS's message for each server-side constraint `params` break (empty: none)."""
    node = _node_for(model)
    if node is None:
        return []
    errors: list[str] = []
    _check(node, params, "", errors)
    return errors


def message(errors: list[str]) -> str:
    """AWS's validation message for `errors`."""
    count = len(errors)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors)


def error_code(model: OperationModel) -> str | None:
    """The code `model`'s service answers a validation failure with (None: not checked here)."""
    service = model.service_model
    protocol = getattr(service, "resolved_protocol", None) or service.protocol
    if protocol in UNCHECKED_PROTOCOLS:
        return None
    if service.service_name in ERROR_CODES:
        return ERROR_CODES[service.service_name]
    return "ValidationError" if protocol in QUERY_PROTOCOLS else "ValidationException"


# -- rules a service checks beyond its model ------------------------------------------------
#: service name → rules (operation name, the request's parameters) → the refusal's message or
#: None; answered like a constraint violation. Other harness modules add theirs (`add_rule`).
SERVICE_RULES: dict[str, list[Callable[[str, dict], str | None]]] = {}


def add_rule(service: str, rule: Callable[[str, dict], str | None]) -> None:
    """Refuse a request of `service` whenever `rule` gives a message for it."""
    SERVICE_RULES.setdefault(service, []).append(rule)


def _refusal(model: OperationModel, api_params: dict) -> str | None:
    errors = violations(model, api_params)
    if errors:
        return message(errors)
    for rule in SERVICE_RULES.get(model.service_model.service_name, ()):
        why = rule(model.name, api_params)
        if why:
            return why
    return None


# -- botocore event handlers ----------------------------------------------------------------
class _Body:
    """The raw body of the error answer (botocore reads `stream()` if a handler asks)."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


def _active() -> bool:
    """Whether moto's mock is on: only then is a call made offline (never check real AWS calls)."""
    return bool(botocore_stubber.enabled)


def _note_params(params: dict, context: dict, **_: Any) -> None:
    context[_PARAMS_KEY] = params


def _validate(model: OperationModel, params: dict, context: dict, **_: Any) -> tuple[AWSResponse, dict] | None:
    api_params = context.pop(_PARAMS_KEY, None)
    if api_params is None or not _active():
        return None
    code = error_code(model)
    if code is None:
        return None
    text = _refusal(model, api_params)
    if text is None:
        return None
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.1"}
    body = json.dumps({"__type": code, "message": text}).encode()
    http = AWSResponse(params.get("url", ""), 400, headers, _Body(body))
    parsed = {"Error": {"Code": code, "Message": text},
              "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": 400,
                                   "HTTPHeaders": {k.lower(): v for k, v in headers.items()}, "RetryAttempts": 0}}
    return http, parsed


def install() -> None:
    """Check every request of botocore sessions created from now on (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        # Last, so that botocore's own parameter handlers (idempotency tokens...) have run.
        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", _note_params,
                                                   botocore.handlers.REGISTER_LAST))
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _validate))
        _installed = True
