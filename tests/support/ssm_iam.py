"""Puts the IAM of deploy/credpush-ssm.yml into moto as the template defines it, and evaluates its policy text.

Usage: ssm_iam.py ENDPOINT TEMPLATE < CASES  -> prints JSON {"moto": {...}, "decisions": [...]}

The template's intrinsic functions are resolved (with codebuild_world.Resolver) for two stacks, groups `a` and
`b` (TargetRoleName credpush-a / credpush-b, one host role each, InstanceGroup a / b). Then, in moto, whose auth is
off while this runs:
- the host and rotator roles get the resolved policies (moto checks their grammar: a bad document is refused),
- each stack's key is created with its resolved key policy.

Why the policy text is also evaluated here: moto authorizes SSM and KMS calls against Resource "*" and without
the request's condition keys, so it cannot tell /credpush/a from /credpush/b, nor a tagged instance from an
untagged one, nor evaluate a key policy's encryption context. The evaluator below implements the parts of IAM's
logic these policies use: Action/NotAction and Resource/NotResource with * and ? wildcards, StringEquals and
StringLike on the request's context (a missing key fails the condition), explicit Deny over Allow, and an implicit
deny when nothing allows. For a key policy, a statement counts only when its Principal names the caller.

CASES (JSON on stdin): [{"policy": "host-a"|"rotator-a"|"key-a"|..., "principal": ARN, "action": ..., "resource":
..., "context": {...}, "extra_allow": [actions on "*"]}] -> each decision is "allow", "deny" or "implicit".
"""
import fnmatch
import json
import os
import sys

import boto3
import yaml

from codebuild_world import ACCOUNT, REGION, Resolver, load_template


def as_list(v):
    return v if isinstance(v, list) else [v]


def matches(patterns, value):
    # IAM wildcards: * any run, ? one character; matching is case-sensitive for resources.
    return any(fnmatch.fnmatchcase(value, p) for p in as_list(patterns))


def condition_holds(cond, context):
    for op, pairs in (cond or {}).items():
        for key, want in pairs.items():
            have = context.get(key)
            if have is None:
                return False
            if op == "StringEquals" and have not in as_list(want):
                return False
            if op == "StringLike" and not matches(want, have):
                return False
            if op not in ("StringEquals", "StringLike"):
                raise SystemExit(f"ssm_iam.py: condition operator {op} is not modelled")
    return True


def applies(st, case):
    action_ok = matches(st["Action"], case["action"]) if "Action" in st else not matches(st["NotAction"], case["action"])
    if "Resource" in st:
        res_ok = matches(st["Resource"], case["resource"])
    else:
        res_ok = not matches(st["NotResource"], case["resource"])
    if "Principal" in st:
        principal = st["Principal"].get("AWS")
        if not (principal == "*" or case["principal"] in as_list(principal)):
            return False
    return action_ok and res_ok and condition_holds(st.get("Condition"), case.get("context", {}))


def decide(statements, case):
    hits = [st["Effect"] for st in statements if applies(st, case)]
    if "Deny" in hits:
        return "deny"
    return "allow" if "Allow" in hits else "implicit"


def main():
    endpoint, template_path = sys.argv[1], sys.argv[2]
    cases = json.load(sys.stdin)
    template = load_template(template_path)
    res = template["Resources"]
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup")
    iam, kms = boto3.client("iam", **kw), boto3.client("kms", **kw)
    policies, moto = {}, {"role_policies": [], "keys": []}
    for group in ("a", "b"):
        params = {
            "TargetRoleName": f"credpush-{group}",
            "RotatorRoleName": "credpush-rotator",
            "ManagedInstanceRoleName": f"credpush-host-{group}",
            "InstanceGroup": group,
            "KeyAlias": f"alias/credpush-{group}",
        }
        key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-{group}"
        known = {"Key": f"key-{group}", "Key.Arn": key_arn, "FetchDocument": "credpush-fetch"}
        r = Resolver(template, params, known)
        host = r.resolve(res["HostPolicy"]["Properties"])
        rotator = r.resolve(res["RotatorPolicy"]["Properties"])
        key_policy = r.resolve(res["Key"]["Properties"]["KeyPolicy"])
        policies[f"host-{group}"] = host["PolicyDocument"]["Statement"]
        policies[f"rotator-{group}"] = rotator["PolicyDocument"]["Statement"]
        policies[f"key-{group}"] = key_policy["Statement"]
        for props in (host, rotator):
            for role in props["Roles"]:
                try:
                    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}],
                    }))
                except iam.exceptions.EntityAlreadyExistsException:
                    pass
                iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=json.dumps(props["PolicyDocument"]))
                stored = iam.get_role_policy(RoleName=role, PolicyName=props["PolicyName"])["PolicyDocument"]
                moto["role_policies"].append({"role": role, "name": props["PolicyName"], "same": stored == props["PolicyDocument"]})
        key = kms.create_key(Policy=json.dumps(key_policy), Description=f"credpush {group}")["KeyMetadata"]
        stored = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
        moto["keys"].append({"group": group, "same": stored == key_policy})
    decisions = []
    for case in cases:
        statements = list(policies[case["policy"]])
        for action in case.get("extra_allow", []):
            statements.append({"Effect": "Allow", "Action": action, "Resource": "*"})
        decisions.append(decide(statements, case))
    # The stack's document resource and deploy/credpush-fetch.yml must be the same document.
    with open(os.path.join(os.path.dirname(template_path), "credpush-fetch.yml")) as f:
        same_document = res["FetchDocument"]["Properties"]["Content"] == yaml.safe_load(f)
    out = {"moto": moto, "decisions": decisions, "policies": policies, "same_document": same_document}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
