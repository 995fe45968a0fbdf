"""A benchmark reference, not part of the product: the Python 3.11 + boto3 function that scripts/bench-lambda
compares credpush's Lambda mode with. Nothing ships or deploys it.

It is what a team would write instead of credpush's handler (src/lambda/handler.rs), making the same AWS calls in
the same order for the same event, so that the benchmark compares two runtimes doing one job:
  1. the event's keys (rotate's flags in snake_case) over CREDPUSH_<KEY> defaults, checked before any call
     (unknown key, role ARN, targets, duration at most 1 hour, timeout inside the invocation's deadline);
  2. STS GetCallerIdentity, then AssumeRole (session credpush-<hostname>, the event's duration, default 1 hour);
  3. SSM PutParameter: the credential document plus CredpushAssumedAt (what `credpush fetch` on the instances
     reads), SecureString under the KMS key, standard tier, overwriting;
  4. SSM SendCommand: the fetch document, its parameters (parameterName, path, owner, credpushPath), comment
     "credpush rotate ROLE", TimeoutSeconds, MaxConcurrency, MaxErrors; InstanceIds 50 at a time, or Targets;
  5. polling: 1 second, then ListCommandInvocations (Details, 50 per page, every page) for each command not yet
     final, until every instance is final or the timeout; GetCommandInvocation (PluginName fetch) for each
     instance that failed, for its reason;
  6. one JSON log line per instance and a summary on stderr, and the `rotate --json` report as the response; an
     instance that is not ok makes the invocation an error (HostsFailed) naming it.
The clients are made inside the handler, as credpush makes its own per invocation; at module level is only what
Python loads at init (boto3's import), so the cold start column holds the import and the invocation column the
calls. Retries are botocore's standard mode with 3 attempts, as credpush's SDK configuration has them.

It runs under awslambdaric, AWS's runtime interface client for Python (the one AWS's python3.11 base images
run), through the bootstrap beside this file. Not covered, because the benchmark's event does not use them: --install-profile's
profile words, --region, inventory hosts, and the per-key wording of every refusal.
"""
import datetime
import json
import os
import re
import socket
import sys
import time

import boto3
from botocore.config import Config

KEYS = ("role_arn", "ssm_targets", "parameter", "kms_key_id", "path", "owner", "install_profile", "duration",
        "max_concurrency", "max_errors", "timeout", "ssm_document", "ssm_credpush_path")
FINAL = {"Success", "Cancelled", "TimedOut", "Failed"}
SUPERSEDED = "kept, a later rotation wrote it"  # credpush fetch's word for a document it left alone
POLL = 1.0
DEADLINE_MARGIN = 10.0


class InvalidEvent(Exception):
    """The event was refused before any AWS call."""


class HostsFailed(Exception):
    """At least one instance is not ok; the others were delivered."""


def span(key, value):
    """Seconds from 3600, "45m", "1h30m"."""
    text = str(value)
    if text.isdigit():
        return int(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or not parts:
        raise InvalidEvent(f"event key {key} {text!r} is invalid: expected seconds or a span like 30s, 2m")
    h, m, s = (int(p or 0) for p in parts.groups())
    return h * 3600 + m * 60 + s


def target(text):
    if not text.startswith("Key=") or ",Values=" not in text:
        raise InvalidEvent(f"event key ssm_targets {text!r} is invalid: expected Key=KEY,Values=V1,V2")
    key, values = text[4:].split(",Values=", 1)
    return key, values.split(",")


def merge(event):
    """The event over CREDPUSH_<KEY> defaults, checked before any call."""
    event = event or {}
    if not isinstance(event, dict):
        raise InvalidEvent("the event is not a JSON object")
    unknown = sorted(k for k in event if k not in KEYS)
    if unknown:
        raise InvalidEvent(f"event key {unknown[0]!r} is unknown")
    req = {}
    for key in KEYS:
        value = event.get(key)
        if value is None:
            value = os.environ.get(f"CREDPUSH_{key.upper()}") or None
            if key == "ssm_targets" and value and value.lstrip().startswith("["):
                value = json.loads(value)
        if value is not None:
            req[key] = value
    role = req.get("role_arn", "")
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", role):
        raise InvalidEvent(f"event key role_arn {role!r} is invalid: expected arn:aws:iam::ACCOUNT:role/NAME")
    targets = req.get("ssm_targets") or []
    req["ssm_targets"] = [target(t) for t in ([targets] if isinstance(targets, str) else targets)]
    if not req["ssm_targets"]:
        raise InvalidEvent("event key ssm_targets is required")
    req["duration"] = span("duration", req.get("duration", 3600))
    if req["duration"] > 3600:
        raise InvalidEvent(f"event key duration {event.get('duration')!r} is over the 1-hour limit STS applies "
                           "to role chaining")
    req["timeout"] = span("timeout", req.get("timeout", "30s"))
    return req


def session_name():
    name = "".join(c if c.isalnum() or c in "_+=,.@-" else "-" for c in f"credpush-{socket.gethostname()}")
    return name[:64].ljust(2, "-")


def document(creds, stamp):
    """The parameter's value as credpush writes it (fetch parses it), and its expiration for the report."""
    expiration = creds["Expiration"].astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc = {"Version": 1, "AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
           "SessionToken": creds["SessionToken"], "Expiration": expiration, "CredpushAssumedAt": stamp}
    return json.dumps(doc, separators=(",", ":")) + "\n", expiration


def last_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1]
    return line[len("credpush: error: "):] if line.startswith("credpush: error: ") else line


def handler(event, context):
    started = time.monotonic()
    req = merge(event)
    if req["timeout"] + DEADLINE_MARGIN > context.get_remaining_time_in_millis() / 1000:
        raise InvalidEvent(f"timeout {req['timeout']}s does not fit in the invocation")
    role_arn = req["role_arn"]
    role_name = role_arn.rsplit("/", 1)[-1]
    parameter = req.get("parameter") or f"/credpush/{role_name}"
    path, owner = req.get("path", "~/.aws/temp.json"), req.get("owner", "root")
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
    session = boto3.session.Session()
    sts = session.client("sts", config=config)
    ssm = session.client("ssm", config=config)

    caller = sts.get_caller_identity()
    if ":assumed-role/" in caller["Arn"] and req["duration"] > 3600:
        raise InvalidEvent("role chaining caps the session at 1 hour")
    stamp = time.time_ns()
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name(),
                            DurationSeconds=req["duration"])["Credentials"]
    value, expiration = document(creds, stamp)
    ssm.put_parameter(Name=parameter, Value=value, Type="SecureString", KeyId=req.get("kms_key_id", "alias/credpush"),
                      Tier="Standard", Overwrite=True)
    del value, creds

    common = dict(
        DocumentName=req.get("ssm_document", "credpush-fetch"),
        Comment=f"credpush rotate {role_name}"[:100],
        TimeoutSeconds=min(max(req["timeout"], 30), 2_592_000),
        MaxConcurrency=str(req.get("max_concurrency", "50")),
        MaxErrors=str(req.get("max_errors", "100%")),
        Parameters={"parameterName": [parameter], "path": [path], "owner": [owner],
                    "credpushPath": [req.get("ssm_credpush_path", "/usr/local/bin/credpush")]},
    )
    ids = [v for k, vs in req["ssm_targets"] if k == "InstanceIds" for v in vs]
    keyed = [{"Key": k, "Values": vs} for k, vs in req["ssm_targets"] if k != "InstanceIds"]
    sent = []  # [command id, ids or None, {instance: (invocation, seconds)}, done, sent at]
    for i in range(0, len(ids), 50):
        out = ssm.send_command(InstanceIds=ids[i:i + 50], **common)
        sent.append([out["Command"]["CommandId"], ids[i:i + 50], {}, False, time.monotonic()])
    if keyed:
        out = ssm.send_command(Targets=keyed, **common)
        sent.append([out["Command"]["CommandId"], None, {}, False, time.monotonic()])

    deadline = time.monotonic() + req["timeout"]
    while not all(s[3] for s in sent):
        time.sleep(max(0.0, min(POLL, deadline - time.monotonic())))
        for s in (s for s in sent if not s[3]):
            token = None
            while True:
                page = ssm.list_command_invocations(CommandId=s[0], Details=True, MaxResults=50,
                                                    **({"NextToken": token} if token else {}))
                for inv in page.get("CommandInvocations", []):
                    old = s[2].get(inv["InstanceId"])
                    if not (old and old[0]["Status"] in FINAL):
                        s[2][inv["InstanceId"]] = (inv, time.monotonic() - s[4])
                token = page.get("NextToken")
                if not token:
                    break
            seen = s[2]
            s[3] = all(i in seen and seen[i][0]["Status"] in FINAL for i in s[1]) if s[1] is not None else (
                bool(seen) and all(v[0]["Status"] in FINAL for v in seen.values()))
        if time.monotonic() >= deadline:
            break

    hosts = []
    for command_id, expected, seen, _, _ in sent:
        for instance in expected if expected is not None else sorted(seen):
            inv, secs = seen.get(instance, ({"Status": "Pending", "StatusDetails": "Pending"}, req["timeout"]))
            line = {"host": instance, "destination": f"ssm:{instance}", "status": "ok", "seconds": secs,
                    "path": path, "expiration": None, "role_arn": role_arn, "attempts": 1, "profile": None,
                    "error": None}
            output = next((p.get("Output", "") for p in inv.get("CommandPlugins", []) if p.get("Name") == "fetch"),
                          None)
            status = f"SSM status {inv['Status']} ({inv.get('StatusDetails', '')})"
            if inv["Status"] == "Success" and output and SUPERSEDED in output:
                line.update(status="superseded", error=last_line(output))
            elif inv["Status"] == "Success":
                line["expiration"] = expiration
            elif inv["Status"] in ("Failed", "TimedOut", "Cancelled"):
                if inv.get("StatusDetails") in ("DeliveryTimedOut", "Undeliverable", "Terminated"):
                    line.update(status="unreachable", error=f"the command was not delivered: {status}")
                else:
                    stderr = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance,
                                                        PluginName="fetch").get("StandardErrorContent", "")
                    why = last_line(stderr)
                    line.update(status="failed", error=f"{why} ({status})" if why else status)
            else:
                line.update(status="unreachable", error=f"the instance did not pick up the command within "
                                                        f"timeout: {status}")
            hosts.append(line)
    hosts.sort(key=lambda h: h["host"])
    counts = {k: sum(1 for h in hosts if h["status"] == k) for k in ("ok", "failed", "unreachable", "skipped")}
    summary = dict(hosts=len(hosts), **counts)
    rid = context.aws_request_id
    for h in hosts:
        level = "INFO" if h["status"] in ("ok", "superseded") else "ERROR"
        print(json.dumps({"level": level, "requestId": rid, "message": "instance", "host": h["host"],
                          "status": h["status"], "seconds": round(h["seconds"], 3), "path": h["path"],
                          "expiration": h["expiration"], "error": h["error"]}), file=sys.stderr)
    print(json.dumps({"level": "INFO", "requestId": rid, "message": "summary", "summary": summary}), file=sys.stderr)
    bad = [h for h in hosts if h["status"] not in ("ok", "superseded")]
    if bad:
        named = ", ".join(f"{h['host']} ({h['status']}: {h['error']})" for h in bad[:5])
        raise HostsFailed(f"{len(bad)} of {len(hosts)} instances not ok: {named}")
    return {"summary": summary, "seconds": round(time.monotonic() - started, 3), "hosts": hosts}
