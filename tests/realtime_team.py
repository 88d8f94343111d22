"""A generated realtime team unlike the example, for tests about *any* realtime team.

An e-wallet's payments: its own id, entity (``wallet_id``), timestamp and label columns;
aggregates keyed by the wallet, by the paying device's fingerprint and by the IP prefix, over
windows the example does not use (15m, 45m, 2h, 6h, 3d); count, max, count_distinct and min;
no ``environments`` (account and region come from the caller). ``mdlc local lifecycle`` runs
it end to end on records generated from its schema (``mdlc/synthetic_team.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

NAME = "wallet-velocity"


def team_data() -> dict[str, Any]:
    """The team file as a mapping (tests tweak it before writing)."""
    return {
        "name": NAME,
        "description": "Risk of each e-wallet payment, decided in real time.",
        "owner": {"team": "wallet-risk", "email": "wallet-risk@example.com"},
        "data": {"raw_prefix": "raw/wallet-payments/", "ground_truth_prefix": "ground-truth/wallet-disputes/"},
        "schema": {
            "id_column": "payment_id",
            "entity_key": "wallet_id",
            "timestamp_column": "paid_at",
            "label": "disputed",
            "amount_column": "amount_eur",
            "features": [
                {"name": "amount_eur", "type": "float", "min": 0, "max": 5000},
                {"name": "method", "type": "category", "categories": ["card", "bank", "voucher", "crypto"]},
                {"name": "device_fp", "type": "string", "model_input": False},
                {"name": "ip_prefix", "type": "string", "nullable": True, "model_input": False},
                {"name": "payments_15m", "type": "int", "source": "online", "min": 0, "default": 0,
                 "aggregate": {"fn": "count", "column": "amount_eur", "window": "15m"}},
                {"name": "amount_max_2h", "type": "float", "source": "online", "nullable": True,
                 "aggregate": {"fn": "max", "column": "amount_eur", "window": "2h"}},
                {"name": "device_payments_45m", "type": "int", "source": "online", "min": 0, "default": 0,
                 "aggregate": {"fn": "count", "column": "amount_eur", "key": "device_fp", "window": "45m"}},
                {"name": "wallets_per_device_3d", "type": "int", "source": "online", "min": 0, "default": 0,
                 "aggregate": {"fn": "count_distinct", "column": "wallet_id", "key": "device_fp", "window": "3d"}},
                {"name": "ip_min_amount_6h", "type": "float", "source": "online", "default": 0,
                 "aggregate": {"fn": "min", "column": "amount_eur", "key": "ip_prefix", "window": "6h"}},
                {"name": "amount_vs_max_2h", "type": "float", "source": "derived", "nullable": True,
                 "derive": {"op": "ratio", "args": ["amount_eur", "amount_max_2h"]}},
                {"name": "pay_hour", "type": "int", "source": "derived", "min": 0, "max": 23,
                 "derive": {"op": "hour_of_day", "args": ["paid_at"]}},
            ],
        },
        "data_quality": {"min_rows": 500},
        "training": {"hyperparameters": {"num_round": 80, "max_depth": 4, "eta": 0.2}, "use_spot": False},
        "evaluation": {"metric": "roc_auc", "threshold": 0.6, "slices": ["method"]},
        "realtime": {"max_capacity": 2, "provisioned_concurrency": 2},  # within the 100 ms p99 budget
        "decision_rules": {"score_bands": {"approve_below": 0.2, "decline_at_or_above": 0.9}},
        "monitoring": {"schedule": "rate(1 day)", "score_threshold": 0.2},
        "streaming": {"allowed_lateness_minutes": 20},
    }


def write_realtime_team(models: Path, **changes: Any) -> Path:
    """Write ``models/wallet-velocity.yaml``; returns its path."""
    data = team_data()
    data.update(changes)
    models.mkdir(parents=True, exist_ok=True)
    path = models / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
