"""Product: local-NVMe instance types get no volume KMS key (issue 21, defect 6).

SageMaker refuses ``VolumeKmsKeyId`` (jobs) and an endpoint config's ``KmsKeyId`` for an
instance type with local instance storage, which its hardware encrypts; the contract accepts
such types (ml.g4dn, ml.g5, ml.m5d, ...), so the templates must leave the key out for them.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from mdlc.contract import Realtime
from mdlc.instance_storage import has_local_storage
from stacks.common.network import JobNetwork
from stacks.common.sagemaker_jobs import processing_job
from stacks.realtime.deployment import endpoint_config_parameters

KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LOCAL = ["ml.g4dn.xlarge", "ml.g5.2xlarge", "ml.m5d.large", "ml.c5d.xlarge", "ml.r5d.large", "ml.p3dn.24xlarge",
         "ml.p4d.24xlarge", "ml.g6.xlarge", "ml.trn1.2xlarge", "ml.m6id.large"]
EBS = ["ml.m5.xlarge", "ml.m5.large", "ml.c5.xlarge", "ml.r5.large", "ml.p3.2xlarge", "ml.t3.medium",
       "ml.inf1.xlarge", "ml.m6i.large"]


@pytest.mark.parametrize("instance_type", LOCAL + EBS)
def test_local_storage_comes_from_ec2s_instance_type_data(instance_type):
    assert has_local_storage(instance_type) is (instance_type in LOCAL)


def processing_cluster(instance_type: str) -> dict:
    stack = cdk.Stack(cdk.App(), "S")
    state = processing_job(stack, "Job", state_name="Job", name_path="$.name", role_arn="arn:aws:iam::1:role/r",
                           image="img", script="features/job.py", inputs=[], outputs=[],
                           instance_type=instance_type, kms_key_arn=KEY, max_runtime_seconds=60, result_path="$.r",
                           network=JobNetwork(isolation=True))
    return state.to_state_json()["Parameters"]["ProcessingResources"]["ClusterConfig"]


@pytest.mark.parametrize("instance_type", ["ml.g4dn.xlarge", "ml.m5d.large"])
def test_a_processing_job_on_local_storage_has_no_volume_key(instance_type):
    cluster = processing_cluster(instance_type)
    assert cluster["InstanceType"] == instance_type and "VolumeKmsKeyId" not in cluster


def test_a_processing_job_on_ebs_keeps_the_teams_volume_key():
    assert processing_cluster("ml.m5.xlarge")["VolumeKmsKeyId"] == KEY


def endpoint_config(instance_type: str) -> dict:
    return endpoint_config_parameters(Realtime(instance_type=instance_type), capture_uri="s3://b/c/",
                                      key_arn=KEY, team="t")


def test_an_endpoint_config_on_local_storage_has_no_volume_key_but_keeps_capture_encrypted():
    params = endpoint_config("ml.g5.xlarge")
    assert "KmsKeyId" not in params
    assert params["DataCaptureConfig"]["KmsKeyId"] == KEY  # the capture bucket's objects: not the volume


def test_an_endpoint_config_on_ebs_keeps_the_teams_volume_key():
    assert endpoint_config("ml.m5.large")["KmsKeyId"] == KEY


# ------------------------------------------------------------- harness: mdlc/harness/volume_keys.py
def test_the_harness_refuses_a_volume_key_on_local_storage_as_sagemaker_does():
    """Harness emulation: CreateEndpointConfig and CreateTrainingJob with a key on ml.g4dn are
    refused with ValidationException (moto accepted them); the same on ml.m5 passes the check."""
    from botocore.exceptions import ClientError

    from mdlc.harness import OfflineAws

    with OfflineAws(evaluate_iam=False) as aws:
        sm = aws.client("sagemaker")
        sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                        PrimaryContainer={"Image": "img"})
        variant = {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1}
        with pytest.raises(ClientError, match=r"ValidationException.*instance type ml.g4dn.xlarge has local "
                                              r"instance storage.*a KmsKeyId cannot be requested"):
            sm.create_endpoint_config(EndpointConfigName="c1", KmsKeyId=KEY,
                                      ProductionVariants=[{**variant, "InstanceType": "ml.g4dn.xlarge"}])
        sm.create_endpoint_config(EndpointConfigName="c2", ProductionVariants=[{**variant,
                                                                                "InstanceType": "ml.g4dn.xlarge"}])
        with pytest.raises(ClientError, match=r"CreateTrainingJob: instance type ml.r5d.large has local"):
            sm.create_training_job(
                TrainingJobName="t", RoleArn="arn:aws:iam::123456789012:role/r",
                AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
                OutputDataConfig={"S3OutputPath": "s3://b/o"}, StoppingCondition={"MaxRuntimeInSeconds": 60},
                ResourceConfig={"InstanceType": "ml.r5d.large", "InstanceCount": 1, "VolumeSizeInGB": 1,
                                "VolumeKmsKeyId": KEY})
        from mdlc.harness.volume_keys import refusal

        assert refusal("CreateProcessingJob", {"ProcessingResources": {"ClusterConfig": {
            "InstanceType": "ml.g5.xlarge", "VolumeKmsKeyId": KEY}}}) is not None
        assert refusal("CreateTransformJob", {"TransformResources": {"InstanceType": "ml.m5.xlarge",
                                                                      "VolumeKmsKeyId": KEY}}) is None
