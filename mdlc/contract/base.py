"""Shared grammar of the team file: patterns, schedules, the problem list and the strict base model."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)

TEAM_NAME_PATTERN = r"^[a-z][a-z0-9-]{2,28}[a-z0-9]$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"
# Only a coarse shape for editors (JSON Schema); the full grammar is `check_schedule`.
SCHEDULE_PATTERN = r"^(rate|cron)\(.+\)$"
INSTANCE_PATTERN = r"^ml\.[a-z0-9]+\.[0-9]*[a-z]+$"
IMAGE_PATTERN = r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[\w.-]+|@sha256:[a-f0-9]{64})$"
IDENTIFIER = r"^[a-z][a-z0-9_]{0,62}$"

Decision = Literal["APPROVE", "REVIEW", "DECLINE"]

#: What a person should write where a pattern did not match (never the regex itself).
PATTERN_EXAMPLES = {
    TEAM_NAME_PATTERN: "4-30 lowercase letters, digits or hyphens starting with a letter, e.g. merchant-chargeback",
    ACCOUNT_PATTERN: "a 12-digit AWS account id in quotes, e.g. \"111111111111\"",
    REGION_PATTERN: "an AWS region, e.g. eu-west-1 or us-east-2",
    INSTANCE_PATTERN: "a SageMaker instance type, e.g. ml.m5.xlarge",
    IMAGE_PATTERN: "an ECR image URI with a tag or digest, "
    "e.g. 111111111111.dkr.ecr.eu-west-1.amazonaws.com/my-model:1.0",
    IDENTIFIER: "a snake_case name starting with a letter, e.g. merchant_id",
    r"^[a-z0-9_\-/]+/$": "an S3 prefix of lowercase letters, digits, _ - / ending in /, e.g. raw/settlements/",
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "an e-mail address, e.g. team@example.com",
    r"^[0-9]+\.[0-9]+-[0-9]+$": "a container version, e.g. 1.7-1",
    r"^[\w.-]+/[\w.-]+$": "owner/name of a repository, e.g. example-org/mdlc-templates",
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[a-f0-9-]+$":
        "a CodeConnections ARN, e.g. arn:aws:codeconnections:eu-west-1:111111111111:connection/0c5b7f2e-…",
    SCHEDULE_PATTERN: "rate(1 day), rate(6 hours) or cron(0 3 * * ? *)",
}

SCHEDULE_EXAMPLE = (
    "an EventBridge schedule, e.g. rate(1 day), rate(6 hours) or cron(0 3 * * ? *) "
    "(cron has 6 fields: minutes hours day-of-month month day-of-week year, and one of "
    "day-of-month / day-of-week is ?)"
)
_CRON_FIELD = {
    # field: (allowed characters besides digits and , - * /, smallest, largest value)
    "minutes": ("", 0, 59),
    "hours": ("", 0, 23),
    "day-of-month": ("?LW", 1, 31),
    "month": ("JANFEBMRPYULGSOCTNVD", 1, 12),
    "day-of-week": ("?L#SUNMOTEWDHFRIA", 1, 7),
    "year": ("", 1970, 2199),
}


def check_schedule(value: str) -> str:
    """Raise ValueError unless ``value`` is an EventBridge ``rate()`` or 6-field ``cron()``.

    EventBridge's grammar: ``rate(1 minute|hour|day)`` (singular for 1) or
    ``rate(N minutes|hours|days)`` with N > 1; ``cron(min hour dom month dow year)`` where
    exactly one of day-of-month and day-of-week is ``?``.
    """
    rate = re.fullmatch(r"rate\((\d+) ([a-z]+)\)", value)
    if rate:
        n, unit = int(rate.group(1)), rate.group(2)
        if n < 1:
            raise ValueError(f"a rate needs a positive number; expected {SCHEDULE_EXAMPLE}")
        singular, plural = unit.rstrip("s"), unit.rstrip("s") + "s"
        if singular not in ("minute", "hour", "day"):
            raise ValueError(f"rate unit {unit!r} is not minute(s), hour(s) or day(s); expected {SCHEDULE_EXAMPLE}")
        wanted = singular if n == 1 else plural
        if unit != wanted:
            raise ValueError(f"EventBridge wants rate({n} {wanted}), not rate({n} {unit})")
        return value
    cron = re.fullmatch(r"cron\((.*)\)", value)
    if not cron:
        raise ValueError(f"not a rate() or cron() expression; expected {SCHEDULE_EXAMPLE}")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ValueError(f"cron() has {len(fields)} field(s), EventBridge needs 6; expected {SCHEDULE_EXAMPLE}")
    for text, (name, (letters, lo, hi)) in zip(fields, _CRON_FIELD.items(), strict=True):
        if any(c not in "0123456789,-*/" + letters for c in text.upper()):
            raise ValueError(f"cron() {name} field {text!r} has characters EventBridge does not accept; "
                             f"expected {SCHEDULE_EXAMPLE}")
        for number in re.findall(r"\d+", text.split("#")[0].split("/")[0]):
            if not lo <= int(number) <= hi:
                raise ValueError(f"cron() {name} field {text!r}: {number} is outside {lo}-{hi}")
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        raise ValueError(f"cron() needs ? in exactly one of day-of-month ({dom!r}) and day-of-week ({dow!r}); "
                         "e.g. cron(0 3 * * ? *)")
    return value


Schedule = Annotated[
    str,
    AfterValidator(check_schedule),
    Field(json_schema_extra={"pattern": SCHEDULE_PATTERN, "examples": ["rate(1 day)", "cron(0 3 * * ? *)"]}),
]


class Problems(ValueError):
    """Problems found by a cross-field check, each at its own field path (relative to the
    model that raised it), so the error names the offending line, not the section's."""

    def __init__(self, problems: list[tuple[tuple[Any, ...], str]]):
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))


def _raise_problems(problems: list[tuple[tuple[Any, ...], str]]) -> None:
    if problems:
        raise Problems(problems)


class Strict(BaseModel):
    """Base of every section: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


