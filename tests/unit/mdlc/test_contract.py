"""The team contract: the example is valid, and each wrong field gets a message naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mdlc.contract import MODELS_DIR, TeamFileError, json_schema, load_team, parse_team

EXAMPLE = MODELS_DIR / "fraud-detection.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def set_path(data: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_example_team_is_valid():
    team = load_team(EXAMPLE)
    assert team.name == "fraud-detection"
    assert team.schema.entity_key == "customer_id"
    assert "txn_count_30d" in {f.name for f in team.schema.online_features}


BAD_FIELDS = [
    ("name", "Fraud_Detection", "field `name`", "'Fraud_Detection'"),
    ("owner.email", "not-an-email", "field `owner.email`", "'not-an-email'"),
    ("environments.dev.account", "12345", "field `environments.dev.account`", "'12345'"),
    ("environments.dev.region", "Europe", "field `environments.dev.region`", "'Europe'"),
    ("training.instance_count", 0, "field `training.instance_count`", "greater than or equal to 1"),
    ("training.instance_type", "m5.xlarge", "field `training.instance_type`", "'m5.xlarge'"),
    ("evaluation.metric", "f1", "field `evaluation.metric`", "'pr_auc', 'roc_auc' or 'recall_at_fpr'"),
    ("evaluation.threshold", 1.5, "field `evaluation.threshold`", "less than or equal to 1"),
    ("batch.schedule", "every day", "field `batch.schedule`", "'every day'"),
    ("realtime.min_capacity", 10, "field `realtime`", "min_capacity (10) must not exceed max_capacity (6)"),
    ("schema.features.0.type", "decimal", "field `schema.features.0.type`", "'decimal'"),
    ("schema.features.0.min", 100000, "field `schema.features.0`", "min (100000.0) must not exceed max"),
    (
        "decision_rules.score_bands.approve_below",
        0.9,
        "field `decision_rules.score_bands`",
        "must not exceed decline_at_or_above",
    ),
    ("training.max_wait_minutes", 10, "field `training`", "must be at least max_runtime_minutes"),
]


@pytest.mark.parametrize(("path", "value", "names", "expects"), BAD_FIELDS, ids=[c[0] for c in BAD_FIELDS])
def test_each_bad_field_is_named_with_the_value_given_and_what_was_expected(path, value, names, expects):
    data = set_path(example(), path, value)
    with pytest.raises(TeamFileError) as err:
        parse_team(yaml.safe_dump(data, sort_keys=False), "models/fraud-detection.yaml")
    message = str(err.value)
    assert message.startswith("models/fraud-detection.yaml:")
    assert names in message
    assert expects in message


def test_unknown_field_is_rejected_as_a_probable_typo():
    data = example()
    data["training"]["hyperparameter"] = {"eta": 0.1}
    with pytest.raises(TeamFileError, match=r"field `training.hyperparameter`: unknown field"):
        parse_team(yaml.safe_dump(data), "x.yaml")


def test_missing_required_section_is_named():
    data = example()
    del data["decision_rules"]
    with pytest.raises(TeamFileError, match=r"field `decision_rules`: missing"):
        parse_team(yaml.safe_dump(data), "x.yaml")


def test_slice_must_be_a_category_feature():
    data = set_path(example(), "evaluation.slices", ["amount"])
    with pytest.raises(TeamFileError,
                       match=r"field `evaluation.slices.0`: 'amount' is a float feature; expected a category"):
        parse_team(yaml.safe_dump(data), "x.yaml")


def test_feature_reference_to_unknown_column_is_named():
    data = example()
    data["schema"]["features"][-1]["derive"]["args"] = ["event_tme"]
    with pytest.raises(TeamFileError, match=r"refers to 'event_tme'"):
        parse_team(yaml.safe_dump(data), "x.yaml")


def test_yaml_syntax_error_names_line_and_column():
    with pytest.raises(TeamFileError, match=r"line 3, column 9: not valid YAML"):
        parse_team("name: x\nowner: {a: b\ntraining: 1\n", "x.yaml")


def test_error_points_at_the_line_of_the_field_in_the_file(tmp_path):
    text = EXAMPLE.read_text().replace("  instance_count: 1\n  max_runtime", "  instance_count: -3\n  max_runtime")
    bad = tmp_path / "fraud-detection.yaml"
    bad.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "instance_count: -3" in ln)
    with pytest.raises(TeamFileError, match=rf"line {line}, field `training.instance_count`: got -3"):
        load_team(bad)


def test_file_name_must_match_team_name(tmp_path):
    other = tmp_path / "other-team.yaml"
    other.write_text(EXAMPLE.read_text())
    with pytest.raises(TeamFileError, match=r"expected the file name 'other-team'"):
        load_team(other)


def test_committed_json_schema_is_in_sync_with_the_contract():
    committed = json.loads((MODELS_DIR / "team.schema.json").read_text())
    assert committed == json_schema(), "models/team.schema.json drifted: run `make schema`"


def test_every_field_of_the_contract_is_documented():
    schema = json_schema()
    undocumented = []
    for def_name, definition in schema.get("$defs", {}).items():
        for prop, spec in definition.get("properties", {}).items():
            if "description" not in spec and not spec.get("$ref") and not spec.get("allOf"):
                undocumented.append(f"{def_name}.{prop}")
    # Self-explanatory scalars (instance types, counts) may go without prose; sections may not.
    assert len(undocumented) < 40, undocumented


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mdlc.cli", *args], capture_output=True, text=True)


def test_cli_validate_accepts_the_example_with_a_one_line_summary():
    result = run_cli("validate", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    assert "valid: team fraud-detection" in result.stdout


def test_cli_validate_rejects_a_broken_file_naming_the_field(tmp_path):
    bad = tmp_path / "fraud-detection.yaml"
    bad.write_text(EXAMPLE.read_text().replace("metric: pr_auc", "metric: accuracy"))
    result = run_cli("validate", str(bad))
    assert result.returncode == 1
    assert "field `evaluation.metric`: got 'accuracy'" in result.stderr


def test_cli_schema_prints_the_committed_schema():
    result = run_cli("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads((MODELS_DIR / "team.schema.json").read_text())


def test_schema_is_usable_by_editors_to_check_the_example():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**yaml.safe_load(EXAMPLE.read_text()), "name": "Bad Name"}, json_schema())


def test_models_dir_holds_only_valid_team_files():
    files = sorted(Path(MODELS_DIR).glob("*.yaml"))
    assert files, "models/ holds no team file"
    assert [load_team(path).name for path in files] == [path.stem for path in files]
