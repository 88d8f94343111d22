"""Where the team's code runs on the network: SageMaker container isolation and the team's VPC.

Read from the team file's ``network`` section only (no VPC lookup at synth: the ids are the
team file's, checked by pattern). The data stack owns what the VPC placement creates (the
workload security group, the VPC endpoints: :class:`TeamNetwork`); every other stack places
its jobs, models and functions with :func:`job_network` and :func:`lambda_vpc`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from mdlc import names
from mdlc.contract import TeamConfig, Vpc
from stacks.common.nag import skip_checkov

HTTPS = 443

#: The VPC endpoint(s) a call of each IAM service prefix goes through, from inside the VPC.
#: ``None``: no call from inside the VPC (iam:PassRole only authorises handing a role over; the
#: ec2 network-interface actions are used by Lambda and SageMaker themselves, outside it).
#: A service missing here stops the synth (:func:`endpoint_services`), so a new grant cannot
#: silently leave the VPC's functions without a route to the service.
ENDPOINT_SERVICES: dict[str, tuple[str, ...] | None] = {
    "s3": ("s3",),
    "dynamodb": ("dynamodb",),
    "kms": ("kms",),
    "states": ("states",),
    "kinesis": ("kinesis-streams",),
    "events": ("events",),
    "sns": ("sns",),
    "sqs": ("sqs",),
    "cloudwatch": ("monitoring",),
    "logs": ("logs",),
    "xray": ("xray",),
    "ssm": ("ssm",),
    "application-autoscaling": ("application-autoscaling",),
    "lambda": ("lambda",),
    "sts": ("sts",),
    "execute-api": ("execute-api",),
    "ecr": ("ecr.api", "ecr.dkr"),
    "iam": None,
    "ec2": None,
}
#: S3 and DynamoDB are reached through gateway endpoints (routes, no network interface).
GATEWAY_SERVICES = ("s3", "dynamodb")


@dataclass(frozen=True)
class JobNetwork:
    """The network settings of the team's SageMaker jobs and models, in API shape."""

    isolation: bool
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()

    def vpc_config(self) -> dict[str, list[str]] | None:
        if not self.subnet_ids:
            return None
        return {"SecurityGroupIds": list(self.security_group_ids), "Subnets": list(self.subnet_ids)}

    def processing(self) -> dict[str, Any]:
        """``NetworkConfig`` of CreateProcessingJob."""
        config: dict[str, Any] = {"EnableNetworkIsolation": self.isolation}
        if (vpc := self.vpc_config()) is not None:
            config["VpcConfig"] = vpc
        return {"NetworkConfig": config}

    def container(self) -> dict[str, Any]:
        """The top-level fields of CreateTrainingJob and CreateModel (a transform job runs with its model's)."""
        config: dict[str, Any] = {"EnableNetworkIsolation": self.isolation}
        if (vpc := self.vpc_config()) is not None:
            config["VpcConfig"] = vpc
        return config


def workload_security_group_ids(team: TeamConfig) -> list[str]:
    """The security groups of the team's jobs, models and functions: the team file's, or the one
    the data stack creates (imported by its export name: the stacks are deployed in order)."""
    vpc = team.network.vpc
    if vpc is None:
        return []
    if vpc.security_group_ids:
        return list(vpc.security_group_ids)
    return [cdk.Fn.import_value(security_group_export(team.name))]


def security_group_export(team: str) -> str:
    """Export name of the workload security group the data stack creates."""
    return f"{names.team_prefix(team)}workload-security-group"


def job_network(team: TeamConfig) -> JobNetwork:
    """Isolation (``network.isolation``) and, with ``network.vpc``, the team's subnets and groups."""
    vpc = team.network.vpc
    if vpc is None:
        return JobNetwork(isolation=team.network.isolation)
    return JobNetwork(isolation=team.network.isolation, subnet_ids=tuple(vpc.subnet_ids),
                      security_group_ids=tuple(workload_security_group_ids(team)))


def eni_statements(vpc: Vpc, security_group_ids: Iterable[str], *, permissions: bool, scope: Construct
                   ) -> list[iam.PolicyStatement]:
    """What a service needs of its caller's role to put network interfaces into the team's subnets
    (Lambda's and SageMaker's documented lists; SageMaker also grants itself use of the interface,
    ``permissions``). Interface ids exist only at run time: the writes are limited to the VPC."""
    stack = cdk.Stack.of(scope)

    def arn(resource: str, name: str) -> str:
        return stack.format_arn(service="ec2", resource=resource, resource_name=name)

    interfaces = arn("network-interface", "*")
    vpc_arn = arn("vpc", vpc.id)
    describe = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions"]
    writes = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    if permissions:
        writes += ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterfacePermission"]
    return [
        iam.PolicyStatement(sid="DescribeNetwork", actions=describe, resources=["*"]),
        iam.PolicyStatement(
            sid="CreateInterfaceInTeamSubnets", actions=["ec2:CreateNetworkInterface"],
            resources=[interfaces, *(arn("subnet", s) for s in vpc.subnet_ids),
                       *(arn("security-group", g) for g in security_group_ids)]),
        iam.PolicyStatement(sid="ManageInterfacesInTeamVpc", actions=writes, resources=[interfaces],
                            conditions={"ArnEquals": {"ec2:Vpc": vpc_arn}}),
    ]


def endpoint_services(policies: Iterable[tuple[str, dict]]) -> dict[str, list[str]]:
    """VPC endpoint service → the principals whose granted actions need it.

    ``policies`` are (principal, resolved policy document) of every principal that calls AWS
    from inside the VPC. Derived from the synthesised grants, so the list follows the code."""
    needs: dict[str, list[str]] = {}
    for principal, document in policies:
        for statement in document.get("Statement", []):
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                for endpoint in _endpoints_of(action, principal):
                    needs.setdefault(endpoint, [])
                    if principal not in needs[endpoint]:
                        needs[endpoint].append(principal)
    return dict(sorted(needs.items()))


def _endpoints_of(action: str, principal: str) -> tuple[str, ...]:
    service, _, name = action.partition(":")
    if service == "sagemaker":
        # InvokeEndpoint* is SageMaker's data plane (runtime.sagemaker); every other action its API.
        if "*" in name:
            return ("sagemaker.api", "sagemaker.runtime")
        return ("sagemaker.runtime",) if name.lower().startswith("invokeendpoint") else ("sagemaker.api",)
    if service not in ENDPOINT_SERVICES:
        raise ValueError(f"{principal}: grants {action!r}, a service with no VPC endpoint in "
                         f"stacks/common/network.py ENDPOINT_SERVICES; expected one of "
                         f"{sorted({*ENDPOINT_SERVICES, 'sagemaker'})} (add the service's endpoint there)")
    return ENDPOINT_SERVICES[service] or ()


class TeamNetwork(Construct):
    """The team's footing in its VPC: the workload security group (unless the team file names its
    own) and, with ``create_endpoints``, the endpoints its code calls (:meth:`add_endpoints`)."""

    def __init__(self, scope: Construct, construct_id: str, *, team: TeamConfig) -> None:
        super().__init__(scope, construct_id)
        vpc = team.network.vpc
        assert vpc is not None
        self.vpc = vpc
        self._team = team
        self.endpoints: dict[str, ec2.CfnVPCEndpoint] = {}
        if vpc.security_group_ids:
            self.workload_group_ids = list(vpc.security_group_ids)
            self._workload: ec2.CfnSecurityGroup | None = None
        else:
            self._workload = ec2.CfnSecurityGroup(
                self, "WorkloadSecurityGroup", vpc_id=vpc.id,
                group_description=f"{team.name}: SageMaker jobs, endpoint and Lambda functions (HTTPS out only)",
                # An explicit rule replaces EC2's default allow-all egress; the real rules follow.
                security_group_egress=[_NO_TRAFFIC])
            self.workload_group_ids = [self._workload.attr_group_id]
            cdk.CfnOutput(self, "WorkloadSecurityGroupId", value=self._workload.attr_group_id,
                          export_name=security_group_export(team.name),
                          description="Security group of the team's jobs, endpoint and functions")
            skip_checkov(self._workload, "CKV2_AWS_5",
                         "Attached in the team's other stacks (functions, jobs, endpoint), which import it "
                         "by its export name; checkov reads one template at a time.")
            if team.training.instance_count > 1:
                # Distributed training: the instances of one job talk to each other (collective).
                for kind, rule in (("Ingress", ec2.CfnSecurityGroupIngress), ("Egress", ec2.CfnSecurityGroupEgress)):
                    peer = {"source_security_group_id" if kind == "Ingress" else "destination_security_group_id":
                            self._workload.attr_group_id}
                    rule(self, f"TrainingPeers{kind}", group_id=self._workload.attr_group_id, ip_protocol="tcp",
                         from_port=0, to_port=65535, description="Instances of one distributed training job",
                         **peer)

    def add_endpoints(self, services: dict[str, list[str]]) -> None:
        """Create the endpoints of ``services`` (:func:`endpoint_services`) unless the VPC has its
        own (``create_endpoints: false``), and open the workload group's HTTPS egress to them."""
        group_id = self._create_endpoints(services) if self.vpc.create_endpoints else None
        if self._workload is not None:
            self._open_egress(group_id)

    def _create_endpoints(self, services: dict[str, list[str]]) -> str | None:
        stack = cdk.Stack.of(self)
        group_id = None
        if any(s not in GATEWAY_SERVICES for s in services):
            group = ec2.CfnSecurityGroup(
                self, "EndpointSecurityGroup", vpc_id=self.vpc.id,
                group_description=f"{self._team.name}: interface VPC endpoints (HTTPS in from the team workloads)",
                security_group_egress=[_NO_TRAFFIC])
            group_id = group.attr_group_id
            for index, source in enumerate(self.workload_group_ids):
                ec2.CfnSecurityGroupIngress(self, f"EndpointIngress{index}", group_id=group_id, ip_protocol="tcp",
                                            from_port=HTTPS, to_port=HTTPS, source_security_group_id=source,
                                            description="HTTPS from the team's jobs, endpoint and functions")
        for service, principals in services.items():
            construct_id = "Endpoint" + "".join(part.capitalize() for part in service.replace("-", ".").split("."))
            gateway = service in GATEWAY_SERVICES
            endpoint = ec2.CfnVPCEndpoint(
                self, construct_id, vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{stack.region}.{service}",
                vpc_endpoint_type="Gateway" if gateway else "Interface",
                route_table_ids=list(self.vpc.route_table_ids) if gateway else None,
                subnet_ids=None if gateway else list(self.vpc.subnet_ids),
                security_group_ids=None if gateway else [group_id],
                private_dns_enabled=None if gateway else True)
            endpoint.add_metadata("mdlc:needed-by", sorted(principals))
            self.endpoints[service] = endpoint
        return group_id

    def _open_egress(self, endpoint_group: str | None) -> None:
        assert self._workload is not None
        if endpoint_group is not None:
            ec2.CfnSecurityGroupEgress(self, "HttpsToEndpoints", group_id=self._workload.attr_group_id,
                                       ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS,
                                       destination_security_group_id=endpoint_group,
                                       description="HTTPS to the interface VPC endpoints")
        # Gateway endpoints (S3, DynamoDB) are routes to the services' public addresses: HTTPS to
        # any address, where the subnets' routes (no NAT, no internet gateway) reach only them.
        ec2.CfnSecurityGroupEgress(self, "HttpsToGateways", group_id=self._workload.attr_group_id,
                                   ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_ip="0.0.0.0/0",
                                   description="HTTPS to S3 and DynamoDB through the gateway endpoints")


# CDK's own placeholder for "no egress" (a rule that matches no packet).
_NO_TRAFFIC = ec2.CfnSecurityGroup.EgressProperty(
    ip_protocol="icmp", from_port=252, to_port=86, cidr_ip="255.255.255.255/32", description="Disallow all traffic")


def granted_policies(principals: Iterable[tuple[str, iam.Role]]) -> list[tuple[str, dict]]:
    """(principal, policy document) of each role's inline policies, as they stand (call once every
    stack has made its grants: the team's stacks are all built)."""
    documents = []
    for name, role in principals:
        for child in role.node.children:
            if isinstance(child, iam.Policy):
                documents.append((name, child.document.to_json()))
    return documents


def vpc_callers(team: TeamConfig, functions: Iterable[tuple[str, iam.Role]], sagemaker_role: iam.Role
                ) -> list[tuple[str, dict]]:
    """The policies of everything that calls AWS from inside the team's VPC: every function; the
    SageMaker containers only without isolation (an isolated container calls nothing), and
    SageMaker itself, which moves the input channels and model artifacts through the VPC's S3 route."""
    callers = granted_policies(functions)
    if team.network.isolation:
        callers.append(("SageMaker (input channels, model artifacts)",
                        {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"]}]}))
    else:
        callers += granted_policies([("SageMaker containers", sagemaker_role)])
    return callers
