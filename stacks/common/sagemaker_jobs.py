"""ASL of SageMaker job tasks (``.sync``), written out so the definition is plain JSONPath.

CDK has no Step Functions L2 for processing jobs; writing all job tasks the same way keeps
one shape for the offline harness, asl-validator and the diagrams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from mdlc.instance_storage import volume_key
from stacks.common.network import JobNetwork

CODE_DIR = "/opt/ml/processing/input/code"


def job_entrypoint(script: str) -> list[str]:
    """Container entrypoint: unpack the job-code bundle, then run ``script`` as __main__."""
    # One line: asl-validator rejects line breaks in the entrypoint strings.
    program = "; ".join([
        "import glob, runpy, sys, tarfile",
        f"d = '{CODE_DIR}'",
        "tarfile.open(glob.glob(d + '/*.gz')[0]).extractall(d)",
        "sys.path.insert(0, d)",
        f"sys.argv = [d + '/{script}'] + sys.argv[1:]",
        "runpy.run_path(sys.argv[0], run_name='__main__')",
    ])
    return ["python3", "-c", program]


def volume_key_grant(key: kms.IKey) -> iam.PolicyStatement:
    """``kms:CreateGrant`` on `key`, only for grants to AWS resources: SageMaker encrypts a job's
    or an endpoint's storage volume (``VolumeKmsKeyId``, an endpoint config's ``KmsKeyId``) with a
    grant it creates on the key with the permissions of the role calling it."""
    return iam.PolicyStatement(
        actions=["kms:CreateGrant"],
        resources=[key.key_arn],
        conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
    )


@dataclass(frozen=True)
class JobInput:
    name: str
    local: str
    uri: str | None = None  # a literal S3 URI (asset) …
    uri_path: str | None = None  # … or a JSONPath into the state
    # S3Prefix: every object under the URI; ManifestFile: the URI is a manifest listing the
    # objects to download (a prefix, then keys relative to it).
    data_type: str = "S3Prefix"


@dataclass(frozen=True)
class JobOutput:
    name: str
    local: str
    uri_path: str


def _uri(field: str, literal: str | None, path: str | None) -> dict[str, Any]:
    if (literal is None) == (path is None):
        raise ValueError(f"{field}: give exactly one of a literal URI or a JSONPath")
    return {field: literal} if literal is not None else {f"{field}.$": path}


def processing_job(
    scope: Construct,
    construct_id: str,
    *,
    state_name: str,
    name_path: str,
    role_arn: str,
    image: str,
    script: str,
    inputs: list[JobInput],
    outputs: list[JobOutput],
    instance_type: str,
    instance_count: int = 1,
    kms_key_arn: str,
    max_runtime_seconds: int,
    environment: dict[str, str] | None = None,
    result_path: str,
    network: JobNetwork,
    tags: dict[str, str] | None = None,
) -> sfn.CustomState:
    """A ``sagemaker:createProcessingJob.sync`` task running ``sagemaker_jobs/<script>``, with the
    team's ``network`` (isolation; subnets and security groups with ``network.vpc``). The code comes
    in as an input (:data:`CODE_DIR`), so an isolated container needs nothing from the network."""

    parameters: dict[str, Any] = {
        "ProcessingJobName.$": name_path,
        "RoleArn": role_arn,
        "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": job_entrypoint(script)},
        "ProcessingInputs": [
            {
                "InputName": i.name,
                "S3Input": {
                    **_uri("S3Uri", i.uri, i.uri_path),
                    "LocalPath": i.local,
                    "S3DataType": i.data_type,
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
            for i in inputs
        ],
        "ProcessingOutputConfig": {
            "KmsKeyId": kms_key_arn,
            "Outputs": [
                {
                    "OutputName": o.name,
                    "S3Output": {"S3Uri.$": o.uri_path, "LocalPath": o.local, "S3UploadMode": "EndOfJob"},
                }
                for o in outputs
            ],
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": instance_count,
                "InstanceType": instance_type,
                "VolumeSizeInGB": 30,
                **volume_key(instance_type, kms_key_arn),  # none on local-NVMe types
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
        **network.processing(),
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    if environment:
        parameters["Environment"] = environment
    # A custom state's name is its construct id.
    del construct_id
    return sfn.CustomState(
        scope,
        state_name,
        state_json={
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
            "Parameters": parameters,
            "ResultSelector": {
                "job_name.$": "$.ProcessingJobName",
                "status.$": "$.ProcessingJobStatus",
            },
            "ResultPath": result_path,
        },
    )
