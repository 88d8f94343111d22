"""Cost of the harness' IAM evaluation per AWS call (mdlc/harness/iam.py).

The same calls are made against moto three ways: as the test driver with IAM evaluation
off, as the test driver with it on (moto's authentication of an admin user), and as a
role whose policies are evaluated (the path every Lambda, state machine and job takes).
Prints the time per call of each and the overhead of evaluation.
"""

from __future__ import annotations

import json
import statistics
import time

from mdlc.harness import OfflineAws

CALLS = 300
REPEATS = 3
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
     "Resource": "arn:aws:dynamodb:eu-west-1:123456789012:table/bench"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::bench-bucket/*"},
    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
     "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
]}


def _setup(aws: OfflineAws) -> None:
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName="bench", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="bench", Item={"k": {"S": "1"}, "v": {"S": "x" * 100}})
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bench-bucket", CreateBucketConfiguration={"LocationConstraint": aws.region})
    s3.put_object(Bucket="bench-bucket", Key="o", Body=b"x" * 1000)


def _time(clients: tuple) -> float:
    ddb, s3 = clients
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(CALLS // 2):
            ddb.get_item(TableName="bench", Key={"k": {"S": "1"}})
            s3.get_object(Bucket="bench-bucket", Key="o")["Body"].read()
        samples.append((time.perf_counter() - started) / CALLS * 1000)
    return statistics.median(samples)


def main() -> None:
    with OfflineAws(evaluate_iam=False) as aws:
        _setup(aws)
        off = _time((aws.client("dynamodb"), aws.client("s3")))
    with OfflineAws() as aws:
        _setup(aws)
        admin = _time((aws.client("dynamodb"), aws.client("s3")))
        iam = aws.admin_client("iam")
        trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                "Principal": {"Service": "lambda.amazonaws.com"}}]}
        arn = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName="bench", PolicyName="p", PolicyDocument=json.dumps(POLICY))
        role = _time((aws.iam.client("dynamodb", arn), aws.iam.client("s3", arn)))
        decisions = len(aws.iam.decisions)
    print("| caller | ms per call (median of 3 × 300 calls, GetItem + GetObject) |")
    print("| --- | --- |")
    print(f"| IAM evaluation off | {off:.2f} |")
    print(f"| test driver (admin user), evaluation on | {admin:.2f} |")
    print(f"| a role, policies evaluated ({decisions} decisions recorded) | {role:.2f} |")
    print(f"\noverhead of evaluating a role's call: {role - off:+.2f} ms ({role / off:.2f}×)")


if __name__ == "__main__":
    main()
