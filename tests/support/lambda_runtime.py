"""Emulates the AWS Lambda Runtime API (version 2018-06-01) for one execution environment of a custom runtime
(provided.al2023), so that the built `bootstrap` can run here as it runs in Lambda.

Usage: lambda_runtime.py --events FILE [--timeout SECS] [--function-name NAME] -- BOOTSTRAP [ARG...]
FILE holds a JSON list of events. The emulator serves the Runtime API on 127.0.0.1 (a free port), starts
BOOTSTRAP with this process's environment plus the variables Lambda sets for a function, hands it the events one
at a time, and when the last one is answered (or the function dies) kills the function's process group, as
Lambda ends an environment. Then it prints one JSON object on stdout:
  {"init_ms": MS until the first `next`, "init_error": null or the init/error body,
   "invocations": [{"request_id", "outcome": "response"|"error"|"timeout"|"exited", "body", "error_type", "ms"}],
   "exit": the function's exit status (negative: the signal), "max_rss_kb": its peak RSS,
   "stdout": and "stderr": what the function printed (Lambda sends both to CloudWatch Logs)}

What it does, as the Runtime API documentation describes it:
- GET /2018-06-01/runtime/invocation/next blocks until there is an event, and answers 200 with the event as the
  body and the headers Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms (now + --timeout, in epoch
  milliseconds), Lambda-Runtime-Invoked-Function-Arn and Lambda-Runtime-Trace-Id.
- POST /2018-06-01/runtime/invocation/{id}/response and .../{id}/error answer 202. An unknown or already answered
  request ID gets 400, a response over 6 MB gets 413, as the documentation lists. The error body is recorded as
  sent ({"errorMessage", "errorType", "stackTrace"}), with the Lambda-Runtime-Function-Error-Type header.
- POST /2018-06-01/runtime/init/error records the init error; the environment then ends.
- The function's environment: AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION
  ($LATEST), AWS_LAMBDA_FUNCTION_MEMORY_SIZE (128), AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME,
  LAMBDA_TASK_ROOT (the bootstrap's directory), LAMBDA_RUNTIME_DIR, _HANDLER, TZ=:UTC; AWS_REGION and
  AWS_DEFAULT_REGION default to us-east-1. The credentials of the execution role are whatever the caller put
  in this process's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), as Lambda puts
  the role's session there.
- A function that does not answer by its deadline is killed, and that invocation is a "timeout".

What it does not model:
- Freezing the environment between invocations (the function runs on while it waits on `next`), reuse of one
  environment across separate runs of this script, concurrency (one environment, one event at a time), the
  2 MB-per-second response streaming mode, extensions and the Extensions/Telemetry APIs, SnapStart, X-Ray
  (the trace header is a fixed-format placeholder), the 10-second init limit, memory limits (the memory size is
  only reported), the read-only filesystem outside /tmp, and CloudWatch Logs itself (output is returned whole).
- The invoke side: events come from --events, not from Invoke, EventBridge Scheduler or a retry policy.
"""

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE = 6 * 1024 * 1024
ACCOUNT = "123456789012"


class Runtime:
    """The state of one execution environment."""

    def __init__(self, events, timeout, arn):
        self.pending = queue.Queue()
        for e in events:
            self.pending.put(e)
        self.total = len(events)
        self.timeout = timeout
        self.arn = arn
        self.lock = threading.Condition()
        self.current = None  # (request_id, started, deadline)
        self.results = []
        self.init_ms = None
        self.init_error = None
        self.started = time.monotonic()
        self.done = threading.Event()

    def next_event(self):
        with self.lock:
            if self.init_ms is None:
                self.init_ms = (time.monotonic() - self.started) * 1000
        try:
            event = self.pending.get_nowait()
        except queue.Empty:
            # No more events: the caller is about to end the environment; block as Lambda does.
            self.done.set()
            time.sleep(3600)
            return None
        rid = str(uuid.uuid4())
        deadline_ms = int(time.time() * 1000 + self.timeout * 1000)
        with self.lock:
            self.current = (rid, time.monotonic(), time.monotonic() + self.timeout)
        return rid, deadline_ms, event

    def answer(self, rid, outcome, body, error_type=None):
        with self.lock:
            if self.current is None or self.current[0] != rid:
                return False
            _, started, _ = self.current
            self.current = None
            self.results.append(
                {"request_id": rid, "outcome": outcome, "body": body, "error_type": error_type,
                 "ms": (time.monotonic() - started) * 1000}
            )
            if len(self.results) == self.total:
                self.done.set()
            return True


def handler_for(rt):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, code, obj, headers=()):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                return self.reply(404, {"errorMessage": "not found", "errorType": "InvalidRequest"})
            got = rt.next_event()
            if got is None:
                return
            rid, deadline_ms, event = got
            trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
            self.reply(
                200,
                event,
                [
                    ("Lambda-Runtime-Aws-Request-Id", rid),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                    ("Lambda-Runtime-Invoked-Function-Arn", rt.arn),
                    ("Lambda-Runtime-Trace-Id", trace),
                ],
            )

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path == f"{PREFIX}/init/error":
                rt.init_error = parse(raw)
                rt.init_error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                rt.done.set()
                return self.reply(202, {"status": "OK"})
            parts = self.path[len(PREFIX):].split("/") if self.path.startswith(PREFIX) else []
            # ['', 'invocation', ID, 'response' | 'error']
            if len(parts) != 4 or parts[1] != "invocation" or parts[3] not in ("response", "error"):
                return self.reply(404, {"errorMessage": "not found", "errorType": "InvalidRequest"})
            rid, kind = parts[2], parts[3]
            if kind == "response" and len(raw) > MAX_RESPONSE:
                rt.answer(rid, "error", None, "Function.ResponseSizeTooLarge")
                return self.reply(413, {"errorMessage": "response too large", "errorType": "RequestEntityTooLarge"})
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type") if kind == "error" else None
            if not rt.answer(rid, kind, parse(raw), error_type):
                return self.reply(400, {"errorMessage": f"no open invocation {rid}", "errorType": "InvalidRequestID"})
            self.reply(202, {"status": "OK"})

    return Handler


def parse(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--function-name", default="credpush")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    with open(args.events) as f:
        events = json.load(f)
    region = os.environ.get("AWS_REGION", "us-east-1")
    arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{args.function_name}"
    rt = Runtime(events, args.timeout, arn)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(rt))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    env = dict(os.environ)
    env.setdefault("AWS_REGION", region)
    env.setdefault("AWS_DEFAULT_REGION", region)
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME=args.function_name,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{args.function_name}",
        AWS_LAMBDA_LOG_STREAM_NAME=time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,
        LAMBDA_TASK_ROOT=os.path.dirname(os.path.abspath(args.command[0])),
        LAMBDA_RUNTIME_DIR=os.path.dirname(os.path.abspath(args.command[0])),
        _HANDLER="bootstrap",
        TZ=":UTC",
    )
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    rt.started = time.monotonic()
    proc = subprocess.Popen(args.command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            start_new_session=True)

    def end(*_):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, lambda *a: (end(), sys.exit(143)))
    status, rusage = None, None
    while status is None:
        if rt.done.wait(0.05):
            break
        with rt.lock:
            cur = rt.current
        if cur is not None and time.monotonic() > cur[2]:
            rt.answer(cur[0], "timeout", f"Task timed out after {args.timeout:.2f} seconds", "Sandbox.Timedout")
            break
        pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, rusage = st, ru
    end()
    if status is None:
        _, status, rusage = os.wait4(proc.pid, 0)
    with rt.lock:
        if rt.current is not None:
            rt.answer(rt.current[0], "exited", None, "Runtime.ExitError")
    server.shutdown()
    out.seek(0)
    err.seek(0)
    result = {
        "init_ms": rt.init_ms,
        "init_error": rt.init_error,
        "invocations": rt.results,
        "exit": os.waitstatus_to_exitcode(status),
        "max_rss_kb": rusage.ru_maxrss,
        "stdout": out.read().decode("utf-8", "replace"),
        "stderr": err.read().decode("utf-8", "replace"),
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
