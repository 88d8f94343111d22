"""The team contract: one YAML file per model team, validated by one pydantic model.

Everything a model team may change lives in ``models/<team>.yaml`` and is described here;
every other value in the templates is derived from it. Each field carries a description,
which ``mdlc schema`` publishes as JSON Schema so that editors complete and check the file.

The package is split by team-file section; this module re-exports every public name, so
``from mdlc.contract import X`` is the one import path:

- ``base``: Shared grammar of the team file: patterns, schedules, the problem list and the strict base model.
- ``environment``: Who owns a team and where it deploys: owner, account, region (and the regions the images exist in).
- ``data``: The team's data: locations, the record schema, features (columns, online aggregates, derived).
- ``training``: Training: the algorithm (built-in or custom), data quality and the evaluation gate.
- ``tuning``: Hyperparameter tuning (``training.tuning``): the search space and budget, checked against the algorithm.
- ``inference``: Inference: batch transform, the real-time endpoint, its canary and its decision API.
- ``monitoring``: Monitoring, retraining and the event stream.
- ``decisions``: The decision policy: score bands, hard rules, allow/deny lists.
- ``network``: Network isolation of the SageMaker containers and the team's VPC (subnets, endpoints).
- ``team``: The whole team file: the pipeline, tags and the TeamConfig that holds every section.
- ``loading``: Loading a team file: YAML guards, line numbers in errors, the JSON schema and the runtime spec.
"""

from __future__ import annotations

from mdlc.contract.base import (  # noqa: F401
    ACCOUNT_PATTERN,
    IDENTIFIER,
    IMAGE_PATTERN,
    INSTANCE_PATTERN,
    PATTERN_EXAMPLES,
    REGION_PATTERN,
    SCHEDULE_EXAMPLE,
    SCHEDULE_PATTERN,
    TEAM_NAME_PATTERN,
    Decision,
    Problems,
    Schedule,
    Strict,
    check_schedule,
)
from mdlc.contract.data import (  # noqa: F401
    DERIVE_ARITY,
    NUMERIC_OPS,
    TIME_OPS,
    Aggregate,
    AggregateFn,
    DataLocations,
    Derive,
    DeriveOp,
    Feature,
    FeatureType,
    Schema,
)
from mdlc.contract.decisions import (  # noqa: F401
    Costs,
    DecisionRules,
    HardRule,
    ScoreBands,
)
from mdlc.contract.environment import (  # noqa: F401
    SUPPORTED_PARTITION,
    Environment,
    Owner,
    image_regions,
    partition_of,
    region_problem,
    supported_regions,
)
from mdlc.contract.inference import (  # noqa: F401
    DECISION_PATH_FUNCTIONS,
    DEFAULT_LAMBDA_CONCURRENCY_QUOTA,
    LAMBDA_UNRESERVED_MINIMUM,
    ROLE_OR_ACCOUNT_PATTERN,
    WEB_ACL_PATTERN,
    Batch,
    Canary,
    Realtime,
    RealtimeApi,
    Serverless,
    Shadow,
    unreserved_minimum,
)
from mdlc.contract.loading import (  # noqa: F401
    CODE_LIKE,
    MAX_COLLECTION_ITEMS,
    MAX_LISTED_PROBLEMS,
    MAX_NESTING,
    MAX_NUMBER,
    MAX_SCALAR_CHARS,
    MAX_TEAM_FILE_BYTES,
    MODELS_DIR,
    REPO_ROOT,
    TeamFileError,
    _line_of,
    json_schema,
    load_team,
    parse_team,
    runtime_spec,
    team_file_hash,
    team_files,
)
from mdlc.contract.monitoring import (  # noqa: F401
    Monitoring,
    Retraining,
    Streaming,
)
from mdlc.contract.network import (  # noqa: F401
    ROUTE_TABLE_ID_PATTERN,
    SECURITY_GROUP_ID_PATTERN,
    SUBNET_ID_PATTERN,
    VPC_ID_PATTERN,
    Network,
    Vpc,
)
from mdlc.contract.team import (  # noqa: F401
    MAX_TEAM_TAGS,
    RESERVED_TAG_PREFIXES,
    TAG_KEY_MAX,
    TAG_VALUE_MAX,
    Pipeline,
    Tags,
    TeamConfig,
    check_tags,
)
from mdlc.contract.training import (  # noqa: F401
    PROBABILITY_OBJECTIVES,
    BuiltinAlgorithm,
    CustomAlgorithm,
    CustomRuntime,
    DataQuality,
    Evaluation,
    Training,
)
from mdlc.contract.tuning import (  # noqa: F401
    XGBOOST_TUNABLE,
    Tuning,
    TuningRange,
)
