"""Host shapes from AWS instance types: boto3 `describe_instance_types`, else the shipped table.

AWS is asked only when boto3 finds credentials without the instance-metadata service, so a
machine with no AWS account never sends a request anywhere; the plan then says the offline
table was used and why.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Shape:
    vcpus: int
    memory_mib: int
    source: str  # "aws describe_instance_types" | "offline table (<why>)"
    instance_storage: str | None = None
    threads_per_core: int = 1   # hyper-threads per physical core


class UnknownInstanceType(LookupError):
    pass


@lru_cache(maxsize=1)
def offline_table() -> dict[str, dict]:
    text = resources.files("tunestack.data").joinpath("aws_instance_types.json").read_text()
    return json.loads(text)["types"]


def _from_table(instance_type: str, why: str) -> Shape:
    row = offline_table().get(instance_type)
    if row is None:
        raise UnknownInstanceType(instance_type)
    return Shape(row["vcpus"], row["memory_mib"], f"offline table ({why})", row.get("instance_storage"),
                 row["threads_per_core"])


def _from_aws_response(response: dict) -> Shape:
    info = response["InstanceTypes"][0]
    storage = None
    disks = info.get("InstanceStorageInfo", {})
    if disks:
        storage = "nvme" if disks.get("NvmeSupport") in ("required", "supported") else "ssd"
    cpu = info["VCpuInfo"]
    return Shape(cpu["DefaultVCpus"], info["MemoryInfo"]["SizeInMiB"], "aws describe_instance_types", storage,
                 cpu.get("DefaultThreadsPerCore", 1))


class InstanceTypeResolver:
    """Resolves instance types once per name. Pass `client` (a boto3 EC2 client) to force AWS."""

    def __init__(self, client=None, use_aws: bool | None = None):
        self._client = client
        self._use_aws = use_aws
        self._cache: dict[str, Shape] = {}
        self._why_offline = ""

    def _aws_client(self):
        if self._client is not None:
            return self._client
        if self._use_aws is False:
            self._why_offline = "AWS lookup disabled"
            return None
        try:
            import boto3
        except ImportError:
            self._why_offline = "boto3 not installed"
            return None
        # Never fall back to the instance-metadata endpoint: credentials come from env or profile.
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
        session = boto3.session.Session()
        if session.get_credentials() is None:
            self._why_offline = "no AWS credentials"
            return None
        region = session.region_name or "us-east-1"
        self._client = session.client("ec2", region_name=region)
        return self._client

    def resolve(self, instance_type: str) -> Shape:
        if instance_type in self._cache:
            return self._cache[instance_type]
        client = self._aws_client()
        shape = None
        if client is not None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                shape = _from_aws_response(client.describe_instance_types(InstanceTypes=[instance_type]))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code", "").startswith("InvalidInstanceType"):
                    raise UnknownInstanceType(instance_type) from exc
                self._why_offline = f"AWS said {exc.response.get('Error', {}).get('Code', 'error')}"
            except BotoCoreError as exc:
                self._why_offline = f"AWS unreachable: {type(exc).__name__}"
        if shape is None:
            shape = _from_table(instance_type, self._why_offline or "AWS not asked")
        self._cache[instance_type] = shape
        return shape


def known_types() -> list[str]:
    return sorted(offline_table())
