"""Which SageMaker instance types carry local NVMe instance storage (and so refuse a volume key).

SageMaker's API reference, on every ``VolumeKmsKeyId`` (training, processing, transform) and on
CreateEndpointConfig's ``KmsKeyId``: "Certain Nitro-based instances include local storage ...
Local storage volumes are encrypted using a hardware module on the instance. You can't request
a VolumeKmsKeyId when using an instance type with local storage." The job or endpoint config is
refused. The stacks therefore leave the key out for those types: their storage is encrypted by
the instance's hardware.

The answer comes from EC2's own DescribeInstanceTypes data (``InstanceStorageSupported``, with
``EncryptionSupport: required``) that moto bundles, read without importing moto; a type that
data does not know falls back to EC2's naming rule (a ``d`` among the family's attribute
letters: m5d, g4dn, p4d, x2iedn, m6id).
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path


@cache
def _ec2_instance_types() -> dict[str, bool]:
    spec = find_spec("moto")
    if spec is None or spec.origin is None:
        return {}
    data = Path(spec.origin).parent / "ec2" / "resources" / "instance_types.json.gz"
    if not data.is_file():
        return {}
    types = json.loads(gzip.decompress(data.read_bytes()))
    return {name: bool(info.get("InstanceStorageSupported")) for name, info in types.items()}


def has_local_storage(instance_type: str) -> bool:
    """True for an ``ml.<ec2 type>`` whose instances have instance-store volumes (e.g. ml.g4dn.xlarge)."""
    ec2_type = instance_type.removeprefix("ml.")
    known = _ec2_instance_types().get(ec2_type)
    if known is not None:
        return known
    family = ec2_type.split(".")[0]
    return bool(re.fullmatch(r"[a-z]+\d+[a-z-]*d[a-z-]*", family))


def volume_key(instance_type: str, key_arn: str, field: str = "VolumeKmsKeyId") -> dict[str, str]:
    """``{field: key_arn}`` for an instance type with an EBS volume; nothing for one with local
    storage (SageMaker refuses the key there; the hardware encrypts it)."""
    return {} if has_local_storage(instance_type) else {field: key_arn}
