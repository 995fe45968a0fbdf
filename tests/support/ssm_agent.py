"""Emulates the SSM agent of a few managed instances (`mi-…`) in front of moto, for the integration tests.

Usage: ssm_agent.py --moto ENDPOINT --config FILE --state DIR
Prints `listening PORT` once it serves on 127.0.0.1:PORT. Point every client (credpush, the AWS CLI, the fetch
that the emulated agent runs) at that address: it is moto, plus the agent's half of Run Command.

Why it exists: moto stores SendCommand but runs nothing. It answers every invocation with `Success` and knows
no managed instances. It has no ListCommandInvocations. The SSM transport's real behaviour (a fetch that fails,
an instance that never polls) cannot be seen through it alone.

What it does:
- Every request is forwarded to moto unchanged (signature and Host included), so moto authenticates and
  authorizes every call, these included. moto answers an SSM auth failure in XML; it is turned into SSM's JSON
  error (`AccessDeniedException` and its message), the form SSM itself uses.
- SendCommand: the instance IDs and Targets (`InstanceIds`, `tag:KEY`, `tag-key`) are resolved against the
  managed instances in --config. An unknown instance ID fails the whole call with InvalidInstanceId, as in SSM.
  The document is read from moto (GetDocument), and the parameters are checked against it: unknown names,
  missing required ones, `allowedPattern`. Then moto records the command (ListCommands shows it) and each online
  instance runs it in a thread, at most MaxConcurrency at a time (a number or a percentage of the targets).
- Running a document (schemaVersion 2.2, `aws:runShellScript` steps only), as the Linux agent does: `{{ name }}`
  is replaced by the parameter's value in runCommand, workingDirectory and timeoutSeconds. Each step's lines
  are written to `STATE/<instance>/document/orchestration/<command-id>/<step>/_script.sh`, kept after the run
  as the agent keeps them. Each step runs as this process's user (root in the tests, as the agent) in its own
  `sh` and its own process group, in workingDirectory (default: the step's orchestration directory). It is
  killed at timeoutSeconds (default 3600), which gives TimedOut. Exit code 0 gives Success, any other gives
  Failed. Steps run in order. A failed step stops the rest only with `onFailure: exit`.
- The environment holds PATH, HOME (a private directory per instance, never root's), AWS_SSM_INSTANCE_ID and
  AWS_SSM_REGION_NAME. It also holds the agent's credentials: a shared credentials file (profile `default`)
  named by AWS_SHARED_CREDENTIALS_FILE, with AWS_CONFIG_FILE set to an empty file (never root's). Last,
  AWS_ENDPOINT_URL points at this proxy: the tests' stand-in for SSM's regional endpoint.
- GetCommandInvocation and ListCommandInvocations are forwarded first, so that moto checks auth. An auth error is
  returned as is. Otherwise the answer comes from what really ran: Status, StatusDetails, ResponseCode, and the
  first 2,500 characters of stdout and stderr. GetCommandInvocation without PluginName on a document with more
  than one step is refused (InvalidPluginName), as in SSM. For a short delay after SendCommand, an invocation
  does not exist yet (InvocationDoesNotExist), as in SSM.

Limits (what it does not model):
- Only `aws:runShellScript`; no preconditions, no `{{ ssm:… }}` references, no StringList expansion, no
  cross-step `finallyStep`/`successAndExit`, no reboot exit codes (194, 3010), and no output to S3 or CloudWatch.
- MaxErrors is recorded but not enforced. Every instance runs to its end.
- An offline instance's invocation stays Pending until the command's TimeoutSeconds, then becomes
  DeliveryTimedOut. The real delivery timeout is separate from the execution timeout.
- IAM: moto evaluates SSM and KMS calls against Resource "*". Statements scoped to one parameter or key, and
  conditions such as ssm:resourceTag, cannot be shown here.
- KMS: moto's SecureString does not call KMS, so a key that the caller may not use is not refused.
- Instance registration (hybrid activation) is the --config file. DescribeInstanceInformation is not served.
"""
import argparse
import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from urllib.parse import urlparse

import boto3
import yaml

OUTPUT_LIMIT = 2500
TERMINAL = {"Success", "Failed", "TimedOut", "Cancelled"}
# SSM's plugin-level details for each final status.
DETAILS = {"Success": "Success", "Failed": "Failed", "TimedOut": "ExecutionTimedOut"}


class Invocation:
    """One instance's run of one command."""

    def __init__(self, command, instance):
        self.command = command
        self.instance = instance
        self.status = "Pending"
        self.details = "Pending"
        self.created = time.time()
        self.plugins = []  # one dict per step that ran

    def response_code(self):
        return self.plugins[-1]["ResponseCode"] if self.plugins else -1

    def current(self):
        """Status and details, with delivery timed out for an instance that never polled."""
        if self.status == "Pending" and time.time() > self.created + self.command["TimeoutSeconds"]:
            return "TimedOut", "DeliveryTimedOut"
        return self.status, self.details


class Agent:
    def __init__(self, moto, config, state):
        self.moto = urlparse(moto)
        self.config = config
        self.state = state
        self.lock = threading.Lock()
        self.invocations = {}  # (command id, instance id) -> Invocation
        self.order = []  # keys in creation order, for listing
        self.endpoint = ""  # set once listening
        svc = config["service"]
        self.ssm = boto3.client(
            "ssm",
            endpoint_url=moto,
            region_name=config.get("region", "us-east-1"),
            aws_access_key_id=svc["access_key_id"],
            aws_secret_access_key=svc["secret_access_key"],
        )

    # --- targets ---------------------------------------------------------------------------------------------
    def resolve(self, request):
        by_id = {i["id"]: i for i in self.config["instances"]}
        chosen = []
        unknown = [i for i in request.get("InstanceIds", []) if i not in by_id]
        for t in request.get("Targets", []):
            key, values = t.get("Key", ""), t.get("Values", [])
            if key == "InstanceIds":
                unknown += [v for v in values if v not in by_id]
                chosen += [by_id[v] for v in values if v in by_id]
            elif key.startswith("tag:"):
                tag = key[4:]
                chosen += [i for i in by_id.values() if i.get("tags", {}).get(tag) in values]
            elif key == "tag-key":
                chosen += [i for i in by_id.values() if any(v in i.get("tags", {}) for v in values)]
            else:
                raise ApiError("InvalidTarget", f"target key {key!r} is not supported by the emulator")
        if unknown:
            raise ApiError("InvalidInstanceId", f"Instances {unknown} not in a valid state for account")
        chosen += [by_id[i] for i in request.get("InstanceIds", [])]
        seen, out = set(), []
        for i in chosen:
            if i["id"] not in seen:
                seen.add(i["id"])
                out.append(i)
        return out

    # --- documents -------------------------------------------------------------------------------------------
    def document(self, request):
        kwargs = {"Name": request["DocumentName"]}
        if request.get("DocumentVersion"):
            kwargs["DocumentVersion"] = request["DocumentVersion"]
        try:
            doc = self.ssm.get_document(**kwargs)
        except self.ssm.exceptions.InvalidDocument:
            raise ApiError("InvalidDocument", "document does not exist") from None
        content = doc["Content"]
        return json.loads(content) if doc.get("DocumentFormat") == "JSON" else yaml.safe_load(content)

    @staticmethod
    def bind(doc, given):
        """The parameter values the steps see, checked as SendCommand checks them."""
        declared = doc.get("parameters") or {}
        values = {}
        for name in given:
            if name not in declared:
                raise ApiError("InvalidParameters", f"parameter {name!r} is not in the document")
        for name, spec in declared.items():
            if name in given:
                value = given[name][0] if given[name] else ""
            elif "default" in spec:
                value = str(spec["default"])
            else:
                raise ApiError("InvalidParameters", f"parameter {name!r} is required")
            pattern = spec.get("allowedPattern")
            if pattern and name in given and not re.fullmatch(pattern, value):
                raise ApiError("InvalidParameters", f"parameter {name!r} does not match its allowedPattern")
            values[name] = value
        return values

    # --- running ---------------------------------------------------------------------------------------------
    def start(self, command, doc, params, instances):
        invs = []
        with self.lock:
            for inst in instances:
                inv = Invocation(command, inst)
                key = (command["CommandId"], inst["id"])
                self.invocations[key] = inv
                self.order.append(key)
                invs.append(inv)
        limit = command["MaxConcurrency"]
        if limit.endswith("%"):
            limit = max(1, len(invs) * int(limit[:-1]) // 100)
        gate = threading.Semaphore(max(1, int(limit)))
        for inv in invs:
            if inv.instance.get("online", True):
                threading.Thread(target=self.run, args=(inv, doc, params, gate), daemon=True).start()

    def run(self, inv, doc, params, gate):
        time.sleep(float(self.config.get("pickup_delay", 0.2)))
        with gate:
            inv.status, inv.details = "InProgress", "InProgress"
            final = "Success"
            for step in doc.get("mainSteps") or []:
                if step.get("action") != "aws:runShellScript":
                    raise SystemExit(f"emulator: action {step.get('action')} is not modelled")
                plugin = self.run_step(inv, step, params)
                inv.plugins.append(plugin)
                if plugin["Status"] != "Success":
                    final = plugin["Status"] if final == "Success" else final
                    if step.get("onFailure") == "exit":
                        break
            inv.status, inv.details = final, DETAILS[final]

    def run_step(self, inv, step, params):
        def sub(text):
            return re.sub(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", lambda m: params.get(m.group(1), m.group(0)), str(text))

        inputs = step.get("inputs") or {}
        name = step["name"]
        home = os.path.join(self.state, inv.instance["id"])
        orch = os.path.join(home, "document", "orchestration", inv.command["CommandId"], name)
        os.makedirs(orch, mode=0o700, exist_ok=True)
        script = os.path.join(orch, "_script.sh")
        commands = inputs.get("runCommand") or []
        with open(script, "w") as f:
            f.write("\n".join(sub(c) for c in commands) + "\n")
        workdir = sub(inputs.get("workingDirectory", "")) or orch
        timeout = int(sub(inputs.get("timeoutSeconds", 3600)))
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": os.path.join(home, "home"),
            "AWS_SSM_INSTANCE_ID": inv.instance["id"],
            "AWS_SSM_REGION_NAME": self.config.get("region", "us-east-1"),
            "AWS_SHARED_CREDENTIALS_FILE": self.credentials_file(inv.instance),
            "AWS_CONFIG_FILE": self.empty_config(home),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        os.makedirs(env["HOME"], mode=0o700, exist_ok=True)
        started = time.time()
        with open(os.path.join(orch, "stdout"), "w+b") as out, open(os.path.join(orch, "stderr"), "w+b") as err:
            proc = subprocess.Popen(
                ["sh", script], cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout=timeout)
                status = "Success" if code == 0 else "Failed"
            except subprocess.TimeoutExpired:
                code, status = -1, "TimedOut"
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            out.seek(0)
            err.seek(0)
            stdout = out.read(OUTPUT_LIMIT * 4).decode("utf-8", "replace")[:OUTPUT_LIMIT]
            stderr = err.read(OUTPUT_LIMIT * 4).decode("utf-8", "replace")[:OUTPUT_LIMIT]
        return {
            "Name": name,
            "Status": status,
            "StatusDetails": DETAILS[status],
            "ResponseCode": code,
            "ResponseStartDateTime": started,
            "ResponseFinishDateTime": time.time(),
            "Stdout": stdout,
            "Stderr": stderr,
        }

    @staticmethod
    def empty_config(home):
        path = os.path.join(home, "config")
        if not os.path.exists(path):
            open(path, "w").close()
        return path

    def credentials_file(self, inst):
        path = os.path.join(self.state, inst["id"], "credentials")
        if not os.path.exists(path):
            c = inst["credentials"]
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("[default]\n")
                f.write(f"aws_access_key_id = {c['access_key_id']}\n")
                f.write(f"aws_secret_access_key = {c['secret_access_key']}\n")
                if c.get("session_token"):
                    f.write(f"aws_session_token = {c['session_token']}\n")
        return path

    # --- reads -----------------------------------------------------------------------------------------------
    def get_invocation(self, request):
        key = (request.get("CommandId", ""), request.get("InstanceId", ""))
        with self.lock:
            inv = self.invocations.get(key)
        delay = float(self.config.get("invocation_delay", 0.3))
        if inv is None or time.time() < inv.created + delay:
            raise ApiError("InvocationDoesNotExist", "")
        status, details = inv.current()
        steps = [s["name"] for s in inv.command["Steps"]]
        wanted = request.get("PluginName")
        if wanted is None and len(steps) > 1:
            raise ApiError("InvalidPluginName", "the document has more than one step: name one with PluginName")
        wanted = wanted or steps[0]
        if wanted not in steps:
            raise ApiError("InvalidPluginName", "")
        plugin = next((p for p in inv.plugins if p["Name"] == wanted), None)
        out = {
            "CommandId": inv.command["CommandId"],
            "InstanceId": inv.instance["id"],
            "Comment": inv.command["Comment"],
            "DocumentName": inv.command["DocumentName"],
            "DocumentVersion": "1",
            "PluginName": wanted,
            "ResponseCode": plugin["ResponseCode"] if plugin else -1,
            "Status": plugin["Status"] if plugin else status,
            "StatusDetails": plugin["StatusDetails"] if plugin else details,
            "StandardOutputContent": plugin["Stdout"] if plugin else "",
            "StandardErrorContent": plugin["Stderr"] if plugin else "",
            "StandardOutputUrl": "",
            "StandardErrorUrl": "",
        }
        if plugin:
            out["ExecutionStartDateTime"] = iso(plugin["ResponseStartDateTime"])
            out["ExecutionEndDateTime"] = iso(plugin["ResponseFinishDateTime"])
        return out

    def list_invocations(self, request):
        cid, iid = request.get("CommandId"), request.get("InstanceId")
        with self.lock:
            keys = [k for k in self.order if (cid is None or k[0] == cid) and (iid is None or k[1] == iid)]
            invs = [self.invocations[k] for k in keys]
        size = int(request.get("MaxResults", 50))
        start = int(request.get("NextToken") or 0)
        page = invs[start : start + size]
        details = bool(request.get("Details"))
        out = []
        for inv in page:
            status, sdetails = inv.current()
            item = {
                "CommandId": inv.command["CommandId"],
                "InstanceId": inv.instance["id"],
                "InstanceName": inv.instance.get("name", ""),
                "Comment": inv.command["Comment"],
                "DocumentName": inv.command["DocumentName"],
                "DocumentVersion": "1",
                "RequestedDateTime": inv.created,
                "Status": status,
                "StatusDetails": sdetails,
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "CommandPlugins": [],
            }
            if details:
                for p in inv.plugins:
                    output = p["Stdout"] + ("\n----------ERROR-------\n" + p["Stderr"] if p["Stderr"] else "")
                    item["CommandPlugins"].append(
                        {
                            "Name": p["Name"],
                            "Status": p["Status"],
                            "StatusDetails": p["StatusDetails"],
                            "ResponseCode": p["ResponseCode"],
                            "ResponseStartDateTime": p["ResponseStartDateTime"],
                            "ResponseFinishDateTime": p["ResponseFinishDateTime"],
                            "Output": output[:OUTPUT_LIMIT],
                        }
                    )
            out.append(item)
        reply = {"CommandInvocations": out}
        if start + size < len(invs):
            reply["NextToken"] = str(start + size)
        return reply


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000Z"


class ApiError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


AUTH_ERRORS = (
    "AccessDenied", "UnrecognizedClient", "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
    "ExpiredToken", "MissingAuthenticationToken",
)


def handler_for(agent):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # the tests read the emulator's state, not its access log
            pass

        def do_GET(self):
            self.forward_and_reply(b"")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = self.headers.get("X-Amz-Target", "")
            op = target.split(".", 1)[1] if target.startswith("AmazonSSM.") else ""
            if op not in ("SendCommand", "GetCommandInvocation", "ListCommandInvocations"):
                return self.reply(*self.forward(body, json_errors=bool(op)))
            try:
                request = json.loads(body or b"{}")
                if op == "SendCommand":
                    return self.send_command(request, body)
                status, headers, reply = self.forward(body)
                if status != 200 and any(code in reply.decode("utf-8", "replace") for code in AUTH_ERRORS):
                    return self.reply(status, headers, reply)
                answer = agent.get_invocation(request) if op == "GetCommandInvocation" else agent.list_invocations(request)
                self.json(200, answer)
            except ApiError as e:
                self.json(400, {"__type": e.code, "message": e.message})

        def send_command(self, request, body):
            doc = agent.document(request)
            params = agent.bind(doc, request.get("Parameters") or {})
            if len(request.get("InstanceIds", [])) > 50:
                raise ApiError("ValidationException", "InstanceIds: at most 50")
            if len(request.get("Targets", [])) > 5:
                raise ApiError("ValidationException", "Targets: at most 5")
            instances = agent.resolve(request)
            status, headers, reply = self.forward(body)
            if status == 200:
                sent = json.loads(reply)["Command"]
                command = {
                    "CommandId": sent["CommandId"],
                    "Comment": request.get("Comment", ""),
                    "DocumentName": request["DocumentName"],
                    "TimeoutSeconds": int(request.get("TimeoutSeconds") or 3600),
                    "MaxConcurrency": str(request.get("MaxConcurrency") or "50"),
                    "Steps": doc.get("mainSteps") or [],
                }
                agent.start(command, doc, params, instances)
            self.reply(status, headers, reply)

        def forward(self, body, json_errors=True):
            conn = http.client.HTTPConnection(agent.moto.hostname, agent.moto.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
            conn.close()
            if json_errors and resp.status >= 400 and data.lstrip().startswith(b"<"):
                return self.json_error(resp.status, data)
            return resp.status, out, data

        @staticmethod
        def json_error(status, xml):
            """moto answers an auth failure in XML even for SSM's JSON protocol; SSM itself answers in JSON."""
            text = xml.decode("utf-8", "replace")
            code = re.search(r"<Code>([^<]*)</Code>", text)
            message = re.search(r"<Message>([^<]*)</Message>", text)
            code = code.group(1) if code else "InternalServerError"
            code = "AccessDeniedException" if code == "AccessDenied" else code
            data = json.dumps({"__type": code, "message": message.group(1) if message else ""}).encode()
            return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))], data

        def forward_and_reply(self, body):
            self.reply(*self.forward(body))

        def reply(self, status, headers, data):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def json(self, status, obj):
            data = json.dumps(obj).encode()
            rid = str(uuid.uuid4())
            self.reply(status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", rid)], data)

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moto", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--state", required=True)
    args = ap.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    os.makedirs(args.state, mode=0o700, exist_ok=True)
    agent = Agent(args.moto, config, os.path.abspath(args.state))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(agent))
    server.daemon_threads = True
    port = server.server_address[1]
    agent.endpoint = f"http://127.0.0.1:{port}"
    print(f"listening {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
