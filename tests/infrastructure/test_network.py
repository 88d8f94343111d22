"""Network isolation and VPC placement in the synthesised templates (product: issue 27 item 4).

Every team's SageMaker jobs and models run with EnableNetworkIsolation as its file says; a team
whose file sets ``network.vpc`` gets its functions, jobs and models in its subnets, a workload
security group that only sends HTTPS, and the VPC endpoints of every service its functions are
granted; cdk-nag and checkov stay clean for it.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from mdlc.contract import MODELS_DIR, load_team, team_files
from tests.conftest import CLI_ACCOUNT, CLI_REGION
from tests.infrastructure.test_checkov import findings, run_checkov
from tests.infrastructure.test_state_machines import all_states, render
from tests.second_team import NAME as SECOND_TEAM
from tests.synth import synth

TEAMS = sorted({p.stem for p in team_files()} | {SECOND_TEAM})
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60718"]
OWN_GROUPS = ["sg-0a1b2c3d4e5f60718"]
ROUTE_TABLE = "rtb-0a1b2c3d4e5f60718"
VPC_TEAM, SHARED_VPC_TEAM = "vpc-team", "shared-vpc-team"


def _jobs_and_models(templates: dict[str, dict]) -> list[tuple[str, str, dict]]:
    """(state machine, state name, Parameters) of every SageMaker job and model task."""
    found = []
    for stack, template in templates.items():
        for logical_id, res in template["Resources"].items():
            if res["Type"] != "AWS::StepFunctions::StateMachine":
                continue
            definition = render(res["Properties"]["DefinitionString"])
            for name, state, _ in all_states(definition):
                resource = state.get("Resource", "")
                if re.search(r":sagemaker:create(Processing|Training|Transform)Job|:sagemaker:createModel$", resource):
                    found.append((f"{stack}/{logical_id}", name, state))
    return found


def _network(state: dict) -> dict:
    """The network settings of a job or model task, wherever its API keeps them."""
    parameters = state["Parameters"]
    return parameters.get("NetworkConfig", parameters) if "createProcessingJob" in state["Resource"] else parameters


@pytest.mark.parametrize("name", TEAMS)
def test_every_job_and_model_runs_with_the_isolation_its_team_file_sets(assembly, team_dir, name):
    team = load_team(team_dir / f"{name}.yaml")
    tasks = _jobs_and_models({s: t for s, t in assembly.templates.items() if s.startswith(f"{name}-")})
    kinds = {re.sub(r"\.sync$", "", state["Resource"].rsplit(":", 1)[1]) for _, _, state in tasks}
    assert kinds == {"createProcessingJob", "createTrainingJob", "createTransformJob", "createModel"}
    for machine, state_name, state in tasks:
        if "createTransformJob" in state["Resource"]:
            # A transform job has no isolation of its own: it runs with its model's (createModel).
            assert "EnableNetworkIsolation" not in state["Parameters"], (machine, state_name)
            continue
        assert _network(state).get("EnableNetworkIsolation") is team.network.isolation, (machine, state_name)
        assert "VpcConfig" not in _network(state), (machine, state_name)  # no network.vpc in these files


def test_an_isolated_training_job_gets_its_code_as_a_channel(assembly):
    """Example team: SageMaker never downloads sagemaker_submit_directory, an isolated container cannot."""
    [(_, _, train)] = [t for t in _jobs_and_models({"t": assembly.template("fraud-detection-training")})
                       if "createTrainingJob" in t[2]["Resource"]]
    parameters = train["Parameters"]
    submit = json.loads(parameters["HyperParameters"]["sagemaker_submit_directory"])
    [code] = [c for c in parameters["InputDataConfig"] if c["ChannelName"] == "code"]
    source = code["DataSource"]["S3DataSource"]
    assert submit == "/opt/ml/input/data/code/" + source["S3Uri"].rsplit("/", 1)[1]
    assert source["S3DataDistributionType"] == "FullyReplicated"  # every instance gets the code


# --------------------------------------------------------------------------- a team in a VPC
@pytest.fixture(scope="module")
def vpc_assembly(tmp_path_factory):
    """The example team twice, at the CLI's account: in a VPC with the security group and endpoints
    created (and distributed training), and in a shared VPC whose groups and endpoints exist."""
    models = tmp_path_factory.mktemp("vpc-models")
    vpc = {"id": "vpc-0a1b2c3d4e5f60718", "subnet_ids": SUBNETS}
    for name, network, instances in (
            (VPC_TEAM, {**vpc, "route_table_ids": [ROUTE_TABLE]}, 2),
            (SHARED_VPC_TEAM, {**vpc, "security_group_ids": OWN_GROUPS, "create_endpoints": False}, 1)):
        data = yaml.safe_load((MODELS_DIR / "fraud-detection.yaml").read_text())
        data.pop("environments", None)
        data["training"]["instance_count"] = instances
        (models / f"{name}.yaml").write_text(yaml.safe_dump({**data, "name": name, "network": {"vpc": network}},
                                                            sort_keys=False))
    out = tmp_path_factory.mktemp("vpc-cdk.out")
    assembly = synth(out, models_dir=models, default_account=CLI_ACCOUNT, default_region=CLI_REGION,
                     pipelines=False, validate=True)
    yield assembly
    shutil.rmtree(out / "build", ignore_errors=True)


def _of(assembly, team: str, kind: str) -> dict[str, dict]:
    return {f"{s}/{k}": r for s, t in assembly.templates.items() if s.startswith(f"{team}-")
            for k, r in t["Resources"].items() if r["Type"] == kind}


def test_every_function_job_and_model_of_a_vpc_team_is_in_its_subnets(vpc_assembly):
    functions = _of(vpc_assembly, VPC_TEAM, "AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        config = function["Properties"]["VpcConfig"]
        assert config["SubnetIds"] == SUBNETS, name
        assert config["SecurityGroupIds"] == [{"Fn::ImportValue": f"{VPC_TEAM}--workload-security-group"}], name
    tasks = _jobs_and_models({s: t for s, t in vpc_assembly.templates.items() if s.startswith(f"{VPC_TEAM}-")})
    for machine, state_name, state in tasks:
        if "createTransformJob" not in state["Resource"]:
            assert _network(state)["VpcConfig"]["Subnets"] == SUBNETS, (machine, state_name)
            assert _network(state)["EnableNetworkIsolation"] is True, (machine, state_name)


def test_the_workload_group_sends_only_https_and_the_endpoints_admit_only_it(vpc_assembly):
    groups = _of(vpc_assembly, VPC_TEAM, "AWS::EC2::SecurityGroup")
    [workload] = [k for k in groups if "Workload" in k]
    [endpoints] = [k for k in groups if "EndpointSecurityGroup" in k]
    for group in groups.values():  # the inline rule is CDK's "no traffic" placeholder; no ingress inline
        assert group["Properties"]["SecurityGroupEgress"] == [{
            "CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic", "FromPort": 252,
            "IpProtocol": "icmp", "ToPort": 86}]
        assert "SecurityGroupIngress" not in group["Properties"]
    workload_id = {"Fn::GetAtt": [workload.split("/")[1], "GroupId"]}
    endpoints_id = {"Fn::GetAtt": [endpoints.split("/")[1], "GroupId"]}
    rules = {kind: [r["Properties"] for r in _of(vpc_assembly, VPC_TEAM, f"AWS::EC2::SecurityGroup{kind}").values()]
             for kind in ("Egress", "Ingress")}
    # Distributed training (instance_count 2): the job's instances reach each other, in the group only.
    peers = {kind: [r for r in found if workload_id in (r.get("SourceSecurityGroupId"),
                                                        r.get("DestinationSecurityGroupId"))
                    and r["GroupId"] == workload_id] for kind, found in rules.items()}
    assert [len(peers["Egress"]), len(peers["Ingress"])] == [1, 1]
    egress = [r for r in rules["Egress"] if r not in peers["Egress"]]
    assert egress and all(r["GroupId"] == workload_id for r in egress)
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in egress} == {("tcp", 443, 443)}
    assert sorted(r.get("CidrIp", "endpoints") for r in egress) == ["0.0.0.0/0", "endpoints"]
    ingress = [r for r in rules["Ingress"] if r not in peers["Ingress"]]
    assert [(r["GroupId"], r["SourceSecurityGroupId"], r["FromPort"]) for r in ingress] == [
        (endpoints_id, workload_id, 443)]


# How an IAM service prefix is named in its VPC endpoint's service name, where they differ.
ENDPOINT_NAME = {"kinesis": ["kinesis-streams"], "cloudwatch": ["monitoring"], "ecr": ["ecr.api", "ecr.dkr"]}


def _function_services(assembly, team: str) -> set[str]:
    """Service prefixes of every action granted to a role that a function of the team runs as."""
    roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in _of(assembly, team, "AWS::Lambda::Function").values()}
    services = set()
    for policy in _of(assembly, team, "AWS::IAM::Policy").values():
        if not {r.get("Ref") for r in policy["Properties"]["Roles"]} & roles:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                service, _, name = action.partition(":")
                if service == "sagemaker":
                    service = "sagemaker.runtime" if name.startswith("InvokeEndpoint") else "sagemaker.api"
                services.add(service)
    return services - {"iam", "ec2"}  # PassRole makes no call; the ENI calls are Lambda's own


def test_a_vpc_team_gets_an_endpoint_for_every_service_its_functions_are_granted(vpc_assembly):
    endpoints = _of(vpc_assembly, VPC_TEAM, "AWS::EC2::VPCEndpoint")
    names = {e["Properties"]["ServiceName"].removeprefix(f"com.amazonaws.{CLI_REGION}."): e["Properties"]
             for e in endpoints.values()}
    needed = {n for s in _function_services(vpc_assembly, VPC_TEAM) for n in ENDPOINT_NAME.get(s, [s])}
    assert {"s3", "dynamodb", "kms", "sagemaker.api", "sagemaker.runtime", "states"} <= needed
    assert needed <= set(names), f"no endpoint for {sorted(needed - set(names))}"
    assert set(names) == needed  # and none that nothing calls (SageMaker's channels are S3's)
    for name, props in names.items():
        if name in ("s3", "dynamodb"):
            assert props["VpcEndpointType"] == "Gateway" and props["RouteTableIds"] == [ROUTE_TABLE]
        else:
            assert props["VpcEndpointType"] == "Interface" and props["PrivateDnsEnabled"] is True
            assert props["SubnetIds"] == SUBNETS


def test_a_team_in_a_shared_vpc_uses_its_own_groups_and_creates_no_endpoints(vpc_assembly):
    assert _of(vpc_assembly, SHARED_VPC_TEAM, "AWS::EC2::VPCEndpoint") == {}
    assert _of(vpc_assembly, SHARED_VPC_TEAM, "AWS::EC2::SecurityGroup") == {}
    for name, function in _of(vpc_assembly, SHARED_VPC_TEAM, "AWS::Lambda::Function").items():
        assert function["Properties"]["VpcConfig"]["SecurityGroupIds"] == OWN_GROUPS, name


def test_a_vpc_teams_roles_manage_interfaces_only_in_its_vpc(vpc_assembly):
    """Lambda and SageMaker create the interfaces with the roles; deletes are scoped to the VPC."""
    vpc_arn = f"arn:aws:ec2:{CLI_REGION}:{CLI_ACCOUNT}:vpc/vpc-0a1b2c3d4e5f60718"
    statements = [s for p in _of(vpc_assembly, VPC_TEAM, "AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if "ec2:DeleteNetworkInterface" in s["Action"]]
    assert statements
    for statement in statements:
        assert statement["Condition"] == {"ArnEquals": {"ec2:Vpc": vpc_arn}}, statement
        assert statement["Resource"] == f"arn:aws:ec2:{CLI_REGION}:{CLI_ACCOUNT}:network-interface/*"


def test_cdk_nag_and_checkov_are_clean_for_a_vpc_team(vpc_assembly):
    report = json.loads((vpc_assembly.outdir / "validation-report.json").read_text())
    assert [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])] == []
    failed, _, scanned = findings(run_checkov(vpc_assembly.outdir))
    assert any(name.startswith(f"{VPC_TEAM}-data") for name in scanned)
    assert [f"{c['check_id']} {c['resource']}" for c in failed] == []

