"""``mdlc diff``: the semantic difference between two team files, and what it changes.

Both files are validated and compared on their effective values (defaults filled in), so
reordering keys, reformatting or spelling out a default is no change, while removing a
setting that differed from its default is. Features and hard rules are matched by name.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdlc.contract import TeamConfig, TeamFileError, parse_team
from mdlc.impact import impact_of
from mdlc.names import state_machine_name

ABSENT = "(not set)"
# Lists whose items have a name: compared item by item, keyed by it.
NAMED_LISTS = {"schema.features", "decision_rules.hard_rules"}


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths → leaf values; named lists keyed by item name, other lists are leaves."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out or {prefix: {}}
    if isinstance(value, list) and prefix in NAMED_LISTS:
        out = {}
        for item in value:
            out |= flatten(item, f"{prefix}.{item['name']}")
        return out or {prefix: []}
    return {prefix: value}


def effective(team: TeamConfig) -> dict[str, Any]:
    return flatten(team.model_dump(mode="json", by_alias=True))


def changes(old: TeamConfig, new: TeamConfig) -> list[Change]:
    a, b = effective(old), effective(new)
    keys = list(a) + [k for k in b if k not in a]
    return [Change(k, a.get(k, ABSENT), b.get(k, ABSENT)) for k in keys if a.get(k, ABSENT) != b.get(k, ABSENT)]


def _show(value: Any) -> str:
    return ABSENT if value == ABSENT else json.dumps(value)


def report(old: TeamConfig, new: TeamConfig, old_label: str, new_label: str) -> str:
    """Human-readable report: every changed setting, then the stacks and workflows it touches."""
    found = changes(old, new)
    if not found:
        return f"{old_label} → {new_label}: no change in effect\n"
    team = new.name
    lines = [f"{old_label} → {new_label}: {len(found)} setting(s) changed", ""]
    stacks: dict[str, list[str]] = {}
    workflows: dict[str, list[str]] = {}
    for c in found:
        impact = impact_of(c.path)
        lines.append(f"  {c.path}: {_show(c.old)} → {_show(c.new)}")
        lines.append(f"      {impact.effect}")
        for s in impact.stacks:
            stacks.setdefault(f"{team}-{s}", []).append(c.path)
        for w in impact.workflows:
            workflows.setdefault(state_machine_name(team, w), []).append(c.path)
    lines += policy_lines(old, new)
    lines += ["", "Deployed system:"]
    if not stacks and not workflows:
        lines.append("  nothing: documentation only")
    for title, group in (("stack", stacks), ("workflow", workflows)):
        for name, paths in group.items():
            lines.append(f"  {title} {name}: {', '.join(paths)}")
    return "\n".join(lines) + "\n"


def policy_lines(old: TeamConfig, new: TeamConfig) -> list[str]:
    """The decision policy's version change, when the policy decides differently (``mdlc.policy``)."""
    from mdlc import policy
    from mdlc.contract import runtime_spec

    if old.decision_rules is None or new.decision_rules is None:
        return []
    before, after = policy.policy_hash(runtime_spec(old)), policy.policy_hash(runtime_spec(new))
    if before == after:
        return []
    return ["", f"Decision policy: {before} → {after} (policy_version of every decision); its effect on labelled "
                "history: `mdlc diff --backtest` or `mdlc backtest`"]


def backtest_lines(old: TeamConfig, new: TeamConfig, team_path: Path, **options: Any) -> list[str]:
    """The backtest summary of a policy change (nothing when the policy is unchanged)."""
    if not policy_lines(old, new):
        return []
    from mdlc.backtest_report import summary
    from mdlc.backtest_run import run_backtest

    report = run_backtest(old, new, team_path, **options)
    return ["", *summary(report)]


def git_head_text(path: Path) -> str:
    """The file as committed at git HEAD (``git show HEAD:<path>``)."""
    path = path.resolve()
    try:
        root = subprocess.run(
            ["git", "-C", str(path.parent), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        rel = path.relative_to(Path(root).resolve()).as_posix()
        return subprocess.run(
            ["git", "-C", root, "show", f"HEAD:{rel}"], capture_output=True, text=True, check=True
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise TeamFileError(path, [f"no version at git HEAD to compare with ({detail.strip()})"]) from None


def diff_files(old_path: Path, new_path: Path | None, backtest: dict[str, Any] | None = None) -> str:
    """Report for ``A B``, or for ``A`` against its version at git HEAD; with ``backtest`` (the
    options of :func:`mdlc.backtest_run.run_backtest`) and a policy change, its backtest summary."""
    for path in (old_path, new_path):
        if path is not None and not path.is_file():
            raise TeamFileError(path, ["file not found; expected a YAML team file"])
    if new_path is None:
        old = parse_team(git_head_text(old_path), f"HEAD:{old_path}")
        new = parse_team(old_path.read_text(encoding="utf-8"), old_path)
        text = report(old, new, f"{old_path} (HEAD)", f"{old_path} (working tree)")
    else:
        old = parse_team(old_path.read_text(encoding="utf-8"), old_path)
        new = parse_team(new_path.read_text(encoding="utf-8"), new_path)
        text = report(old, new, str(old_path), str(new_path))
    if backtest is None:
        return text
    lines = backtest_lines(old, new, new_path or old_path, **backtest)
    return text + ("\n".join(lines) + "\n" if lines else "")
