"""One request as the harness' IAM evaluator sees it (`iam.py`), and as the services that
check their caller read it (`caller_needs.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    """One request: action, resource ARNs, parameters and condition context."""

    action: str
    resources: list[str]
    params: dict[str, Any]
    region: str
    account: str
    context: dict[str, str] = field(default_factory=dict)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"
