"""Card numbers (PANs) stay out of decision requests and team files.

Product tests: the decision request contract (``lambdas.shared.decision_request``, the
check the collect-features step applies behind the API) answers 400 naming the field for
a value that looks like a card number and never repeats it; `mdlc validate` refuses PANs
in lists and columns named or described as card numbers (``mdlc.contract``).
"""

from __future__ import annotations

import importlib
import json

import pytest

from lambdas.shared.decision_request import RequestError, parse_request, request_schema
from mdlc.contract import MODELS_DIR, TeamFileError, load_team, parse_team, runtime_spec
from mdlc.pan import looks_like_pan, luhn_valid

SPEC = runtime_spec(load_team(MODELS_DIR / "fraud-detection.yaml"))
SCHEMA = request_schema(SPEC)
VALID = {"request_id": "r-1", "transaction_id": "T-1", "customer_id": "C-1", "event_time": "2026-03-01T14:30:00Z",
         "amount": 42.5, "merchant_category": "grocery", "channel": "online", "country": "GB"}
EXAMPLE = (MODELS_DIR / "fraud-detection.yaml").read_text()

#: Published test card numbers (Visa, Amex, Mastercard 2-series, Visa 19 digits): all Luhn-valid.
PANS = ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005",
        "2223000048400011", "4000000000000000006"]


@pytest.mark.parametrize("pan", PANS)
def test_published_test_card_numbers_look_like_pans(pan):
    assert looks_like_pan(pan)


@pytest.mark.parametrize("value", ["4111111111111112", "T42-00000001", "C-000001", "411111111111",
                                   "41111111111111111111", "req-2026-03-01-000042", "4111x1111x1111x1111", True])
def test_ids_that_are_not_card_numbers_pass(value):
    assert not looks_like_pan(value)


def test_luhn():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


@pytest.mark.parametrize("field", ["customer_id", "transaction_id", "request_id"])
@pytest.mark.parametrize("pan", [PANS[0], PANS[2]])
def test_a_card_number_in_an_id_field_is_a_400_naming_the_field_without_echoing_it(field, pan):
    with pytest.raises(RequestError) as caught:
        parse_request(json.dumps({**VALID, field: pan}), SCHEMA)
    body = caught.value.response()
    assert body["status"] == 400
    assert [e["field"] for e in body["errors"]] == [field]
    assert "card number" in body["errors"][0]["message"]
    text = json.dumps(body)
    assert pan not in text and pan.replace("-", "") not in text and "1111" not in text
    assert "request_id" not in body or body["request_id"] == VALID["request_id"]


def test_a_card_number_sent_as_a_json_number_is_refused_without_echo():
    with pytest.raises(RequestError) as caught:
        parse_request(json.dumps({**VALID, "customer_id": 4111111111111111}), SCHEMA)
    assert "4111" not in json.dumps(caught.value.response())


def test_an_unknown_field_named_like_a_card_number_is_not_echoed():
    with pytest.raises(RequestError) as caught:
        parse_request(json.dumps({**VALID, PANS[0]: 1}), SCHEMA)
    assert PANS[0] not in json.dumps(caught.value.response())


def test_the_decision_function_rejects_it_before_any_lookup():
    from datetime import UTC, datetime

    decide = importlib.import_module("lambdas.realtime.decide.handler")

    class IO:
        calls: list = []
        log = None

        def read_items(self, keys):
            self.calls.append(keys)

        def invoke(self, features, inference_id):
            self.calls.append(features)

    io = IO()
    out = decide.decide_request(json.dumps({**VALID, "customer_id": PANS[1]}), SPEC, io, datetime.now(UTC))
    assert out["status"] == 400 and io.calls == [] and PANS[1] not in json.dumps(out)


def test_the_api_request_model_tells_clients_ids_are_never_card_numbers():
    for field in ("request_id", "transaction_id", "customer_id"):
        assert "Never a card number" in SCHEMA["properties"][field]["description"]


def problems_of(text: str) -> list[str]:
    with pytest.raises(TeamFileError) as caught:
        parse_team(text)
    return caught.value.problems


@pytest.mark.parametrize("value", ["'4111 1111 1111 1111'", "4111111111111111"])
def test_a_card_number_in_a_deny_list_is_refused_at_validate(value):
    (problem,) = problems_of(EXAMPLE.replace("C-BLOCKED-0001", value))
    assert "field `decision_rules.deny_list.customer_id.0`: looks like a card number (PAN)" in problem
    assert "4111" not in problem


@pytest.mark.parametrize(("old", "new", "field"), [
    ("name: channel\n", "name: card_number\n", "schema.features.2.name"),
    ("name: channel\n", "name: pan\n", "schema.features.2.name"),
    ("Country of the merchant.", "The customer's PAN.", "schema.features.3.description"),
    ("Country of the merchant.", "Primary account number of the card", "schema.features.3.description"),
    ("entity_key: customer_id", "entity_key: card_number", "schema.entity_key"),
])
def test_a_column_named_or_described_as_a_card_number_is_refused(old, new, field):
    problems = problems_of(EXAMPLE.replace(old, new))
    assert any(f"field `{field}`" in p and "card number (PAN)" in p for p in problems), problems


@pytest.mark.parametrize("name", ["company_size", "panel", "expanded", "channel"])
def test_names_that_merely_contain_pan_letters_pass(name):
    assert parse_team(EXAMPLE.replace("name: channel\n", f"name: {name}\n").replace(
        "slices: [country, channel]", f"slices: [country, {name}]"))
