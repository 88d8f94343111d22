"""Loading a team file: YAML guards, line numbers in errors, the JSON schema and the runtime spec."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from mdlc import pan
from mdlc.contract.base import PATTERN_EXAMPLES, Problems
from mdlc.contract.team import TeamConfig


# --------------------------------------------------------------------------- loading
class TeamFileError(ValueError):
    """A team file that cannot be used, with one line per problem naming file and field."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(
            f"{self.path}: {len(problems)} problem(s) in the team file\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the deepest YAML node that ``loc`` reaches."""
    line = None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


_NOTHING = object()


def _describe(error: dict[str, Any], root: yaml.Node | None) -> list[str]:
    """One line per problem: line, field path, what was given, what was expected."""
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Problems):
        # A cross-field check: each problem at its own path below the model that raised it.
        return [_line(root, (*loc, *sub), msg) for sub, msg in cause.problems]
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return [_line(root, loc, "missing; expected it to be set")]
    if error["type"] == "extra_forbidden":
        return [_line(root, loc, "unknown field (check the spelling; see `mdlc schema`)")]
    if error["type"] == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        msg = PATTERN_EXAMPLES.get(pattern, "a value in the documented format (see `mdlc schema`)")
    return [_line(root, loc, msg, error.get("input"))]


def _line(root: yaml.Node | None, loc: tuple[Any, ...], msg: str, given: Any = _NOTHING) -> str:
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(root, loc)
    where = f"line {line}, " if line else ""
    if given is _NOTHING:
        return f"{where}field `{path}`: {msg}"
    if isinstance(given, dict | list):
        given_txt = "a mapping" if isinstance(given, dict) else "a list"
    else:
        given_txt = repr(given)
    if "expected" in msg:  # the message already says what was expected (cross-field checks, schedules)
        return f"{where}field `{path}`: got {given_txt}; {msg}"
    return f"{where}field `{path}`: got {given_txt}; expected: {msg}"


#: A team file is configuration, not a data set: far above any real one (the example is 5 KB).
MAX_TEAM_FILE_BYTES = 256 * 1024
#: Entries of any one list or mapping (deny/allow lists, categories, features, hard rules).
MAX_COLLECTION_ITEMS = 1000
#: Nesting of lists and mappings; the deepest real path (a hard rule's list value) is 5.
MAX_NESTING = 20
#: Characters of any one value (a description, a category, a list entry).
MAX_SCALAR_CHARS = 4096
#: Numbers in a team file are limits, rates and thresholds: far below this. It also keeps out
#: CDK's number tokens (doubles near -1.9e289) and Python's 4300-digit int conversion limit.
MAX_NUMBER = 10**15
#: Strings CDK or CloudFormation would interpret instead of passing on as data: CDK's encoded
#: string and list tokens (an unknown one fails every team's synth, as `cdk synth` resolves
#: the whole app) and CloudFormation dynamic references (resolved from SSM/Secrets Manager at
#: deploy time).
CODE_LIKE = re.compile(r"\$\{Token\[|#\{Token\[|\{\{resolve:", re.IGNORECASE)
_LARGE_LIST_HINT = ("; a longer list is data, not configuration: keep it in a DynamoDB table or S3 object "
                    "the rules read, not in the team file")


def _scan_yaml(text: str) -> list[str]:
    """Problems of a team file as data, found on the YAML event stream before anything is built.

    The event parser is iterative, so a 50,000-deep nesting is stopped at ``MAX_NESTING``
    (the recursive composer and pydantic would end in RecursionError, and PyYAML's scanner
    is quadratic in flow depth); integers are checked before Python converts them.
    """
    resolver = yaml.resolver.Resolver()
    problems: list[str] = []
    stack: list[_Open] = []

    def where(event: yaml.Event, *extra: Any, depth: int | None = None) -> str:
        loc = [entry.at for entry in stack[:depth] if entry.at is not None] + list(extra)
        return f"line {event.start_mark.line + 1}, field `{'.'.join(map(str, loc)) or '(top level)'}`"

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if len(problems) >= MAX_LISTED_PROBLEMS:
            break
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            if stack and stack[-1].mapping:
                stack[-1].expecting_key = True
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        top = stack[-1] if stack else None
        is_key = top is not None and top.mapping and top.expecting_key
        if top is not None and (is_key or not top.mapping):
            top.count += 1
            if top.count == MAX_COLLECTION_ITEMS + 1:
                kind = "entries" if top.mapping else "items"
                problems.append(f"{where(event, depth=len(stack) - 1)}: more than {MAX_COLLECTION_ITEMS} {kind}; "
                                f"expected at most {MAX_COLLECTION_ITEMS}" + _LARGE_LIST_HINT)
            if not top.mapping:
                top.at = top.count - 1
        if is_key:
            assert top is not None
            top.expecting_key = False
            if not isinstance(event, yaml.ScalarEvent):
                problems.append(f"{where(event, depth=len(stack) - 1)}: a list, mapping or alias used as a key; "
                                "expected a plain name")
                top.at = "?"
            else:
                top.at = event.value
                problems += _scalar_problems(event, resolver, where(event))
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append(_Open(isinstance(event, yaml.MappingStartEvent)))
            continue
        if top is not None and top.mapping:
            top.expecting_key = True
        if isinstance(event, yaml.AliasEvent):
            problems.append(f"{where(event)}: an alias (*{event.anchor}); expected the value written out "
                            "(a team file is plain data: anchors and aliases are not accepted)")
        elif isinstance(event, yaml.ScalarEvent):
            problems += _scalar_problems(event, resolver, where(event))
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_NESTING:
                problems.append(f"{where(event)}: lists and mappings nested more than {MAX_NESTING} deep; "
                                "expected the team file's documented structure (see `mdlc schema`)")
                break
            stack.append(_Open(isinstance(event, yaml.MappingStartEvent)))
    return problems


class _Open:
    """A list or mapping being read: where the reader is in it, and how many entries it has."""

    def __init__(self, mapping: bool) -> None:
        self.mapping = mapping
        self.at: Any = None
        self.expecting_key = True
        self.count = 0


MAX_LISTED_PROBLEMS = 20


def _scalar_problems(event: yaml.ScalarEvent, resolver: yaml.resolver.Resolver, where: str) -> list[str]:
    value = event.value
    if event.tag is None and event.implicit[0]:
        tag = resolver.resolve(yaml.ScalarNode, value, (True, False))
        digits = sum(c.isalnum() for c in value)  # decimal, or 0x/0o/0b digits
        if tag == "tag:yaml.org,2002:int" and pan.looks_like_pan(value):
            return [f"{where}: looks like a card number (PAN); expected {pan.PAN_EXPECTED}"]
        if tag == "tag:yaml.org,2002:int" and digits > 15:
            return [f"{where}: an integer of {digits} digits; expected a number below {MAX_NUMBER:.0e}"]
        if tag == "tag:yaml.org,2002:float":
            text = value.replace("_", "").lower()
            number = (0.0 if ":" in text  # YAML 1.1 sexagesimal: small by construction
                      else math.inf if text.lstrip("+-") in (".inf", ".nan") else float(text))
            if not math.isfinite(number) or abs(number) >= MAX_NUMBER:
                return [f"{where}: got {value[:40]}; expected a finite number below {MAX_NUMBER:.0e}"]
    if len(value) > MAX_SCALAR_CHARS:
        return [f"{where}: a value of {len(value)} characters; expected at most {MAX_SCALAR_CHARS}"]
    if CODE_LIKE.search(value):
        return [f"{where}: got {value[:60]!r}, which CDK or CloudFormation would interpret as a reference "
                "(a CDK token ${Token[...]}/#{Token[...]} or a {{resolve:...}} dynamic reference); "
                "expected a plain value: a team file is data, never code"]
    return []


def parse_team(text: str, path: Path | str = "<team file>") -> TeamConfig:
    """Validate a team file's text; raise TeamFileError naming every problem."""
    size = len(text.encode("utf-8"))
    if size > MAX_TEAM_FILE_BYTES:
        raise TeamFileError(path, [f"the file has {size} bytes; expected at most {MAX_TEAM_FILE_BYTES}"
                                   + _LARGE_LIST_HINT])
    try:
        problems = _scan_yaml(text)
    except yaml.YAMLError:
        problems = []  # reported with its line by the full parse below
    if problems:
        raise TeamFileError(path, problems)
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise TeamFileError(path, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(data, dict):
        raise TeamFileError(path, [f"expected a mapping of settings at the top, got {type(data).__name__}"])
    try:
        return TeamConfig.model_validate(data)
    except ValidationError as exc:
        raise TeamFileError(path, [line for e in exc.errors() for line in _describe(e, root)]) from None


def load_team(path: Path | str) -> TeamConfig:
    """Read and validate ``models/<team>.yaml``; the file name must match the team name."""
    path = Path(path)
    if not path.is_file():
        raise TeamFileError(path, ["file not found; expected a YAML team file (see models/)"])
    size = path.stat().st_size
    if size > MAX_TEAM_FILE_BYTES:  # before reading it: a team file is never this large
        raise TeamFileError(path, [f"the file has {size} bytes; expected at most {MAX_TEAM_FILE_BYTES}"
                                   + _LARGE_LIST_HINT])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TeamFileError(path, [f"byte {exc.start} is not UTF-8; expected a UTF-8 text file"]) from None
    team = parse_team(text, path)
    if path.stem != team.name:
        raise TeamFileError(
            path, [f"field `name`: got {team.name!r}; expected the file name {path.stem!r}"]
        )
    return team


def team_file_hash(path: Path | str) -> str:
    """sha256 of the team file, recorded in model lineage."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"


def team_files(models_dir: Path = MODELS_DIR) -> list[Path]:
    return sorted(models_dir.glob("*.yaml"))


def json_schema() -> dict[str, Any]:
    return TeamConfig.model_json_schema(by_alias=True)


def runtime_spec(team: TeamConfig) -> dict[str, Any]:
    """The JSON-serialisable team spec handed to job scripts and Lambda handlers."""
    return team.model_dump(mode="json", by_alias=True)
