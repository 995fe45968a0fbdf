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
- KMS: moto's SecureString does not call KMS, so a key that the caller may not use is not refused (see
  PutParameter below for what is checked).
- Instance registration (hybrid activation) is the --config file. DescribeInstanceInformation is not served.
- PutParameter of a SecureString: SSM's own use of KMS is modelled as far as moto's KMS can answer it. The key
  (`KeyId`: ID, ARN or alias) is looked up in moto's KMS (DescribeKey, with the service's credentials) before the
  call goes on to moto; a key that does not exist, or is not Enabled, fails the call with `InvalidKeyId`, the
  code SSM documents for PutParameter. The caller's own kms:Encrypt permission and the key policy are not
  evaluated (moto's SSM never calls KMS as the caller), and this check runs before moto authenticates the call.
- The steps' PATH starts with --config's `host_path` when set: the tools a host has installed (the AWS CLI that
  the install step's `aws s3 cp` needs). S3 GET and HEAD requests pass through to moto like every other call.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import uuid

from ssm_agent_core import Agent, ApiError

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

        def do_HEAD(self):  # `aws s3 cp` asks HeadObject first (the install step's download)
            status, headers, data = self.forward(b"", json_errors=False)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = self.headers.get("X-Amz-Target", "")
            op = target.split(".", 1)[1] if target.startswith("AmazonSSM.") else ""
            if op not in ("SendCommand", "GetCommandInvocation", "ListCommandInvocations", "PutParameter"):
                return self.reply(*self.forward(body, json_errors=bool(op)))
            try:
                request = json.loads(body or b"{}")
                if op == "PutParameter":
                    agent.check_key(request)
                    return self.reply(*self.forward(body))
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
