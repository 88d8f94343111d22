"""Team files are data, never code: what `mdlc validate` refuses before anything is built.

Product tests of the contract's loading guards (``mdlc.contract.parse_team``/``load_team``):
each hostile or oversized file gets a TeamFileError naming the line and field, what was
wrong and what was expected, instead of a traceback, a hung parse or a broken synth.
"""

from __future__ import annotations

import time
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns

from mdlc.contract import (
    MAX_COLLECTION_ITEMS,
    MAX_NESTING,
    MAX_TEAM_FILE_BYTES,
    MODELS_DIR,
    TeamFileError,
    load_team,
    parse_team,
)

EXAMPLE = (MODELS_DIR / "fraud-detection.yaml").read_text()


def problems_of(text: str) -> list[str]:
    with pytest.raises(TeamFileError) as caught:
        parse_team(text)
    return caught.value.problems


def with_tag(key: str, value: str) -> str:
    return EXAMPLE.replace("  cost-center: payments-risk", f"  {key}: {value}")


def test_the_example_team_file_passes_every_guard():
    assert parse_team(EXAMPLE).name == "fraud-detection"


def test_an_unknown_cdk_token_in_a_team_file_would_fail_the_synth_of_every_team():
    """Why the guard exists (CDK's behaviour, not ours): a string that looks like a token
    is resolved by CDK, and an unknown one ends the synth of the whole app."""
    app = cdk.App()
    stack = cdk.Stack(app, "AnyTeam")
    sns.Topic(stack, "Alerts")
    cdk.Tags.of(stack).add("cost-center", "${Token[TOKEN.987654]}")  # as stacks/team.py adds team tags
    with pytest.raises(RuntimeError, match="Unrecognized token key: TOKEN.987654"):
        app.synth()


@pytest.mark.parametrize("value", ["'${Token[TOKEN.987654]}'", "'#{Token[TOKEN.12]}'",
                                   "'prefix-${Token[AWS.AccountId.5]}-suffix'",
                                   "'{{resolve:secretsmanager:payments-db:SecretString:password}}'"])
def test_a_token_or_dynamic_reference_is_refused_at_validate_naming_the_line_and_field(value):
    (problem,) = problems_of(with_tag("cost-center", value))
    line = EXAMPLE.splitlines().index("  cost-center: payments-risk") + 1
    assert problem.startswith(f"line {line}, field `tags.cost-center`:")
    assert "would interpret" in problem and "expected a plain value" in problem


def test_a_token_in_a_deny_list_is_refused_too():
    (problem,) = problems_of(EXAMPLE.replace("C-BLOCKED-0001", "'${Token[TOKEN.1]}'"))
    assert "field `decision_rules.deny_list.customer_id.0`" in problem


def test_a_100000_digit_integer_is_a_clear_error_not_a_traceback():
    (problem,) = problems_of(EXAMPLE.replace("min_rows: 1000", "min_rows: " + "9" * 100_000))
    assert "field `data_quality.min_rows`: an integer of 100000 digits; expected a number below" in problem


@pytest.mark.parametrize("value", [".nan", ".inf", "1.0e+400", "-1.8881545897087626e+289"])
def test_a_non_finite_or_huge_number_is_refused(value):
    """-1.888e289 is the range of CDK's number tokens."""
    (problem,) = problems_of(EXAMPLE.replace("max_psi: 0.25", f"max_psi: {value}"))
    assert "field `data_quality.max_psi`" in problem and "expected a finite number below" in problem


def test_50000_deep_nesting_is_a_clear_error_and_is_stopped_early():
    """PyYAML's composer recurses (RecursionError) and its scanner is quadratic in flow depth
    (minutes for this file): the guard stops at the limit."""
    text = EXAMPLE + "extra: " + "[" * 50_000 + "]" * 50_000 + "\n"
    started = time.perf_counter()
    (problem,) = problems_of(text)
    assert time.perf_counter() - started < 5
    assert f"nested more than {MAX_NESTING} deep" in problem and "field `extra.0.0" in problem


def test_a_file_over_the_size_cap_is_refused_saying_the_limit_and_where_large_lists_belong(tmp_path):
    text = EXAMPLE + "#" * MAX_TEAM_FILE_BYTES
    (problem,) = problems_of(text)
    assert f"expected at most {MAX_TEAM_FILE_BYTES}" in problem and "DynamoDB table" in problem
    path = tmp_path / "fraud-detection.yaml"
    path.write_text(text)
    with pytest.raises(TeamFileError, match="bytes; expected at most"):
        load_team(path)


def test_a_deny_list_over_the_cap_names_the_list_the_limit_and_suggests_a_table():
    values = ", ".join(f"C-{i:06d}" for i in range(MAX_COLLECTION_ITEMS + 1))
    (problem,) = problems_of(EXAMPLE.replace("customer_id: [C-BLOCKED-0001]", f"customer_id: [{values}]"))
    assert f"field `decision_rules.deny_list.customer_id`: more than {MAX_COLLECTION_ITEMS} items" in problem
    assert f"expected at most {MAX_COLLECTION_ITEMS}" in problem and "DynamoDB table or S3 object" in problem


def test_a_deny_list_at_the_cap_is_accepted():
    values = ", ".join(f"C-{i:06d}" for i in range(MAX_COLLECTION_ITEMS))
    team = parse_team(EXAMPLE.replace("customer_id: [C-BLOCKED-0001]", f"customer_id: [{values}]"))
    assert len(team.decision_rules.deny_list["customer_id"]) == MAX_COLLECTION_ITEMS


def test_anchors_and_aliases_are_refused():
    """An alias repeats a subtree without writing it: the way to a billion-laughs file."""
    (problem,) = problems_of(EXAMPLE.replace("  max_capacity: 6", "  max_capacity: &cap 6\n  min_capacity: *cap")
                             .replace("  min_capacity: 2\n", "", 1))
    assert "field `realtime.min_capacity`: an alias (*cap)" in problem


@pytest.mark.parametrize("key", ["aws:cost-center", "AWS:owner", "mdlc:team", "mdlc:stage"])
def test_reserved_tag_keys_are_refused(key):
    (problem,) = problems_of(with_tag(key, "x"))
    assert f"field `tags.{key}`" in problem and "reserved by" in problem and "expected a key of your own" in problem


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("cost-center", "a" * 257, "a value of 257 characters; expected at most 256"),
    ("k" * 129, "x", "a key of 129 characters; expected at most 128"),
    ("cost-center", "'<script>'", "AWS's tag character set"),
])
def test_tag_keys_and_values_outside_aws_limits_are_refused(key, value, expected):
    (problem,) = problems_of(with_tag(key, value))
    assert expected in problem


def test_more_tags_than_a_resource_can_carry_are_refused():
    many = "\n".join(f"  k{i}: v" for i in range(41))
    (problem,) = problems_of(EXAMPLE.replace("  cost-center: payments-risk", many))
    assert "field `tags`" in problem and "expected at most 40" in problem


def test_a_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "fraud-detection.yaml"
    path.write_bytes(EXAMPLE.encode() + b"\xff\xfe")
    with pytest.raises(TeamFileError, match="not UTF-8"):
        load_team(Path(path))
