"""Contract rules the runtime relies on: caught by `mdlc validate`, at the offending line.

Each case is a mistake that used to pass validation and fail later (feature engineering,
cfn-lint at synth, a deploy, evaluation after training). Product tests: they check the
messages a team author reads.
"""

from __future__ import annotations

import pytest
import yaml

from mdlc.contract import (
    MODELS_DIR,
    TeamFileError,
    check_schedule,
    load_team,
    parse_team,
    team_files,
)

EXAMPLE = MODELS_DIR / "fraud-detection.yaml"


def problems_of(text: str) -> list[str]:
    with pytest.raises(TeamFileError) as err:
        parse_team(text, "team.yaml")
    return err.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("good", [
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(30 days)",
    "cron(0 3 * * ? *)", "cron(15 10 ? * MON-FRI *)", "cron(0/15 * * * ? *)", "cron(0 8 1 * ? 2027)",
])
def test_eventbridge_schedules_are_accepted(good):
    assert check_schedule(good) == good


@pytest.mark.parametrize(("bad", "says"), [
    ("rate(1 days)", "EventBridge wants rate(1 day), not rate(1 days)"),
    ("rate(2 hour)", "EventBridge wants rate(2 hours)"),
    ("rate(0 days)", "positive number"),
    ("rate(1 week)", "is not minute(s), hour(s) or day(s)"),
    ("cron(0 3 * * ?)", "cron() has 5 field(s), EventBridge needs 6"),
    ("cron(0 3 * * * *)", "? in exactly one of day-of-month"),
    ("cron(0 25 * * ? *)", "hours field '25': 25 is outside 0-23"),
    ("every day", "not a rate() or cron() expression"),
])
def test_schedules_eventbridge_rejects_are_errors_with_an_example(bad, says):
    text = EXAMPLE.read_text().replace("schedule: cron(0 3 * * ? *)", f"schedule: {bad}")
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_of(text, 'schedule: ' + bad)}, field `batch.schedule`: got '{bad}'")
    assert says in problem
    assert "^" not in problem and "\\(" not in problem  # an example for a person, not a regex


def test_a_pattern_error_shows_an_example_not_the_regex():
    text = EXAMPLE.read_text().replace("instance_type: ml.m5.large", "instance_type: m5.large")
    (problem,) = problems_of(text)
    assert "field `realtime.instance_type`: got 'm5.large'; expected: a SageMaker instance type, e.g. ml.m5.xlarge" \
        in problem
    assert "pattern" not in problem


def test_ratio_with_one_argument_names_the_feature_line():
    text = EXAMPLE.read_text().replace("derive: {op: ratio, args: [amount, amount_mean_90d]}",
                                       "derive: {op: ratio, args: [amount]}")
    (problem,) = problems_of(text)
    at = _feature_index("amount_to_avg_ratio")
    assert problem.startswith(f"line {line_of(text, 'op: ratio')}, field `schema.features.{at}.derive.args`")
    assert "op 'ratio' takes 2 argument(s), got 1" in problem


def test_hour_of_day_of_a_number_and_mean_of_a_category_are_errors():
    text = (EXAMPLE.read_text().replace("derive: {op: hour_of_day, args: [event_time]}",
                                        "derive: {op: hour_of_day, args: [amount]}")
            .replace("aggregate: {fn: sum, column: amount, window_days: 30}",
                     "aggregate: {fn: sum, column: channel, window_days: 30}"))
    problems = problems_of(text)
    hour, total = _feature_index("hour_of_day"), _feature_index("amount_sum_30d")
    assert any(f"field `schema.features.{hour}.derive.args.0`" in p and "needs a time; 'amount' is float" in p
               for p in problems), problems
    assert any(f"field `schema.features.{total}.aggregate.column`" in p and "sum needs a numeric column" in p
               for p in problems), problems


def _feature_index(name: str) -> int:
    """Position of a feature in the example's list (the problem paths name it)."""
    features = yaml.safe_load(EXAMPLE.read_text())["schema"]["features"]
    return next(i for i, f in enumerate(features) if f["name"] == name)


def test_a_slice_that_is_not_a_model_input_is_an_error_at_its_line():
    data = yaml.safe_load(EXAMPLE.read_text())
    data["schema"]["features"].append({"name": "terminal", "type": "category", "categories": ["a", "b"],
                                       "model_input": False})
    data["evaluation"]["slices"] = ["country", "terminal"]
    text = yaml.safe_dump(data, sort_keys=False)
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line_of(text, '- terminal')}, field `evaluation.slices.1`")
    assert "'terminal' is not a model input" in problem


def test_a_hard_rule_on_a_field_the_rules_never_see_is_an_error_at_its_line():
    text = EXAMPLE.read_text().replace("field: amount, op: gt", "field: home_country, op: gt")
    problems = problems_of(text)
    assert any(p.startswith(f"line {line_of(text, 'field: home_country')}, field `decision_rules.hard_rules.0.field`")
               and "'home_country' is not a model input, so the rule could never fire" in p
               for p in problems), problems


def test_decision_rules_are_required_with_realtime_and_optional_without():
    data = yaml.safe_load(EXAMPLE.read_text())
    del data["decision_rules"]
    (problem,) = problems_of(yaml.safe_dump(data))
    assert "field `decision_rules`: missing; a team with realtime.enabled needs score_bands" in problem
    data["realtime"] = {"enabled": False}
    team = parse_team(yaml.safe_dump(data))
    assert team.decision_rules is None


def test_batch_has_its_own_minimum_rows_and_monitoring_its_own_threshold():
    data = yaml.safe_load(EXAMPLE.read_text())
    team = parse_team(yaml.safe_dump(data))
    assert team.batch.min_rows == 1 and team.data_quality.min_rows == 1000
    data["decision_rules"]["score_bands"]["approve_below"] = 0.1
    assert parse_team(yaml.safe_dump(data)).monitoring.score_threshold == 0.30  # not approve_below


TEAM_FILES = [*team_files(), None]  # None: the generated second team (tests/second_team.py)


@pytest.mark.parametrize("path", TEAM_FILES, ids=lambda p: p.stem if p else "generated-second-team")
def test_every_team_file_is_valid_editor_schema_clean_and_has_no_setting_without_effect(path, tmp_path):
    """Each team file in models/ (and the generated second team): the contract accepts it, the
    committed JSON Schema editors use accepts it, and nothing in it is silently ignored."""
    import json

    import jsonschema

    from mdlc.lint import warnings_for
    from tests.second_team import write_second_team

    path = path or write_second_team(tmp_path)
    team = load_team(path)
    assert team.name == path.stem
    schema = json.loads((MODELS_DIR / "team.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    assert [w for w in warnings_for(path) if "no effect" in w] == []
