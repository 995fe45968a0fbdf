"""Builds the IAM world the integration tests run against, on a moto server that does not enforce auth yet.

Usage: moto_world.py ENDPOINT  -> prints JSON with the account, users (arn, access key, secret) and role ARNs.
The test harness turns auth enforcement on right after this returns.
"""
import json
import sys

import boto3

ACCOUNT = "123456789012"


def main() -> None:
    endpoint = sys.argv[1]
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    world = {"account": ACCOUNT, "users": {}, "roles": {}}
    allow_assume = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    for name, policy in (("ci", allow_assume), ("nobody", None)):
        user = iam.create_user(UserName=name)["User"]
        if policy:
            iam.put_user_policy(UserName=name, PolicyName="assume", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        world["users"][name] = {
            "arn": user["Arn"],
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
        }

    ci_arn = world["users"]["ci"]["arn"]

    def trust(principal: str, condition=None) -> str:
        statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
        if condition:
            statement["Condition"] = condition
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    roles = {
        "deploy": trust(ci_arn),
        "partner": trust(ci_arn, {"StringEquals": {"sts:ExternalId": "partner-ext-123"}}),
        "locked": trust(f"arn:aws:iam::{ACCOUNT}:user/someone-else"),
        # Assumed from a `deploy` session: the role-chaining case (CodeBuild's service role assuming onwards).
        "chained": trust("*"),
    }
    for name, doc in roles.items():
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc, MaxSessionDuration=43200)["Role"]
        # What the assumed session may do: read-only calls the consumer tests make.
        iam.put_role_policy(
            RoleName=name,
            PolicyName="session",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "sts:AssumeRole", "iam:ListRoles"], "Resource": "*"}],
                }
            ),
        )
        world["roles"][name] = role["Arn"]
    json.dump(world, sys.stdout)


if __name__ == "__main__":
    main()
