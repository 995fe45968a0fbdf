"""Adds the Systems Manager world to a moto server that does not enforce auth yet (the harness turns it off and
on again around this script).

Usage: ssm_world.py ENDPOINT AGENT_CONFIG < SPEC
SPEC (JSON on stdin): {"document": PATH, "instances": [{"id": "mi-…", "tags": {...}, "online": true}, ...],
  "host_path": DIR (optional: tools the instances have installed, first on their steps' PATH)}
Writes the agent emulator's config (tests/support/ssm_agent.py) to AGENT_CONFIG, 0600, and prints JSON:
  rotator, rotator_noput: users {arn, access_key_id, secret_access_key}, both trusted by the target role;
      rotator holds the SSM and KMS actions a rotation needs, rotator_noput lacks ssm:PutParameter
  publisher: a user that may put objects in `bucket` (credpush builds for the document's install step)
  target_role_arn: the role whose credentials are delivered (credpush-onprem)
  key_id, key_arn: the customer-managed key, aliased alias/credpush
  document_name: the fetch document, created from SPEC's document

moto evaluates SSM and KMS calls against Resource "*" (see ssm_agent.py), so these policies grant their actions
on "*". The template's own resource-scoped policies are checked separately (tests/it/ssm/iam.rs).
Each instance's agent credentials are a session of the role credpush-ssm-host, named after the instance ID, as a
hybrid activation's instances get them.
"""
import json
import os
import sys

import boto3

REGION = "us-east-1"
DOCUMENT = "credpush-fetch"
BUCKET = "credpush-releases"


def main() -> None:
    endpoint, config_out = sys.argv[1], sys.argv[2]
    spec = json.load(sys.stdin)
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup")
    iam, sts, kms, ssm, s3 = (boto3.client(s, **kw) for s in ("iam", "sts", "kms", "ssm", "s3"))
    s3.create_bucket(Bucket=BUCKET)

    def user(name, actions):
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        iam.put_user_policy(UserName=name, PolicyName="ssm", PolicyDocument=json.dumps(doc))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"arn": arn, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    rotate = [
        "sts:AssumeRole", "ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:ListCommandInvocations",
        "ssm:ListCommands", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey",
    ]
    world = {
        "rotator": user("rotator", rotate + ["ssm:PutParameter"]),
        "rotator_noput": user("rotator-noput", rotate),
        "service": user("ssm-service", ["ssm:GetDocument", "ssm:DescribeDocument", "kms:DescribeKey"]),
        "reader": user("ssm-reader", ["ssm:ListCommands", "ssm:GetParameter", "ssm:DescribeParameters"]),
        # Publishes credpush builds to the bucket the document's install step reads (binarySource).
        "publisher": user("credpush-publisher", ["s3:PutObject"]),
        "bucket": BUCKET,
        "document_name": DOCUMENT,
    }
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [world["rotator"]["arn"], world["rotator_noput"]["arn"]]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="credpush-onprem", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(
        RoleName="credpush-onprem",
        PolicyName="session",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}
        ),
    )
    world["target_role_arn"] = role["Arn"]

    key = kms.create_key(Description="credpush SecureString")["KeyMetadata"]
    kms.create_alias(AliasName="alias/credpush", TargetKeyId=key["KeyId"])
    world["key_id"], world["key_arn"] = key["KeyId"], key["Arn"]

    with open(spec["document"]) as f:
        ssm.create_document(Content=f.read(), Name=DOCUMENT, DocumentType="Command", DocumentFormat="YAML")

    host_trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    host_arn = iam.create_role(RoleName="credpush-ssm-host", AssumeRolePolicyDocument=json.dumps(host_trust))["Role"]["Arn"]
    host_policy = {
        "Version": "2012-10-17",
        # s3:GetObject: the document's install step downloads credpush from S3 with the agent's credentials.
        "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameter", "kms:Decrypt", "s3:GetObject"], "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="credpush-ssm-host", PolicyName="host", PolicyDocument=json.dumps(host_policy))
    instances = []
    for inst in spec["instances"]:
        c = sts.assume_role(RoleArn=host_arn, RoleSessionName=inst["id"], DurationSeconds=3600)["Credentials"]
        instances.append(
            dict(
                inst,
                credentials={
                    "access_key_id": c["AccessKeyId"],
                    "secret_access_key": c["SecretAccessKey"],
                    "session_token": c["SessionToken"],
                },
            )
        )
    config = {
        "region": REGION,
        "service": world["service"],
        "instances": instances,
        "pickup_delay": spec.get("pickup_delay", 0.2),
        "host_path": spec.get("host_path", ""),
    }
    fd = os.open(config_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(config, f)
    json.dump(world, sys.stdout)


if __name__ == "__main__":
    main()
