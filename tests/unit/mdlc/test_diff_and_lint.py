"""`mdlc diff` (semantic difference + impact) and `mdlc validate` warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mdlc.contract import MODELS_DIR, TeamConfig
from mdlc.diff import changes, diff_files, parse_team
from mdlc.impact import IMPACT, impact_of
from mdlc.lint import warnings_for

EXAMPLE = MODELS_DIR / "fraud-detection.yaml"


def write(tmp_path: Path, edit, name="fraud-detection") -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    edit(data)
    folder = tmp_path / f"v{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mdlc.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_a_changed_hyperparameter_is_shown_with_old_and_new_value_and_the_training_workflow(tmp_path):
    new = write(tmp_path, lambda d: d["training"]["hyperparameters"].update(max_depth=7))
    result = cli("diff", str(EXAMPLE), str(new))
    assert result.returncode == 0, result.stderr
    assert "1 setting(s) changed" in result.stdout
    assert "training.hyperparameters.max_depth: 5 → 7" in result.stdout
    assert "stack fraud-detection-training: training.hyperparameters.max_depth" in result.stdout
    assert "workflow fraud-detection--retraining: training.hyperparameters.max_depth" in result.stdout


def test_reformatting_or_spelling_out_a_default_is_no_change(tmp_path):
    def same(d):
        d["training"]["volume_gb"] = 30  # the default, now explicit
        d["data"] = dict(reversed(list(d["data"].items())))

    assert "no change in effect" in diff_files(EXAMPLE, write(tmp_path, same))


def test_features_and_rules_are_matched_by_name_not_position(tmp_path):
    def edit(d):
        f = d["schema"]["features"]
        f[1], f[2] = f[2], f[1]  # same features, other order
        d["decision_rules"]["hard_rules"][0]["value"] = 20000

    found = {
        c.path: (c.old, c.new)
        for c in changes(parse_team(EXAMPLE.read_text()), parse_team(write(tmp_path, edit).read_text()))
    }
    assert found["decision_rules.hard_rules.amount_limit.value"] == (10000.0, 20000.0)
    assert not any(p.startswith("schema.features.amount.") for p in found)


def test_removed_setting_and_added_rule_are_reported(tmp_path):
    def edit(d):
        d["decision_rules"]["hard_rules"].append(
            {"name": "night_online", "field": "channel", "op": "eq", "value": "online", "decision": "REVIEW"})
        d["realtime"].pop("canary")  # back to the default 10 % / 10 min: no change
        d["realtime"].pop("min_capacity")  # back to the default 1: a change

    text = diff_files(EXAMPLE, write(tmp_path, edit))
    assert "decision_rules.hard_rules.night_online.decision: (not set) → \"REVIEW\"" in text
    assert "realtime.min_capacity: 2 → 1" in text
    assert "realtime.canary" not in text
    assert "stack fraud-detection-realtime" in text


def test_diff_against_git_head(tmp_path):
    repo = tmp_path / "repo"
    (repo / "models").mkdir(parents=True)
    team = repo / "models" / "fraud-detection.yaml"
    team.write_text(EXAMPLE.read_text())
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "team"], check=True)
    team.write_text(EXAMPLE.read_text().replace("eta: 0.1", "eta: 0.05"))
    result = cli("diff", str(team))
    assert result.returncode == 0, result.stderr
    assert "(HEAD) →" in result.stdout and "training.hyperparameters.eta: 0.1 → 0.05" in result.stdout


def test_diff_of_a_file_not_in_git_says_so(tmp_path):
    lone = write(tmp_path, lambda d: None)
    result = cli("diff", str(lone))
    assert result.returncode == 1
    assert "no version at git HEAD to compare with" in result.stderr


def test_every_setting_of_the_contract_has_an_impact():
    paths = _paths(TeamConfig)
    missing = [p for p in paths if _no_impact(p)]
    assert missing == []
    assert all(impact_of(p).effect for p in paths)
    assert set(IMPACT)  # the one mapping


def _no_impact(path: str) -> bool:
    try:
        impact_of(path)
    except KeyError:
        return True
    return False


def _paths(model, prefix="") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        ann = field.annotation
        if isinstance(ann, type) and hasattr(ann, "model_fields"):
            out += _paths(ann, key + ".")
        else:
            out.append(key)
    return out


# ------------------------------------------------------------------------------ warnings
def test_the_example_warns_only_about_repeated_defaults(tmp_path):
    warnings = warnings_for(EXAMPLE)
    effect = [w for w in warnings if "no effect" in w]
    assert effect == []
    line = next(i for i, text in enumerate(EXAMPLE.read_text().splitlines(), 1) if "instance_count: 1" in text)
    assert any(w.startswith("section `training`:") and f"instance_count: 1 (line {line})" in w for w in warnings)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["realtime"].update(enabled=False),
     "field `realtime.min_capacity`: no effect: realtime.enabled is false"),
    (lambda d: d["realtime"].update(serverless={"memory_mb": 2048}),
     "field `realtime.canary`: no effect with a serverless endpoint"),
    (lambda d: d["realtime"].update(data_capture_percent=0),
     "field `data.capture_retention_days`: no effect: nothing is captured (realtime.data_capture_percent is 0)"),
    (lambda d: d["realtime"].update(enabled=False),
     "field `decision_rules`: no effect: realtime.enabled is false, and batch scoring publishes scores"),
    (lambda d: d["decision_rules"]["hard_rules"].append(
        {"name": "small", "field": "amount", "op": "lt", "value": 5, "decision": "APPROVE"}),
     "field `decision_rules.hard_rules.2.decision`: no effect: rule 'small' can only APPROVE"),
    (lambda d: d["schema"]["features"][0].update(default=0),
     "field `schema.features.0.default`: no effect: `default` is served for online features only"),
    (lambda d: d["evaluation"].update(slices=["country", "channel", "country"]),
     "field `evaluation.slices.2`: no effect: slice 'country' is listed twice"),
    (lambda d: d["schema"]["features"].append(
        {"name": "terminal_id", "type": "string", "model_input": False}),
     "no effect: 'terminal_id' is not a model input and no derived feature, slice or hard rule reads it"),
])
def test_settings_without_effect_are_warned_with_their_line(tmp_path, edit, expected):
    warnings = warnings_for(write(tmp_path, edit))
    assert any(expected in w and w.startswith("line ") for w in warnings), warnings


def test_drift_retraining_is_not_flagged_for_a_batch_only_team(tmp_path):
    """Batch inputs and scores are monitored too: on_drift acts without an endpoint."""
    warnings = warnings_for(write(tmp_path, lambda d: d["realtime"].update(enabled=False)))
    assert not any("retraining.on_drift" in w for w in warnings), warnings


def test_a_feature_used_only_to_derive_another_is_not_flagged():
    assert not any("home_country" in w for w in warnings_for(EXAMPLE))


def test_validate_prints_the_warnings_and_still_succeeds(tmp_path):
    path = write(tmp_path, lambda d: d["realtime"].update(enabled=False))
    result = cli("validate", str(path))
    assert result.returncode == 0
    assert f"warning: {path}: line" in result.stderr and "realtime.enabled is false" in result.stderr


def test_a_minimal_file_has_no_default_warnings(tmp_path):
    data = yaml.safe_load(EXAMPLE.read_text())
    minimal = {k: data[k] for k in ("name", "owner", "schema", "evaluation", "decision_rules")}
    minimal["evaluation"] = {"threshold": 0.3}
    path = tmp_path / "fraud-detection.yaml"
    path.write_text(yaml.safe_dump(minimal))
    assert not [w for w in warnings_for(path) if "repeat the default" in w and "section `schema`:" not in w]
