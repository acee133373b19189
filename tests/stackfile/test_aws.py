"""AWS instance types: boto3 describe_instance_types (stubbed with botocore Stubber), else the table."""
import boto3
import pytest
from botocore.stub import Stubber

from tunestack.stackfile.aws import InstanceTypeResolver, UnknownInstanceType


def ec2():
    return boto3.client("ec2", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def test_aws_answer_is_used_and_named():
    client = ec2()
    with Stubber(client) as stub:
        stub.add_response("describe_instance_types",
                          {"InstanceTypes": [{"InstanceType": "m6i.xlarge", "VCpuInfo": {"DefaultVCpus": 4,
                                                                                           "DefaultCores": 2,
                                                                                           "DefaultThreadsPerCore": 2},
                                              "MemoryInfo": {"SizeInMiB": 16384}}]},
                          {"InstanceTypes": ["m6i.xlarge"]})
        shape = InstanceTypeResolver(client=client).resolve("m6i.xlarge")
    assert (shape.vcpus, shape.memory_mib, shape.source) == (4, 16384, "aws describe_instance_types")
    assert shape.threads_per_core == 2   # describe_instance_types: VCpuInfo.DefaultThreadsPerCore


@pytest.mark.parametrize("instance_type,threads", [("m6i.xlarge", 2), ("r6i.4xlarge", 2), ("m7g.xlarge", 1)])
def test_offline_table_knows_threads_per_core(instance_type, threads):
    # AWS "CPU options": Intel instances run 2 threads per core, Graviton 1.
    assert InstanceTypeResolver(use_aws=False).resolve(instance_type).threads_per_core == threads


def test_unknown_type_from_aws_is_an_error():
    client = ec2()
    with Stubber(client) as stub:
        stub.add_client_error("describe_instance_types", service_error_code="InvalidInstanceType")
        with pytest.raises(UnknownInstanceType):
            InstanceTypeResolver(client=client).resolve("m6i.mega")


def test_aws_failure_falls_back_to_table_and_says_why():
    client = ec2()
    with Stubber(client) as stub:
        stub.add_client_error("describe_instance_types", service_error_code="UnauthorizedOperation")
        shape = InstanceTypeResolver(client=client).resolve("r6i.large")
    assert (shape.vcpus, shape.memory_mib) == (2, 16384)
    assert shape.source == "offline table (AWS said UnauthorizedOperation)"


def test_no_credentials_means_no_request():
    shape = InstanceTypeResolver().resolve("c6i.2xlarge")  # conftest removes all credentials
    assert shape.source == "offline table (no AWS credentials)"
    assert (shape.vcpus, shape.memory_mib) == (8, 16384)


@pytest.mark.parametrize("instance_type,storage,warned", [
    ("r6i.4xlarge", "nvme", True),     # EBS only: its NVMe devices are EBS volumes (AWS docs, EBS and NVMe)
    ("r6i.4xlarge", "ssd", False),
    ("m6id.4xlarge", "nvme", False),   # local NVMe instance storage
])
def test_local_nvme_on_an_instance_type_without_instance_storage_is_a_warning(instance_type, storage, warned):
    """Issue #26: `storage: nvme` on an EBS-only instance type planned effective_io_concurrency for
    local NVMe; the instance-type data says whether there is instance storage."""
    import yaml

    from tunestack.paths import ROOT
    from tunestack.plan import build_plan
    from tunestack.stackfile import load_document

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    doc["config"]["tunestack:hosts"][0].update(instance_type=instance_type, storage=storage)
    warnings = build_plan(load_document(doc, "stacks/Pulumi.prod.yaml", "prod"), target="docker").warnings
    found = [w for w in warnings if "no instance storage" in w]
    assert bool(found) == warned
    if warned:
        assert "storage: ssd" in found[0]
