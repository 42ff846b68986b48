"""The workers' security group in the default VPC: no ingress (SSH only from --admin-cidr)."""

from __future__ import annotations

import ipaddress
from typing import Any

from transcriber_cli.aws import naming
from transcriber_cli.cloud.plan import Resource
from transcriber_cli.cloud.stack import Stack, tag_map
from transcriber_cli.errors import SetupError, UsageError

# The widest SSH source accepted: an office or VPN range, not a provider's or the internet.
WIDEST_PREFIX = {4: 16, 6: 48}


def check_cidr(cidr: str | None) -> str | None:
    if cidr is None:
        return None
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise UsageError(f"invalid --admin-cidr {cidr!r}: expected e.g. 203.0.113.7/32") from None
    widest = WIDEST_PREFIX[net.version]
    if net.prefixlen < widest:
        raise UsageError(
            f"--admin-cidr {cidr} opens SSH to {net.num_addresses:,} addresses; refused "
            f"(IPv{net.version}: /{widest} or narrower)"
        )
    return str(net)


def _ranges(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule's source as EC2 takes it: IPv4 and IPv6 ranges are separate lists."""
    if ":" in rule["cidr"]:
        return {"Ipv6Ranges": [{"CidrIpv6": rule["cidr"], "Description": "admin SSH"}]}
    return {"IpRanges": [{"CidrIp": rule["cidr"], "Description": "admin SSH"}]}


def default_vpc(stack: Stack) -> str:
    vpcs = stack.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    if not vpcs["Vpcs"]:
        raise SetupError(
            f"no default VPC in {stack.region}",
            hint="create one with 'aws ec2 create-default-vpc'",
        )
    return vpcs["Vpcs"][0]["VpcId"]


def default_subnets(stack: Stack, vpc_id: str) -> list[str]:
    subnets = stack.client("ec2").describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    return sorted(s["SubnetId"] for s in subnets)


def internet_gateway_only(stack: Stack, vpc_id: str, subnets: list[str]) -> list[str]:
    """The ``subnets`` whose default route leads to an internet gateway: there, an instance
    without a public address reaches nothing outside the VPC (no AWS API, no apt, no PyPI)."""
    tables = stack.client("ec2").describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    )["RouteTables"]
    main, table_of = None, {}
    for table in tables:
        for link in table.get("Associations", []):
            if link.get("Main"):
                main = table
            elif link.get("SubnetId"):
                table_of[link["SubnetId"]] = table

    def via_gateway(table: dict | None) -> bool:
        for route in (table or {}).get("Routes", []):
            if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                return str(route.get("GatewayId", "")).startswith("igw-")
        return False

    return [s for s in subnets if via_gateway(table_of.get(s, main))]


class SecurityGroup(Resource):
    kind = "security-group"

    def __init__(self, stack: Stack, admin_cidr: str | None = None) -> None:
        super().__init__(stack)
        self.admin_cidr = check_cidr(admin_cidr)
        self.ec2 = stack.client("ec2")
        self._vpc: str | None = None

    @property
    def name(self) -> str:
        return naming.security_group_name(self.stack.name)

    @property
    def vpc(self) -> str:
        if self._vpc is None:
            self._vpc = default_vpc(self.stack)
        return self._vpc

    def desired(self) -> dict[str, Any]:
        ingress = []
        if self.admin_cidr:
            ingress.append({"protocol": "tcp", "from": 22, "to": 22, "cidr": self.admin_cidr})
        return {"ingress": ingress, "tags": self.stack.tags}

    def find(self) -> dict[str, Any] | None:
        groups = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "group-name", "Values": [self.name]},
                {"Name": "vpc-id", "Values": [self.vpc]},
            ]
        )["SecurityGroups"]
        return groups[0] if groups else None

    def current(self) -> dict[str, Any] | None:
        group = self.find()
        if group is None:
            return None
        ingress = [
            {
                "protocol": p.get("IpProtocol"),
                "from": p.get("FromPort"),
                "to": p.get("ToPort"),
                "cidr": r.get("CidrIp") or r["CidrIpv6"],
            }
            for p in group.get("IpPermissions", [])
            for r in [*p.get("IpRanges", []), *p.get("Ipv6Ranges", [])]
        ]
        egress = [
            {"protocol": p.get("IpProtocol"), "cidr": r["CidrIp"]}
            for p in group.get("IpPermissionsEgress", [])
            for r in p.get("IpRanges", [])
        ]
        return {
            "ingress": ingress,
            "egress": egress,
            "tags": tag_map(group.get("Tags", [])),
            "id": group["GroupId"],
            "vpc": group["VpcId"],
        }

    def create(self) -> None:
        # A new group allows all egress (workers reach S3, SQS, MongoDB and the model hub).
        self.ec2.create_security_group(
            GroupName=self.name,
            Description=f"transcriber workers of stack {self.stack.name} (no ingress)",
            VpcId=self.vpc,
            TagSpecifications=self.stack.tag_specs("security-group"),
        )
        self.update(["ingress"])

    def update(self, changed: list[str]) -> None:
        group = self.find()
        assert group is not None
        if "ingress" in changed:
            if group.get("IpPermissions"):
                self.ec2.revoke_security_group_ingress(
                    GroupId=group["GroupId"], IpPermissions=group["IpPermissions"]
                )
            for rule in self.desired()["ingress"]:
                self.ec2.authorize_security_group_ingress(
                    GroupId=group["GroupId"],
                    IpPermissions=[
                        {
                            "IpProtocol": rule["protocol"],
                            "FromPort": rule["from"],
                            "ToPort": rule["to"],
                            **_ranges(rule),
                        }
                    ],
                )
        if "tags" in changed:
            self.ec2.create_tags(Resources=[group["GroupId"]], Tags=self.stack.tag_list())

    def delete(self) -> None:
        from tenacity import retry, retry_if_exception, stop_after_delay, wait_fixed

        from transcriber_cli.aws.errors import error_code

        group = self.find()
        if group is None:
            return

        # Terminating instances keep their network interfaces for a while.
        @retry(
            retry=retry_if_exception(lambda e: error_code(e) == "DependencyViolation"),
            stop=stop_after_delay(600),
            wait=wait_fixed(10),
            reraise=True,
        )
        def delete_group() -> None:
            self.ec2.delete_security_group(GroupId=group["GroupId"])

        delete_group()
