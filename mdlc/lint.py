"""Warnings of ``mdlc validate``: settings that have no effect, and settings that repeat the default.

A valid team file can still mislead its reader: a canary size on a serverless endpoint, a
false-positive operating point for a metric that does not use one. Those are reported one
by one, with the line. Settings spelled out with their default value are reported once per
section: they are harmless today but pin the file to today's defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mdlc.contract import TeamConfig, _line_of, load_team


def warnings_for(path: Path | str) -> list[str]:
    """Warnings for a team file that ``load_team`` accepts (an invalid file gets none)."""
    path = Path(path)
    team = load_team(path)
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    root = yaml.compose(text)
    found = [(loc, msg) for loc, msg in no_effect(team, raw)]
    out = [_at(root, loc, msg) for loc, msg in found]
    out += repeated_defaults(TeamConfig, raw, root)
    return out


def _at(root: yaml.Node, loc: tuple, message: str) -> str:
    line = _line_of(root, loc)
    where = f"line {line}, " if line else ""
    return f"{where}field `{'.'.join(str(p) for p in loc)}`: {message}"


# ----------------------------------------------------------------------------- no effect
def no_effect(team: TeamConfig, raw: dict[str, Any]) -> list[tuple[tuple, str]]:
    """(location in the file, why it does nothing) for each setting without effect."""
    out: list[tuple[tuple, str]] = []
    rt = raw.get("realtime") or {}
    if rt.get("enabled") is False:
        for key in rt:
            if key != "enabled":
                out.append((("realtime", key), "no effect: realtime.enabled is false (no endpoint, no API)"))
    elif team.realtime.serverless is not None:
        for key in ("canary", "min_capacity", "max_capacity", "target_invocations_per_instance", "instance_type"):
            if key in rt:
                out.append((("realtime", key), "no effect with a serverless endpoint (realtime.serverless is "
                            "set: no instances, no canary, no autoscaling)"))
    capture_off = not team.realtime.enabled or team.realtime.data_capture_percent == 0
    if capture_off:
        why = ("realtime.enabled is false" if not team.realtime.enabled else "realtime.data_capture_percent is 0")
        # (retraining.on_drift / on_quality_drop still act on batch inputs, scores and labels.)
        if "capture_retention_days" in (raw.get("data") or {}):
            out.append((("data", "capture_retention_days"), f"no effect: nothing is captured ({why})"))
    # (max_false_positive_rate always matters: evaluation reports recall at it, per slice too.)
    slices = team.evaluation.slices
    for i, s in enumerate(slices):
        if s in slices[:i]:
            out.append((("evaluation", "slices", i), f"no effect: slice {s!r} is listed twice"))
    if team.evaluation.approval_status == "Approved" and (raw.get("retraining") or {}).get("auto_approve") is False:
        out.append((("retraining", "auto_approve"),
                    "no effect: evaluation.approval_status Approved registers every model approved"))
    if not team.realtime.enabled and "decision_rules" in raw:
        out.append((("decision_rules",), "no effect: realtime.enabled is false, and batch scoring publishes "
                    "scores, not decisions; leave the section out"))
    rules = team.decision_rules.hard_rules if team.decision_rules else []
    for i, rule in enumerate(rules):
        if rule.decision == "APPROVE":
            out.append((("decision_rules", "hard_rules", i, "decision"),
                        f"no effect: rule {rule.name!r} can only APPROVE, and the strictest decision wins"))
    used = _referenced_features(team)
    for i, f in enumerate(team.schema.features):
        if f.default is not None and f.source != "online":
            out.append((("schema", "features", i, "default"),
                        f"no effect: `default` is served for online features only; {f.name!r} is {f.source}"))
        if not f.model_input and f.name not in used:
            out.append((("schema", "features", i, "model_input"),
                        f"no effect: {f.name!r} is not a model input and no derived feature, slice or "
                        "hard rule reads it"))
    return out


def _referenced_features(team: TeamConfig) -> set[str]:
    rules = team.decision_rules.hard_rules if team.decision_rules else []
    used = set(team.evaluation.slices) | {r.field for r in rules}
    for f in team.schema.features:
        if f.derive:
            used |= set(f.derive.args)
        if f.aggregate:
            used |= {f.aggregate.column, f.aggregate.key or team.schema.entity_key}
    return used


# ------------------------------------------------------------------------ repeated defaults
def repeated_defaults(model: type[BaseModel], raw: Any, root: yaml.Node) -> list[str]:
    """One warning per section listing the settings whose value is the default."""
    found: list[tuple[tuple, Any]] = []
    _walk(model, raw, (), found)
    sections: dict[str, list[str]] = {}
    for loc, value in found:
        section = ".".join(str(p) for p in loc[:-1]) or "(top level)"
        line = _line_of(root, loc)
        sections.setdefault(section, []).append(f"{loc[-1]}: {_show(value)}" + (f" (line {line})" if line else ""))
    return [
        f"section `{section}`: {len(items)} setting(s) repeat the default and can be left out: "
        + ", ".join(items)
        for section, items in sections.items()
    ]


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return f"all {len(value)} given settings are the defaults"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _walk(model: type[BaseModel], raw: Any, loc: tuple, found: list) -> None:
    if not isinstance(raw, dict):
        return
    by_alias = {(f.alias or name): (name, f) for name, f in model.model_fields.items()}
    for key, value in raw.items():
        if key not in by_alias:
            continue
        _, field = by_alias[key]
        default = _default(field)
        if default is not PydanticUndefined and _same(value, default):
            found.append(((*loc, key), value))
            continue
        sub = _model_of(field.annotation, value)
        if sub is not None and isinstance(value, dict):
            _walk(sub, value, (*loc, key), found)
        item_model = _list_item_model(field.annotation)
        if item_model is not None and isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item_model, item, (*loc, key, i), found)


def _default(field) -> Any:
    if field.default_factory is not None:
        try:
            return field.default_factory()
        except TypeError:
            return PydanticUndefined
    return field.default


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, BaseModel):
        default = default.model_dump(mode="json", by_alias=True)
        return isinstance(value, dict) and all(default.get(k) == v for k, v in value.items()) and bool(value)
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return value == default


def _candidates(annotation: Any) -> list[Any]:
    return list(getattr(annotation, "__args__", ())) or [annotation]


def _model_of(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The model a mapping value validates as (for unions, the one whose fields it uses)."""
    models = [a for a in _candidates(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if not isinstance(value, dict):
        return None
    for m in models:
        fields = {f.alias or n for n, f in m.model_fields.items()}
        if set(value) <= fields:
            return m
    return None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    for a in _candidates(annotation):
        args = getattr(a, "__args__", ())
        if (
            getattr(a, "__origin__", None) is list
            and args
            and isinstance(args[0], type)
            and issubclass(args[0], BaseModel)
        ):
            return args[0]
    return None
