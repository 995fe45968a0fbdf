"""Reads deploy/credpush-lambda.yml (with deploy/credpush-ssm.yml, whose rotator policy the function's role gets)
as CloudFormation would resolve it, for the integration tests.

Usage:
  lambda_stack.py input PARAMS_JSON
      prints the schedule's Input (the event the function receives) for the stack parameters PARAMS_JSON.
  lambda_stack.py iam ENDPOINT < CASES
      puts the execution role into moto (auth off while this runs) as the two stacks make it: the role with its
      trust policy and own inline policy (logs, dead letters) from the Lambda stack, plus the SSM stack's
      RotatorPolicy resolved with RotatorRoleName = that role, and reads both back. Then it evaluates CASES (see
      ssm_iam.py: {"principal", "action", "resource", "context"}) against all of the role's statements, with
      ssm_iam.py's evaluator, because moto authorizes against Resource "*" (its limits are stated there).
      Prints {"moto": [{"name", "same"}], "decisions": [...], "rotator_roles": [...], "managed_policies": [...],
      "schedule": {"default", "max"}, "function_timeout": SECONDS, "retries": N}.
Stack parameters used for the IAM: TargetRoleName credpush-a, InstanceGroup a, the other defaults.
"""
import json
import os
import sys

import boto3

from codebuild_world import ACCOUNT, REGION, Resolver, load_template
from ssm_iam import decide

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.join(HERE, "..", "..", "deploy")
ROLE = "credpush-lambda-ExecutionRole-EXAMPLE"
CODE = "s3://credpush-artifacts/credpush-bootstrap.zip"


def lambda_template():
    return load_template(os.path.join(DEPLOY, "credpush-lambda.yml"))


def known(params):
    target = params.get("TargetRoleName", "credpush-onprem")
    return {
        "ExecutionRole": ROLE,
        "ExecutionRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
        "LogGroup": f"/aws/lambda/credpush-{target}",
        "LogGroup.Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/credpush-{target}:*",
        "DeadLetterQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:credpush-dlq",
        "Function": f"credpush-{target}",
        "Function.Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:credpush-{target}",
    }


def schedule_input(params):
    t = lambda_template()
    params = dict({"CodeS3Uri": CODE}, **params)
    r = Resolver(t, params, known(params))
    return json.loads(r.resolve(t["Resources"]["Schedule"]["Properties"]["Target"]["Input"]))


def iam(endpoint, cases):
    params = {"CodeS3Uri": CODE, "TargetRoleName": "credpush-a", "InstanceGroup": "a"}
    t = lambda_template()
    role = Resolver(t, params, known(params)).resolve(t["Resources"]["ExecutionRole"]["Properties"])
    ssm = load_template(os.path.join(DEPLOY, "credpush-ssm.yml"))
    ssm_params = dict(params, RotatorRoleName=ROLE, ManagedInstanceRoleName="credpush-host-a")
    ssm_known = {"Key": "key-a", "Key.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-a", "FetchDocument": "credpush-fetch"}
    rotator = Resolver(ssm, ssm_params, ssm_known).resolve(ssm["Resources"]["RotatorPolicy"]["Properties"])

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup")
    client = boto3.client("iam", **kw)
    client.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]))
    documents = [(p["PolicyName"], p["PolicyDocument"]) for p in role["Policies"]]
    documents.append((rotator["PolicyName"], rotator["PolicyDocument"]))
    stored = []
    statements = []
    for name, doc in documents:
        client.put_role_policy(RoleName=ROLE, PolicyName=name, PolicyDocument=json.dumps(doc))
        back = client.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]
        stored.append({"name": name, "same": back == doc})
    # What the role holds in moto, not what the templates say, is what is evaluated.
    for name in client.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        statements.extend(client.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"]["Statement"])
    lam = t["Resources"]
    spec = t["Parameters"]["RotationMinutes"]
    return {
        "moto": stored,
        "decisions": [decide(statements, c) for c in cases],
        "rotator_roles": rotator["Roles"],
        "managed_policies": role.get("ManagedPolicyArns", []),
        "attached": client.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"],
        "schedule": {"default": spec["Default"], "max": spec["MaxValue"]},
        "function_timeout": lam["Function"]["Properties"]["Timeout"],
        "retries": lam["AsyncConfig"]["Properties"]["MaximumRetryAttempts"],
    }


def main():
    if sys.argv[1] == "input":
        json.dump(schedule_input(json.loads(sys.argv[2])), sys.stdout)
    elif sys.argv[1] == "iam":
        json.dump(iam(sys.argv[2], json.load(sys.stdin)), sys.stdout)
    else:
        raise SystemExit(f"lambda_stack.py: unknown mode {sys.argv[1]}")


if __name__ == "__main__":
    main()
