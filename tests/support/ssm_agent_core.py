"""The agent half of tests/support/ssm_agent.py: managed instances, the commands sent to them, running their
documents' steps, and the invocation reads answered from what ran. See ssm_agent.py for what is modelled."""
import json
import os
import re
import signal
import subprocess
import threading
import time
from urllib.parse import urlparse

import boto3
import botocore.exceptions
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
        self.ssm, self.kms = (
            boto3.client(
                name,
                endpoint_url=moto,
                region_name=config.get("region", "us-east-1"),
                aws_access_key_id=svc["access_key_id"],
                aws_secret_access_key=svc["secret_access_key"],
            )
            for name in ("ssm", "kms")
        )

    # --- parameters ------------------------------------------------------------------------------------------
    def check_key(self, request):
        """SSM encrypts a SecureString under its KeyId with KMS; moto's SSM skips that, so the key is looked up
        here. A missing or not-Enabled key is SSM's InvalidKeyId."""
        key = request.get("KeyId")
        if request.get("Type") != "SecureString" or not key:
            return
        try:
            state = self.kms.describe_key(KeyId=key)["KeyMetadata"].get("KeyState", "Enabled")
        except self.kms.exceptions.NotFoundException:
            raise ApiError("InvalidKeyId", f"Invalid keyId {key}: the KMS key does not exist") from None
        except botocore.exceptions.ClientError as e:  # the emulator's own lookup failed: say so
            raise ApiError("InternalServerError", f"emulator: DescribeKey {key}: {e}") from None
        if state != "Enabled":
            raise ApiError("InvalidKeyId", f"Invalid keyId {key}: the KMS key is {state}")

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
        host_path = self.config.get("host_path")
        env = {
            "PATH": (host_path + ":" if host_path else "") + "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
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
