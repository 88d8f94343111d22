"""The decision request contract: one JSON Schema, checked by API Gateway and by the workflow.

``request_schema(spec)`` derives a JSON Schema (draft-04, the dialect API Gateway models
use) from the team spec: ``request_id`` (the idempotency key), the id, entity and
timestamp columns, and every ``source: record`` feature with its type, range and
categories; nothing else is allowed. CDK publishes it as the API's request model, and
``parse_request`` enforces the same schema in the decision workflow's first step, so the
API, the offline workflow and ``mdlc local serve`` reject the same requests with 400.

``parse_request`` also refuses any field whose value looks like a card number (a
Luhn-valid 13-19 digits, ``mdlc.pan``), which JSON Schema cannot express: the 400 names
the field and never repeats the value, and nothing of the request is recorded.

Standard library only: the collect-features Lambda imports this on every cold start.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mdlc.pan import PAN_EXPECTED, looks_like_pan

#: Bodies larger than this are rejected before parsing (a request is a few hundred bytes).
MAX_BODY_BYTES = 8192
#: At most this many problems are listed in a 400, so that its body (the workflow's output)
#: stays far below Step Functions' 256 KB limit for any body up to MAX_BODY_BYTES.
MAX_LISTED_ERRORS = 20
REQUEST_ID_PATTERN = "^[A-Za-z0-9._:-]{1,64}$"
ID_MAX_LENGTH = 128
#: The event id is the endpoint's InferenceId (recorded by data capture): SageMaker takes 1-64
#: printable characters, the first not a space (`\A\S[\p{Print}]*\z`, ASCII here).
EVENT_ID_PATTERN = "^[!-~][ -~]*$"
EVENT_ID_MAX_LENGTH = 64
STRING_MAX_LENGTH = 256
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)

_NOT_A_PAN = "Never a card number: a Luhn-valid 13-19 digits (spaces, dashes aside) is refused with 400."

_JSON_TYPES = {"float": "number", "int": "integer", "bool": "boolean", "category": "string",
               "string": "string", "timestamp": "string"}


class RequestError(ValueError):
    """A request that does not fit the contract; ``errors`` are ``{field, message}`` pairs."""

    def __init__(self, errors: list[dict[str, str]], request_id: str | None = None) -> None:
        self.errors = errors
        self.request_id = request_id
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))

    def response(self) -> dict[str, Any]:
        """The 400 body the API returns."""
        body: dict[str, Any] = {"status": 400, "error": "invalid request", "errors": self.errors}
        if self.request_id:
            body["request_id"] = self.request_id
        return body


def _feature_schema(feature: dict[str, Any]) -> dict[str, Any]:
    kind = _JSON_TYPES[feature["type"]]
    schema: dict[str, Any] = {"type": [kind, "null"] if feature.get("nullable") else kind}
    if feature.get("description"):
        schema["description"] = feature["description"]
    if feature["type"] == "category":
        schema["enum"] = list(feature["categories"]) + ([None] if feature.get("nullable") else [])
    elif feature["type"] in ("float", "int"):
        if feature.get("min") is not None:
            schema["minimum"] = feature["min"]
        if feature.get("max") is not None:
            schema["maximum"] = feature["max"]
    elif feature["type"] == "timestamp":
        schema["pattern"] = TIMESTAMP_PATTERN
    else:
        schema["maxLength"] = STRING_MAX_LENGTH
    return schema


def request_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema (draft-04) of a decision request for the team ``spec``."""
    keys = spec["schema"]
    record = [f for f in keys["features"] if f.get("source", "record") == "record"]
    properties: dict[str, Any] = {
        "request_id": {"type": "string", "pattern": REQUEST_ID_PATTERN,
                       "description": "Caller's unique id of this request; a replay returns the first decision. "
                                      + _NOT_A_PAN},
        keys["id_column"]: {"type": "string", "minLength": 1, "maxLength": EVENT_ID_MAX_LENGTH,
                            "pattern": EVENT_ID_PATTERN,
                            "description": "The event's id, 1-64 printable ASCII characters (the endpoint's "
                                           "InferenceId: data capture records it). " + _NOT_A_PAN},
        keys["entity_key"]: {"type": "string", "minLength": 1, "maxLength": ID_MAX_LENGTH,
                             "description": "The entity (e.g. customer) the features are kept for. " + _NOT_A_PAN},
        keys["timestamp_column"]: {"type": "string", "pattern": TIMESTAMP_PATTERN},
    }
    for feature in record:
        properties[feature["name"]] = _feature_schema(feature)
    required = ["request_id", keys["id_column"], keys["entity_key"], keys["timestamp_column"]]
    required += [f["name"] for f in record if not f.get("nullable")]
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": f"{spec['name']} decision request",
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


# ------------------------------------------------------------------------ validation
def _type_ok(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return False


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def check_value(name: str, value: Any, schema: dict[str, Any]) -> str | None:
    """The message for a value that breaks ``schema`` (the subset request_schema uses)."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not any(_type_ok(value, k) for k in kinds):
        return f"got {_describe(value)}; expected {' or '.join(kinds)}"
    if value is None:
        return None
    if "enum" in schema and value not in schema["enum"]:
        allowed = [v for v in schema["enum"] if v is not None]
        return f"got {_describe(value)}; expected one of {allowed}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            return f"got {value}; expected a finite number"
        if "minimum" in schema and value < schema["minimum"]:
            return f"got {value}; expected at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"got {value}; expected at most {schema['maximum']}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"got an empty string; expected at least {schema['minLength']} character(s)"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"got {len(value)} characters; expected at most {schema['maxLength']}"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"got {_describe(value)}; expected a value matching {schema['pattern']}"
    return None


def validate(request: Any, schema: dict[str, Any]) -> list[dict[str, str]]:
    """Every field-level problem of a parsed request (empty when it fits)."""
    if not isinstance(request, dict):
        return [{"field": "(body)", "message": f"got {_describe(request)}; expected a JSON object"}]
    errors = []
    for name in schema["required"]:
        if name not in request:
            errors.append({"field": name, "message": f"missing; expected {_expected(schema['properties'][name])}"})
    for name in sorted(set(request) - set(schema["properties"])):
        shown = "(a field named like a card number)" if looks_like_pan(name) else name
        errors.append({"field": shown, "message": "unknown field; expected only the fields of the "
                       f"request schema ({', '.join(schema['properties'])})"})
    for name, prop in schema["properties"].items():
        if name in request:
            # First, and alone: the value is never described back (other messages quote it).
            message = (f"looks like a card number (PAN); expected {PAN_EXPECTED}" if looks_like_pan(request[name])
                       else check_value(name, request[name], prop))
            if message:
                errors.append({"field": name, "message": message})
    return errors


def _expected(prop: dict[str, Any]) -> str:
    kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    text = " or ".join(kinds)
    if "enum" in prop:
        text += f" (one of {[v for v in prop['enum'] if v is not None]})"
    return text


def parse_request(body: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """A request from the raw body (text or bytes) or an already parsed object.

    Raises RequestError (400) for oversized, malformed, too deeply nested or
    non-conforming bodies, naming each field.
    """
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        size = len(body.encode("utf-8"))
        if size > MAX_BODY_BYTES:
            raise RequestError([{"field": "(body)",
                                 "message": f"{size} bytes; expected at most {MAX_BODY_BYTES}"}])
        try:
            body = json.loads(body)
        except RecursionError:
            raise RequestError(
                [{"field": "(body)", "message": "nested too deeply; expected a flat JSON object"}]
            ) from None
        except ValueError as exc:
            message = f"not valid JSON ({getattr(exc, 'msg', exc)} at position {getattr(exc, 'pos', '?')})"
            raise RequestError([{"field": "(body)", "message": message}]) from None
    else:
        size = len(json.dumps(body, default=str).encode("utf-8"))
        if size > MAX_BODY_BYTES:
            raise RequestError([{"field": "(body)",
                                 "message": f"{size} bytes; expected at most {MAX_BODY_BYTES}"}])
    errors = validate(body, schema)
    if len(errors) > MAX_LISTED_ERRORS:
        more = len(errors) - MAX_LISTED_ERRORS + 1
        errors = errors[:MAX_LISTED_ERRORS - 1] + [
            {"field": "(body)", "message": f"{more} more problem(s) not listed; expected only the fields of the "
             "request schema"}]
    if errors:
        request_id = body.get("request_id") if isinstance(body, dict) else None
        valid_id = (isinstance(request_id, str) and re.match(REQUEST_ID_PATTERN, request_id)
                    and not looks_like_pan(request_id))
        raise RequestError(errors, request_id if valid_id else None)
    return body


# ------------------------------------------------------------------ endpoint request
#: The key of the InvokeEndpoint envelope that carries the deciding policy's hash.
POLICY_KEY = "policy_hash"


def endpoint_body(features: dict[str, Any], policy_hash: str) -> bytes:
    """The InvokeEndpoint body of one decision: ``{"instances": [<model input>], "policy_hash"}``.

    SageMaker data capture records this body (and the response, which names the model version;
    ``CustomAttributes`` are not captured), so the policy's hash travels here for captured traffic
    to group by ``policy_version`` = ``<policy_hash>/<model_version>``. It sits beside the record,
    in the ``instances`` envelope, never inside it: every inference code this project has shipped
    in a model.tar.gz reads the envelope's records and ignores its other keys, while a record's
    unknown field is a 400. Models trained before this change, a canary of two versions and a
    rollback all accept it, with no extra call."""
    return json.dumps({"instances": [features], POLICY_KEY: policy_hash}).encode()
