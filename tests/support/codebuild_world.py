"""Builds, in moto, the IAM and S3 part of deploy/credpush.yml as the template defines it, for the CodeBuild tests.

Usage: codebuild_world.py ENDPOINT TEMPLATE INPUT_JSON -> prints JSON (see `main`).

moto's CloudFormation does not model CodeBuild projects, so this reads the template itself: it resolves the
intrinsic functions of the service role's policy and the target role's trust policy with the parameter values the
test gives, creates both roles in moto's IAM exactly as resolved, stores the two SSH secrets, and plays CodeBuild
starting a build: it assumes the service role and returns that session's credentials. It also creates the
report bucket (empty, without its bucket policy: the test applies the resolved `bucket_policy` when it wants it
enforced) and returns every resource of the template resolved (`resources`): a reference to a resource this world
does not create reads `<Name>` or `<Name.Attr>`. The input's `objects` are uploaded as the setup, before auth is on
(the release tarball a build downloads). The caller turns auth off before (moto's reset-auth with a large
count) and back on after, so that from then on every request is checked against these policies.

Two places where moto and AWS differ, and what is done about them:
- AWS matches a role principal in a trust policy against every session of that role; moto compares the caller's
  ARN literally. The target role's trust principal, `!GetAtt ServiceRole.Arn`, is therefore resolved to the ARN of
  the one session this world creates (`assumed-role/NAME/SESSION`): the same statement, as moto can evaluate it.
- moto authorizes Secrets Manager calls against resource "*", so a policy naming the two secret ARNs (as the
  template's does) cannot grant GetSecretValue there. CodeBuild's agent, not the build's commands, fetches
  `env.secrets-manager`, so the local runner reads them as a separate `codebuild-agent` user allowed
  GetSecretValue on "*"; the template's secret statement is checked by the test's assertions on its resources.
"""
import json
import re
import sys

import boto3
import yaml

NO_VALUE = object()
ACCOUNT = "123456789012"
REGION = "us-east-1"
SERVICE_ROLE = "credpush-codebuild"
SESSION = "AWSCodeBuild-local-build"


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template(path):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


class Resolver:
    """Resolves the intrinsic functions the template's IAM documents use."""

    def __init__(self, template, params, known):
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default"))
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [v for v in value.split(",")] if value else [""]
            self.params[name] = value
        self.params.update({"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws"})
        self.known = known  # "Resource" and "Resource.Attr" -> value
        self.conditions = {}
        for name, cond in template.get("Conditions", {}).items():
            self.conditions[name] = self.resolve(cond)

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        return self.known.get(name, f"<{name}>")

    def att(self, key):
        return self.known.get(key, f"<{key}>")

    def sub(self, text, extra):
        def repl(m):
            key = m.group(1)
            if key in extra:
                return str(extra[key])
            if "." in key:
                return str(self.att(key))
            return str(self.ref(key))

        return re.sub(r"\$\{([^}!]+)\}", repl, text)

    def resolve(self, v):
        if isinstance(v, list):
            return [x for x in (self.resolve(i) for i in v) if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, arg), = v.items()
            if k == "Ref":
                return self.ref(arg)
            if k == "Fn::Sub":
                if isinstance(arg, list):
                    extra = {n: self.resolve(x) for n, x in arg[1].items()}
                    return self.sub(arg[0], extra)
                return self.sub(arg, {})
            if k == "Fn::GetAtt":
                return self.att(".".join(arg))
            if k == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.conditions[name] else no)
            if k == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if k == "Fn::Not":
                return not self.resolve(arg[0])
            if k == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if k == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if k == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if k == "Fn::Split":
                return self.resolve(arg[1]).split(arg[0])
            if k == "Fn::Join":
                return arg[0].join(str(x) for x in self.resolve(arg[1]))
            if k == "Condition":
                return self.conditions[arg]
        return {k: r for k, r in ((k, self.resolve(x)) for k, x in v.items()) if r is not NO_VALUE}


def main() -> None:
    endpoint, template_path, input_path = sys.argv[1:4]
    with open(input_path) as f:
        given = json.load(f)
    template = load_template(template_path)
    res = template["Resources"]
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup")
    iam, sts, sm = (boto3.client(s, **kw) for s in ("iam", "sts", "secretsmanager"))

    # What the hosts may do with the pushed credentials: the TargetPolicyArns parameter.
    host_policy = iam.create_policy(
        PolicyName="credpush-onprem-permissions",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    params = {"TargetPolicyArns": host_policy, "SourceLocation": "local", **given.get("parameters", {})}
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{SERVICE_ROLE}/{SESSION}"
    known = {
        "ServiceRole.Arn": session_arn,  # see the module docs: moto compares trust principals literally
        "ReportBucket": "credpush-reports",
        "ReportBucket.Arn": "arn:aws:s3:::credpush-reports",
    }
    r = Resolver(template, params, known)

    secrets = {}
    for param, path in (("SshKeySecretName", given["ssh_key_file"]), ("KnownHostsSecretName", given["known_hosts_file"])):
        with open(path) as f:
            secrets[param] = sm.create_secret(Name=r.params[param], SecretString=f.read())["ARN"]
    agent = iam.create_user(UserName="codebuild-agent")["User"]
    iam.put_user_policy(
        UserName="codebuild-agent",
        PolicyName="fetch-build-secrets",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
        ),
    )
    agent_key = iam.create_access_key(UserName="codebuild-agent")["AccessKey"]

    service = res["ServiceRole"]["Properties"]
    service_trust = r.resolve(service["AssumeRolePolicyDocument"])
    iam.create_role(RoleName=SERVICE_ROLE, AssumeRolePolicyDocument=json.dumps(service_trust))
    service_policies = []
    for p in service["Policies"]:
        doc = r.resolve(p["PolicyDocument"])
        service_policies.append({"name": p["PolicyName"], "document": doc})
        iam.put_role_policy(RoleName=SERVICE_ROLE, PolicyName=p["PolicyName"], PolicyDocument=json.dumps(doc))

    target = res["TargetRole"]["Properties"]
    target_name = r.resolve(target["RoleName"])
    target_trust = r.resolve(target["AssumeRolePolicyDocument"])
    target_arn = iam.create_role(
        RoleName=target_name,
        AssumeRolePolicyDocument=json.dumps(target_trust),
        MaxSessionDuration=int(r.resolve(target["MaxSessionDuration"])),
    )["Role"]["Arn"]
    for arn in r.resolve(target["ManagedPolicyArns"]):
        iam.attach_role_policy(RoleName=target_name, PolicyArn=arn)

    s3 = boto3.client("s3", **kw)
    s3.create_bucket(Bucket=known["ReportBucket"])
    # Objects the build downloads (a release tarball at CredpushBinaryS3Uri): {"uri": "s3://B/K", "file": PATH}.
    for obj in given.get("objects", []):
        bucket, key = obj["uri"][len("s3://"):].split("/", 1)
        if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=bucket)
        with open(obj["file"], "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())

    # CodeBuild starting a build: the service's session of the service role (auth is still off here).
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{SERVICE_ROLE}", RoleSessionName=SESSION)["Credentials"]
    json.dump(
        {
            "service_role_policies": service_policies,
            "target_trust": target_trust,
            "target_role_arn": target_arn,
            "target_max_session": int(r.resolve(target["MaxSessionDuration"])),
            "external_id": r.params["ExternalId"],
            "secrets": secrets,
            "session": {
                "arn": session_arn,
                "access_key_id": creds["AccessKeyId"],
                "secret_access_key": creds["SecretAccessKey"],
                "session_token": creds["SessionToken"],
            },
            "agent": {"access_key_id": agent_key["AccessKeyId"], "secret_access_key": agent_key["SecretAccessKey"]},
            "bucket": known["ReportBucket"],
            "bucket_policy": r.resolve(res["ReportBucketPolicy"]["Properties"]["PolicyDocument"]),
            "resources": r.resolve(res),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
