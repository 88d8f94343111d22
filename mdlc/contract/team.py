"""The whole team file: the pipeline, tags and the TeamConfig that holds every section."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mdlc import names as resource_names
from mdlc.contract.base import TEAM_NAME_PATTERN, Strict, _raise_problems
from mdlc.contract.data import DataLocations, Feature, Schema
from mdlc.contract.decisions import DecisionRules
from mdlc.contract.environment import Environment, Owner
from mdlc.contract.inference import Batch, Realtime
from mdlc.contract.monitoring import Monitoring, Retraining, Streaming
from mdlc.contract.network import Network
from mdlc.contract.training import DataQuality, Evaluation, Training


class Pipeline(Strict):
    connection_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[a-f0-9-]+$",
        description="CodeConnections connection to GitHub, Bitbucket or GitLab (the default source).",
    )
    repository: str = Field(
        default="example-org/mdlc-templates",
        pattern=r"^[\w.-]+/[\w.-]+$",
        description="owner/name of the repository the connection reads.",
    )
    branch: str = Field(default="main")
    codecommit_repository: str | None = Field(
        default=None, description="Use a CodeCommit repository instead (closed to new customers)."
    )
    bootstrap_qualifier: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]{1,10}$",
        description="CDK bootstrap qualifier of the team's own bootstrap (`mdlc bootstrap`); default: "
                    "`m` + 9 hex digits of the SHA-256 of the team name. Set it only for an account "
                    "bootstrapped before under another qualifier.",
    )


#: AWS's tag limits (Tagging AWS resources: "Tag naming limits and requirements"): 50 tags per
#: resource, of which the stacks set 2 (``mdlc:team``, ``mdlc:stage``) and CloudFormation 3
#: (``aws:cloudformation:*``, not counted by AWS but kept clear here).
MAX_TEAM_TAGS = 40
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
#: Prefixes reserved: ``aws:`` by AWS (in any case), ``mdlc:`` by the project (the tags that say
#: which team and stage own a resource must not be overridden by a team file).
RESERVED_TAG_PREFIXES = ("aws:", "mdlc:")


def _tag_text_problem(text: str, limit: int, what: str) -> str | None:
    if len(text) > limit:
        return f"{what} of {len(text)} characters; expected at most {limit}"
    bad = sorted({c for c in text if unicodedata.category(c)[0] not in "LZN" and c not in "_.:/=+-@"})
    if bad:
        return (f"{what} with the character(s) {''.join(bad)!r}; expected letters, digits, spaces "
                "and _ . : / = + - @ only (AWS's tag character set)")
    return None


def check_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags AWS accepts on every resource and that leave the project's own tags alone."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    if len(tags) > MAX_TEAM_TAGS:
        problems.append(((), f"{len(tags)} tags; expected at most {MAX_TEAM_TAGS} (AWS allows 50 per resource, "
                         "and the stacks add their own)"))
    for key, value in tags.items():
        if not key:
            problems.append(((key,), "an empty tag key; expected 1-128 characters"))
        elif key.lower().startswith(RESERVED_TAG_PREFIXES):
            prefix = next(p for p in RESERVED_TAG_PREFIXES if key.lower().startswith(p))
            owner = "AWS" if prefix == "aws:" else "the project (team and stage of every resource)"
            problems.append(((key,), f"tag key {key!r} starts with {prefix!r}, reserved by {owner}; "
                             "expected a key of your own, e.g. cost-center"))
        else:
            why = _tag_text_problem(key, TAG_KEY_MAX, "a key")
            if why:
                problems.append(((key,), why))
        why = _tag_text_problem(value, TAG_VALUE_MAX, "a value")
        if why:
            problems.append(((key,), why))
    _raise_problems(problems)
    return tags


Tags = Annotated[
    dict[str, str],
    AfterValidator(check_tags),
    Field(default_factory=dict, description="Tags on every resource and stack of the team: at most 40, keys "
          "1-128 and values 0-256 letters, digits, spaces and _ . : / = + - @; keys starting aws: or mdlc: are "
          "reserved."),
]


class TeamConfig(Strict):
    """A model team's whole MDLC, as one file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"title": "MDLC team file", "$id": "mdlc-team.schema.json"},
    )

    name: str = Field(
        pattern=TEAM_NAME_PATTERN,
        description="Team/model name: lowercase, digits, hyphens; prefixes every stack and resource.",
    )
    description: str = Field(default="", description="One line on what the model decides.")
    owner: Owner
    environments: dict[str, Environment] = Field(
        default_factory=dict,
        description="Account and region per stage (e.g. dev, staging, production). Optional: "
        "without an entry for the stage, `cdk synth -c account=... -c region=...` decides, then "
        "the CDK CLI's own environment (profile, AWS_REGION), with a warning.",
    )
    data: DataLocations = Field(default_factory=DataLocations)
    schema_: Schema = Field(alias="schema", description="The feature schema.")
    data_quality: DataQuality = Field(default_factory=DataQuality)
    training: Training = Field(default_factory=Training)
    evaluation: Evaluation
    batch: Batch = Field(default_factory=Batch)
    realtime: Realtime = Field(default_factory=Realtime)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    retraining: Retraining = Field(default_factory=Retraining)
    streaming: Streaming = Field(
        default_factory=Streaming,
        description="The feature pipeline: stream consumer, lateness, freshness and "
        "reconciliation of the online feature table.")
    decision_rules: DecisionRules | None = Field(
        default=None,
        description="How a real-time score becomes a decision. Required when realtime.enabled is "
        "true; a batch-only team leaves it out (batch publishes scores, not decisions).",
    )
    pipeline: Pipeline = Field(default_factory=Pipeline)
    network: Network = Field(
        default_factory=Network,
        description="Network isolation of the SageMaker containers (on by default) and, optionally, the "
        "team's VPC for its jobs, endpoint and Lambda functions.")
    tags: Tags

    @field_validator("name")
    @classmethod
    def _team_name(cls, value: str) -> str:
        problems = resource_names.team_name_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _bucket_names(self) -> TeamConfig:
        """Every bucket the data stack names for a stage's account and region is one S3 accepts."""
        problems = []
        for stage, env in self.environments.items():
            for abbr in resource_names.BUCKETS:
                bucket = resource_names.bucket_name(self.name, abbr, env.account, env.region)
                why = resource_names.bucket_name_problems(bucket)
                if why:
                    room = len(self.name) - len(bucket) + 63
                    problems.append((("environments", stage, "region"),
                                     f"the {abbr} bucket would be named {bucket!r}, which {'; '.join(why)}; "
                                     f"expected a team name of at most {room} characters with region {env.region}"))
                    break
        _raise_problems(problems)
        return self

    @model_validator(mode="after")
    def _web_acl_environments(self) -> TeamConfig:
        """A web ACL is associated only in its own account and region (WAF refuses others)."""
        acl = self.realtime.api.waf_acl_arn
        if acl is None:
            return self
        problems = []
        pairs = acl.items() if isinstance(acl, dict) else [(stage, acl) for stage in self.environments]
        for stage, arn in pairs:
            _, _, _, region, account, _ = arn.split(":", 5)
            env = self.environments.get(stage)
            loc = ("realtime", "api", "waf_acl_arn") + ((stage,) if isinstance(acl, dict) else ())
            if isinstance(acl, dict) and self.environments and env is None:
                problems.append((loc, f"stage {stage!r} is not in environments ({', '.join(self.environments)})"))
            elif env is not None and (env.account, env.region) != (account, region):
                problems.append((loc, f"the web ACL is in account {account}, region {region}, but stage {stage!r} "
                                 f"deploys to {env.account}, {env.region}; expected a web ACL of that account "
                                 "and region" + ("" if isinstance(acl, dict) else
                                                 " (name one per stage: waf_acl_arn: {<stage>: <arn>})")))
        _raise_problems(problems)
        return self

    @field_validator("environments")
    @classmethod
    def _stage_names(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        for stage in value:
            if not re.match(r"^[a-z][a-z0-9-]{0,19}$", stage):
                raise ValueError(f"stage name {stage!r} must be lowercase letters, digits, hyphens")
        return value

    @model_validator(mode="after")
    def _cross_section(self) -> TeamConfig:
        problems: list[tuple[tuple[Any, ...], str]] = []
        schema = self.schema_
        names = {f.name: f for f in schema.features}
        inputs = {f.name for f in schema.model_features}
        for i, s in enumerate(self.evaluation.slices):
            if s not in names or names[s].type != "category" or s not in inputs:
                usable = sorted(n for n in inputs if names[n].type == "category")
                why = ("not a feature" if s not in names else f"a {names[s].type} feature" if names[s].type
                       != "category" else "not a model input (the test split holds model inputs only)")
                problems.append((("evaluation", "slices", i), f"{s!r} is {why}; expected a category model "
                                 f"input ({', '.join(usable) or 'none in this schema'})"))
        if self.realtime.enabled and self.decision_rules is None:
            problems.append((("decision_rules",), "missing; a team with realtime.enabled needs score_bands, "
                             "e.g. decision_rules: {score_bands: {approve_below: 0.3, decline_at_or_above: 0.85}}"))
        if self.decision_rules is not None:
            problems += self._rule_problems(self.decision_rules, names, inputs)
        problems += self._shadow_problems(names, inputs)
        problems += self._tuning_and_cost_problems(inputs)
        _raise_problems(problems)
        return self

    def _tuning_and_cost_problems(self, inputs: set[str]) -> list:
        """A tuning job's name (32 characters at most) must hold the team's prefix; cost-based
        bands need each transaction's amount in the test split (a model input)."""
        problems = []
        room = resource_names.TUNING_NAME_MAX - len(resource_names.team_prefix(self.name))
        if self.training.tuning is not None and room < resource_names.TUNING_HASH_MIN:
            problems.append((("training", "tuning"), f"team name {self.name!r} is too long for a tuning job: "
                             f"SageMaker allows {resource_names.TUNING_NAME_MAX} characters and the name is "
                             f"<team>--<{resource_names.TUNING_HASH_MIN}+ hex>; expected a team name of at most "
                             f"{resource_names.TUNING_NAME_MAX - 2 - resource_names.TUNING_HASH_MIN} characters"))
        costs = self.decision_rules.costs if self.decision_rules is not None else None
        amount = self.schema_.amount_column
        if costs is not None and (amount is None or amount not in inputs):
            why = "is not set" if amount is None else f"({amount!r}) is not a model input"
            problems.append((("decision_rules", "costs"), f"schema.amount_column {why}, so the test split has no "
                             "amounts to price fraud losses with; expected amount_column naming a model input"))
        return problems

    def _shadow_problems(self, names: dict[str, Feature], inputs: set[str]) -> list:
        """A shadow challenger needs the decision path it shadows; its policy reads what the live one may."""
        shadow = self.realtime.shadow
        if shadow is None:
            return []
        if not self.realtime.enabled:
            return [(("realtime", "shadow"), "needs realtime.enabled: true (a shadow decides live requests); "
                     "remove it, or compare offline with `mdlc backtest`")]
        problems = []
        if shadow.compare_metric == "amount_saved_share" and not self.schema_.amount_column:
            problems.append((("realtime", "shadow", "compare_metric"),
                             "'amount_saved_share' needs schema.amount_column; expected pr_auc, recall or precision"))
        if shadow.decision_rules is not None:
            problems += [(("realtime", "shadow", *where), message) for where, message
                         in self._rule_problems(shadow.decision_rules, names, inputs)]
        return problems

    def _rule_problems(self, rules: DecisionRules, names: dict[str, Feature], inputs: set[str]) -> list:
        """Hard rules and lists read the request or the model's features, nothing else."""
        schema = self.schema_
        readable = ({f.name for f in schema.record_features} | inputs
                    | {schema.entity_key, schema.id_column, schema.timestamp_column, "score"})
        hint = ", ".join(sorted(readable))
        problems = []
        for i, rule in enumerate(rules.hard_rules):
            if rule.field not in readable:
                why = "not a model input" if rule.field in names else "not a field"
                problems.append((("decision_rules", "hard_rules", i, "field"),
                                 f"{rule.field!r} is {why}, so the rule could never fire; expected a request "
                                 f"field, model input or 'score' ({hint})"))
            elif rule.op in ("in", "not_in") and not isinstance(rule.value, list):
                problems.append((("decision_rules", "hard_rules", i, "value"),
                                 f"op {rule.op!r} needs a list, e.g. value: [gaming, digital_goods]"))
            elif rule.op not in ("in", "not_in") and isinstance(rule.value, list):
                problems.append((("decision_rules", "hard_rules", i, "value"),
                                 f"op {rule.op!r} compares with one value, got a list; use op: in"))
            elif rule.op in ("gt", "ge", "lt", "le") and isinstance(rule.value, str):
                problems.append((("decision_rules", "hard_rules", i, "value"),
                                 f"op {rule.op!r} compares numbers, got {rule.value!r}; e.g. value: 10000"))
        for section in ("allow_list", "deny_list"):
            for key in getattr(rules, section):
                if key not in readable:
                    problems.append((("decision_rules", section, key),
                                     f"{key!r} is not a request field or model input; expected one of {hint}"))
        return problems

    @property
    def schema(self) -> Schema:  # type: ignore[override]
        return self.schema_


