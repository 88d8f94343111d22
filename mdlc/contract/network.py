"""Network: container isolation of SageMaker jobs and models, and placement in the team's VPC."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from mdlc.contract.base import PATTERN_EXAMPLES, Problems, Strict

# EC2 ids: a prefix, then 8 (older resources) or 17 lowercase hex digits. Checked by pattern
# only: the synth makes no AWS call, so it cannot look a VPC or subnet up.
VPC_ID_PATTERN = r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$"
SUBNET_ID_PATTERN = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"
SECURITY_GROUP_ID_PATTERN = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"
ROUTE_TABLE_ID_PATTERN = r"^rtb-([0-9a-f]{8}|[0-9a-f]{17})$"
PATTERN_EXAMPLES[VPC_ID_PATTERN] = "a VPC id, e.g. vpc-0a1b2c3d4e5f60718"
PATTERN_EXAMPLES[SUBNET_ID_PATTERN] = "a subnet id, e.g. subnet-0a1b2c3d4e5f60718"
PATTERN_EXAMPLES[SECURITY_GROUP_ID_PATTERN] = "a security group id, e.g. sg-0a1b2c3d4e5f60718"
PATTERN_EXAMPLES[ROUTE_TABLE_ID_PATTERN] = "a route table id, e.g. rtb-0a1b2c3d4e5f60718"


def _repeated(values: list[str], field: str) -> list[tuple[tuple[str], str]]:
    seen = sorted({v for i, v in enumerate(values) if v in values[:i]})
    return [((field,), f"{seen} listed more than once; expected each id once")] if seen else []


class Vpc(Strict):
    """The team's VPC: where its SageMaker jobs, endpoint and Lambda functions run."""

    id: str = Field(pattern=VPC_ID_PATTERN, description="The VPC id, e.g. vpc-0a1b2c3d4e5f60718.")
    subnet_ids: list[Annotated[str, Field(pattern=SUBNET_ID_PATTERN)]] = Field(
        min_length=1, max_length=16,
        description="Private subnets of the VPC (no route to the internet is needed; two or more in "
        "different Availability Zones keep the endpoint and functions up when one zone is not). Every "
        "job, endpoint instance and function gets a network interface in them.")
    route_table_ids: list[Annotated[str, Field(pattern=ROUTE_TABLE_ID_PATTERN)]] = Field(
        default_factory=list, max_length=16,
        description="The route tables of those subnets: the S3 and DynamoDB gateway endpoints add their "
        "routes to them. Required when create_endpoints is true.")
    security_group_ids: list[Annotated[str, Field(pattern=SECURITY_GROUP_ID_PATTERN)]] = Field(
        default_factory=list, max_length=5,
        description="Security groups of the team's jobs, endpoint and functions. Empty (default): the data "
        "stack creates one that allows only HTTPS out (to the VPC endpoints) and nothing in.")
    create_endpoints: bool = Field(
        default=True,
        description="Create the VPC endpoints the team's code calls (derived from its IAM policies: S3 and "
        "DynamoDB gateways, KMS, SageMaker API and runtime, Step Functions, ...). false when the VPC "
        "already has them, e.g. a VPC shared by several teams: a VPC holds one interface endpoint with "
        "private DNS per service, so only one team (or the network team) can create each.")

    @model_validator(mode="after")
    def _ids(self) -> Vpc:
        problems = [*_repeated(self.subnet_ids, "subnet_ids"), *_repeated(self.route_table_ids, "route_table_ids"),
                    *_repeated(self.security_group_ids, "security_group_ids")]
        if self.create_endpoints and not self.route_table_ids:
            problems.append((("route_table_ids",), "empty while create_endpoints is true; expected the route "
                             "tables of the subnets (the S3 and DynamoDB gateway endpoints route through "
                             "them), e.g. [rtb-0a1b2c3d4e5f60718], or create_endpoints: false when the VPC "
                             "already has its endpoints"))
        if problems:
            raise Problems(problems)
        return self


class Network(Strict):
    """Network isolation of the team's SageMaker containers, and (optionally) its VPC."""

    isolation: bool = Field(
        default=True,
        description="EnableNetworkIsolation on every training, processing and transform job and every model "
        "(endpoint): the container gets no network and no AWS credentials; SageMaker itself moves the input "
        "channels and model artifacts. The built-in XGBoost image and the project's job scripts need nothing "
        "more. Set false only for a custom training image whose code calls AWS or the internet itself.")
    vpc: Vpc | None = Field(
        default=None,
        description="Place the team's SageMaker jobs, endpoint and Lambda functions in these subnets. "
        "Absent (default): they run in AWS-managed networking.")
