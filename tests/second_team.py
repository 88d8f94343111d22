"""A generated second team, deliberately unlike the example, for tests about *any* team.

Batch only (no endpoint, no decision rules), no ``environments`` (account and region come
from the caller, as from the CDK CLI), no pipeline; its own id, entity, timestamp and label
columns; merchant-keyed aggregates with other windows (7, 14, 60 days; count, max, mean);
a bool and an int record feature; JSON Lines to the Transform job; a ``roc_auc`` gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

NAME = "merchant-chargeback"


def team_data(num_round: int = 30) -> dict[str, Any]:
    """The team file as a mapping (tests tweak it before writing)."""
    return {
        "name": NAME,
        "description": "Chargeback risk of each settled card payment, scored daily per merchant.",
        "owner": {"team": "merchant-risk", "email": "merchant-risk@example.com"},
        "data": {"raw_prefix": "raw/settlements/", "ground_truth_prefix": "ground-truth/disputes/"},
        "schema": {
            "id_column": "payment_ref",
            "entity_key": "merchant_id",
            "timestamp_column": "settled_at",
            "label": "charged_back",
            "features": [
                {"name": "ticket_size", "type": "float", "min": 0, "max": 20000},
                {"name": "mcc_group", "type": "category",
                 "categories": ["retail", "travel", "services", "digital", "hospitality"]},
                {"name": "is_recurring", "type": "bool"},
                {"name": "items", "type": "int", "min": 1, "max": 50},
                {"name": "payments_7d", "type": "int", "source": "online", "min": 0, "default": 0,
                 "aggregate": {"fn": "count", "column": "ticket_size", "window_days": 7}},
                {"name": "ticket_max_14d", "type": "float", "source": "online", "nullable": True,
                 "aggregate": {"fn": "max", "column": "ticket_size", "window_days": 14}},
                {"name": "ticket_mean_60d", "type": "float", "source": "online", "nullable": True,
                 "aggregate": {"fn": "mean", "column": "ticket_size", "window_days": 60}},
                {"name": "ticket_vs_mean", "type": "float", "source": "derived", "nullable": True,
                 "derive": {"op": "ratio", "args": ["ticket_size", "ticket_mean_60d"]}},
                {"name": "settle_weekday", "type": "int", "source": "derived", "min": 0, "max": 6,
                 "derive": {"op": "day_of_week", "args": ["settled_at"]}},
            ],
        },
        "data_quality": {"min_rows": 500},
        "training": {"hyperparameters": {"num_round": num_round, "max_depth": 4, "eta": 0.2},
                     "use_spot": False},
        "evaluation": {"metric": "roc_auc", "threshold": 0.6, "slices": ["mcc_group"]},
        "batch": {"schedule": "cron(30 2 * * ? *)", "content_type": "application/jsonlines", "min_rows": 10},
        "realtime": {"enabled": False},
        "monitoring": {"schedule": "rate(1 day)", "score_threshold": 0.2},
    }


def write_second_team(models: Path, **overrides: Any) -> Path:
    """Write ``models/merchant-chargeback.yaml``; returns its path."""
    data = team_data(**overrides)
    models.mkdir(parents=True, exist_ok=True)
    path = models / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
