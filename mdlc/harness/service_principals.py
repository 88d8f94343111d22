"""Calls AWS services make on the team's behalf, evaluated as AWS evaluates them.

A service principal (``cloudwatch.amazonaws.com``, ``logs.<region>.amazonaws.com``) has no
identity policy: only resource policies can allow it (the SNS topic policy, the KMS key
policy). `service_allowed` makes that decision with the evaluator's own statements
(`iam.Statement`), so wildcards and condition operators behave as they do for roles.

What each service does with the team's resources, and where the harness checks it:

- CloudWatch publishes an alarm's notification to its SNS actions (`alarms.py`): ``sns:Publish``
  on the topic, and ``kms:GenerateDataKey``/``kms:Decrypt`` on a KMS topic's key;
- CloudWatch Logs encrypts a log group with its ``KmsKeyId`` (`check_log_group_key`, at deploy);
- SageMaker creates a grant on a job's or endpoint's volume key for the caller
  (`caller_needs.service_needs`, evaluated with the caller's role by ``IamEvaluator._implied``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from moto.iam.access_control import PermissionResult

from mdlc.harness import iam
from mdlc.harness.caller_needs import key_arn
from mdlc.harness.intrinsics import TemplateError

if TYPE_CHECKING:
    from mdlc.harness.iam import IamEvaluator
    from mdlc.harness.stack_context import StackContext


# -- resource policies for a service principal ---------------------------------------------
def _names_service(principal: Any, service: str) -> bool:
    """Whether a statement's Principal covers `service`: ``*``, ``{"AWS": "*"}`` (every
    principal, services included) or ``{"Service": [...]}`` naming it."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return "*" in iam._strings(principal.get("AWS", [])) or service in iam._strings(principal.get("Service", []))


@lru_cache(maxsize=1024)
def _statements_for(document: str, service: str) -> tuple[iam.Statement, ...]:
    """The statements of `document` that apply to `service`, without their Principal (already
    matched here, since the role evaluator's principal matching knows only ``AWS``)."""
    statements = json.loads(document).get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    # NotPrincipal is not evaluated (documented): such a statement applies to no service here.
    return tuple(iam.Statement({k: v for k, v in s.items() if k != "Principal"})
                 for s in statements if "Principal" in s and _names_service(s["Principal"], service))


def service_allowed(documents: list[str], service: str, action: str, resource: str,
                    context: dict[str, str]) -> tuple[bool, str]:
    """May service principal `service` do `action` on `resource` with request `context`
    (lower-case keys), given the resource's policies `documents`? Only resource policies are
    evaluated: a service has no identity policy, and a key policy's allow for the account root
    does not extend to services. Explicit deny wins; no allow is an implicit deny."""
    allowed = False
    try:
        for document in documents:
            for statement in _statements_for(document, service):
                decision = statement.decide(action, resource, context)
                if decision == PermissionResult.DENIED:
                    return False, "explicit deny in the resource policy"
                allowed = allowed or decision == PermissionResult.PERMITTED
    except iam.UnsupportedCondition as error:
        return False, str(error)
    if allowed:
        return True, ""
    return False, (f"no statement of the resource policy allows {service} {action}"
                   if documents else "the resource has no policy that allows the service")


def key_allows(evaluator: IamEvaluator, service: str, key: str, actions: list[str],
               context: dict[str, str]) -> tuple[bool, str]:
    """Does the key policy of `key` allow `service` every one of `actions`? An AWS managed key
    (``alias/aws/…``) has a policy no one can change, which allows no other service."""
    if key.startswith("alias/aws/") or ":alias/aws/" in key:
        return False, f"{key} is an AWS managed key: its key policy allows only its own service"
    arn = key_arn(evaluator.account_id, evaluator.region, key)
    documents = evaluator.resource_policies.get(arn, [])
    for action in actions:
        allowed, reason = service_allowed(documents, service, action, arn, context)
        if not allowed:
            return False, f"{action} on {arn}: {reason}"
    return True, ""


# -- CloudWatch Logs: a log group's KMS key -------------------------------------------------
LOGS_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]


def check_log_group_key(ctx: StackContext, name: str, props: dict) -> None:
    """CloudWatch Logs uses a log group's key as ``logs.<region>.amazonaws.com``, with the log
    group's ARN as encryption context; if the key policy does not allow that, CreateLogGroup
    (and so the stack) fails. Raise TemplateError naming the log group, key and statement needed."""
    evaluator = ctx.harness.iam
    key = props.get("KmsKeyId")
    if evaluator is None or not key:
        return
    service = f"logs.{ctx.region}.amazonaws.com"
    group_arn = f"arn:aws:logs:{ctx.region}:{ctx.account_id}:log-group:{name}"
    context = {"kms:encryptioncontext:aws:logs:arn": group_arn, "aws:sourceaccount": ctx.account_id,
               "aws:sourcearn": group_arn}
    allowed, reason = key_allows(evaluator, service, str(key), LOGS_KEY_ACTIONS, context)
    if not allowed:
        raise TemplateError(
            f"{ctx.stack_name}: AWS::Logs::LogGroup {name!r} cannot be created: AWS answers "
            f"\"The specified KMS key does not exist or is not allowed to be used with LogGroup '{group_arn}'\" "
            f"({reason}). The key policy must allow the service principal {service} "
            f"kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*, kms:GenerateDataKey* and kms:Describe*, "
            f"e.g. with the condition ArnLike kms:EncryptionContext:aws:logs:arn = {group_arn} "
            "(or a pattern covering it)."
        )
