"""The team file's network section (product: mdlc/contract/network.py): isolation on by default,
VPC ids checked by pattern (no lookup), and every mistake named with what was expected."""

from __future__ import annotations

import pytest

from mdlc.contract import MODELS_DIR, TeamFileError, parse_team

EXAMPLE = (MODELS_DIR / "fraud-detection.yaml").read_text()
VPC = "vpc-0a1b2c3d4e5f60718"
SUBNET_A, SUBNET_B = "subnet-0a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60718"
ROUTES = "[rtb-0a1b2c3d4e5f60718]"


def _with(network: str):
    return parse_team(EXAMPLE + "\nnetwork:\n" + network)


def _problems(network: str) -> str:
    with pytest.raises(TeamFileError) as error:
        _with(network)
    return str(error.value)


def test_without_a_network_section_containers_are_isolated_and_nothing_is_in_a_vpc():
    team = parse_team(EXAMPLE)
    assert team.network.isolation is True
    assert team.network.vpc is None


def test_a_vpc_with_subnets_and_route_tables_is_accepted_with_a_created_group_and_endpoints():
    team = _with(f"  vpc:\n    id: {VPC}\n    subnet_ids: [{SUBNET_A}, {SUBNET_B}]\n    route_table_ids: {ROUTES}\n")
    assert team.network.vpc.subnet_ids == [SUBNET_A, SUBNET_B]
    assert team.network.vpc.security_group_ids == [] and team.network.vpc.create_endpoints is True


def test_an_isolation_opt_out_is_kept():
    assert _with("  isolation: false\n").network.isolation is False


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("id", "vpc-12", "a VPC id, e.g. vpc-0a1b2c3d4e5f60718"),
    ("id", "VPC-0A1B2C3D4E5F60718", "a VPC id"),
    ("subnet_ids", "[sub-0a1b2c3d]", "a subnet id, e.g. subnet-"),
    ("security_group_ids", "[sg-xyz]", "a security group id, e.g. sg-"),
    ("route_table_ids", "[rtb-1]", "a route table id, e.g. rtb-"),
])
def test_a_malformed_id_names_the_field_and_the_expected_shape(field, value, expected):
    fields = {"id": VPC, "subnet_ids": f"[{SUBNET_A}]", "route_table_ids": ROUTES, field: value}
    text = _problems("  vpc:\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items()))
    assert f"network.vpc.{field}" in text and expected in text and value.strip("[]") in text


def test_route_tables_are_required_to_create_the_gateway_endpoints():
    text = _problems(f"  vpc:\n    id: {VPC}\n    subnet_ids: [{SUBNET_A}]\n")
    assert "network.vpc.route_table_ids" in text and "create_endpoints: false" in text
    # A VPC that has its endpoints needs none.
    assert _with(f"  vpc:\n    id: {VPC}\n    subnet_ids: [{SUBNET_A}]\n    create_endpoints: false\n").network.vpc


def test_a_repeated_subnet_and_an_empty_subnet_list_are_refused():
    text = _problems(f"  vpc:\n    id: {VPC}\n    subnet_ids: [{SUBNET_A}, {SUBNET_A}]\n"
                     f"    route_table_ids: {ROUTES}\n")
    assert "network.vpc.subnet_ids" in text and "more than once" in text
    text = _problems(f"  vpc:\n    id: {VPC}\n    subnet_ids: []\n    route_table_ids: {ROUTES}\n")
    assert "network.vpc.subnet_ids" in text


def test_an_unknown_network_key_is_refused():
    assert "network.vpcs" in _problems(f"  vpcs:\n    id: {VPC}\n")
