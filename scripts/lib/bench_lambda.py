"""The Lambda benchmark's driver (see scripts/bench-lambda).

World: moto (auth enforced) with the SSM world (tests/support/ssm_world.py), the agent emulator with N online
instances tagged credpush=bench, and the event EventBridge Scheduler would deliver (deploy/credpush-lambda.yml's
schedule Input, through tests/support/lambda_stack.py). Each function runs as the world's rotator user, as the
integration tests run it (tests/it/lambda/mod.rs says why not as an assumed role).

Per run and method (credpush's bootstrap, then the Python reference, or the other way round on odd runs), one
fresh execution environment of tests/support/lambda_runtime.py with that one event:
  cold start        the emulator's init_ms: its spawn of the function to the first GET .../invocation/next
  first invocation  the emulator's ms: that `next` answered to the .../response posted
  peak RSS          the emulator's max_rss_kb: the function process's ru_maxrss (wait4), its children excluded
Every run must answer with a report of N ok instances, and every instance's document must be the new one (a
changed AccessKeyId); a run that does not is fatal, never a figure. moto's recorder lists the function's own
calls (signed with the rotator's key): both methods must make the same ones in the same order, and the number of
ListCommandInvocations rounds, each after a 1-second wait, gives the figure "less the polling waits".
Prints a Markdown section on stdout (and writes it into --report), and the figures as JSON on stderr's last line.
"""
import argparse
import base64
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse

from benchlib import moto_api, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SUPPORT = os.path.join(REPO, "tests", "support")
REFERENCE = os.path.join(HERE, "lambda_reference", "bootstrap")
VENV = os.environ.get("CREDPUSH_VENV", "/opt/credpush/venv")
LAMBDA_VENV = os.environ.get("CREDPUSH_LAMBDA_VENV", "/opt/credpush/lambda-python")
USER = "credpush-it"
POLL_S = 1.0  # the polling interval of both (src/fleet/ssm.rs's settings, the reference's POLL)
BEGIN = "<!-- scripts/bench-lambda: generated from here to the end marker -->"
END = "<!-- scripts/bench-lambda: end -->"
METHODS = ("credpush", "python")
LABEL = {"credpush": "credpush bootstrap (Rust)", "python": "Python 3.11 + boto3 (awslambdaric)"}


class Recording:
    """The AWS calls moto saw since the last `take`, as action names, for one access key."""

    def __init__(self, path, access_key):
        self.path, self.key, self.offset = path, access_key, 0

    def take(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        actions = []
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            headers = {k.lower(): v for k, v in (r.get("headers") or {}).items()}
            if f"Credential={self.key}/" not in headers.get("authorization", ""):
                continue
            target = headers.get("x-amz-target", "")
            if target:
                actions.append(target.split(".", 1)[-1])
                continue
            body = r.get("body") or ""
            if r.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            action = urllib.parse.parse_qs(body).get("Action", ["?"])[0]
            actions.append(action)
        return actions


def compress(actions):
    """GetCallerIdentity, AssumeRole, ..., ListCommandInvocations x2: consecutive repeats folded."""
    out = []
    for a in actions:
        if out and out[-1][0] == a:
            out[-1][1] += 1
        else:
            out.append([a, 1])
    return ", ".join(a if n == 1 else f"{a} ×{n}" for a, n in out)


class Bench:
    def __init__(self, a):
        self.a = a
        home = subprocess.run(["getent", "passwd", USER], capture_output=True, text=True, check=True).stdout
        self.dest = tempfile.mkdtemp(prefix="credpush-bench-lambda-", dir=home.split(":")[5])
        subprocess.run(["chown", f"{USER}:", self.dest], check=True)
        os.chmod(self.dest, 0o700)
        self.doc = os.path.join(self.dest, "temp.json")
        self.agent = None

    def start(self):
        a = self.a
        moto_api(a.endpoint, "/moto-api/reset-auth", "inf")
        spec = {"document": os.path.join(REPO, "deploy/credpush-fetch.yml"),
                "instances": [{"id": f"mi-{n:017x}", "tags": {"credpush": "bench"}, "online": True}
                              for n in range(1, a.instances + 1)]}
        config = os.path.join(a.work, "agent.json")
        out = subprocess.run([f"{VENV}/bin/python", os.path.join(SUPPORT, "ssm_world.py"), a.endpoint, config],
                             input=json.dumps(spec), capture_output=True, text=True, check=True,
                             env={"HOME": a.work, "PATH": "/usr/bin:/bin"})
        self.world = json.loads(out.stdout)
        moto_api(a.endpoint, "/moto-api/reset-auth", "0")
        self.agent = subprocess.Popen(
            [f"{VENV}/bin/python", os.path.join(SUPPORT, "ssm_agent.py"), "--moto", a.endpoint, "--config", config,
             "--state", os.path.join(a.work, "agent")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
            env={"HOME": a.work, "PATH": "/usr/local/bin:/usr/bin:/bin"})
        proxy = "http://127.0.0.1:" + self.agent.stdout.readline().split()[1]
        params = {"InstanceGroup": "bench", "DocumentPath": self.doc, "DocumentOwner": USER}
        out = subprocess.run([f"{VENV}/bin/python", os.path.join(SUPPORT, "lambda_stack.py"), "input",
                              json.dumps(params)], capture_output=True, text=True, check=True, env={"HOME": a.work})
        self.event = json.loads(out.stdout)
        if self.event["role_arn"] != self.world["target_role_arn"]:
            sys.exit("bench-lambda: the stack's defaults no longer name the SSM world's role")
        rot = self.world["rotator"]
        # What Lambda gives a function: the role's credentials and the region; here also the endpoints. Nothing
        # of this machine's (no ~/.aws: HOME is the run's own directory).
        self.env = {"PATH": "/usr/bin:/bin", "HOME": a.work, "LANG": "C.UTF-8", "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": rot["access_key_id"], "AWS_SECRET_ACCESS_KEY": rot["secret_access_key"],
                    "AWS_ENDPOINT_URL_STS": a.endpoint, "AWS_ENDPOINT_URL_SSM": proxy,
                    # The instances run `credpush fetch` with the measured binary, whichever method rotates.
                    "CREDPUSH_SSM_CREDPUSH_PATH": a.bootstrap, "CREDPUSH_LAMBDA_VENV": LAMBDA_VENV}
        moto_api(a.endpoint, "/moto-api/recorder/start-recording")
        self.recording = Recording(os.path.join(a.work, "moto-recording.jsonl"), rot["access_key_id"])
        self.events = os.path.join(a.work, "events.json")
        with open(self.events, "w") as f:
            json.dump([self.event], f)

    def stop(self):
        if self.agent:
            os.killpg(self.agent.pid, 9)
            self.agent.wait()
        subprocess.run(["rm", "-rf", self.dest])

    def key_id(self):
        try:
            with open(self.doc) as f:
                return json.load(f)["AccessKeyId"]
        except (OSError, ValueError, KeyError):
            return None

    def once(self, method):
        before = self.key_id()
        self.recording.take()
        command = self.a.bootstrap if method == "credpush" else REFERENCE
        r = subprocess.run([f"{VENV}/bin/python", os.path.join(SUPPORT, "lambda_runtime.py"), "--events",
                            self.events, "--timeout", "120", "--", command],
                           env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench-lambda: the emulator failed for {method}: {r.stderr[-800:]}")
        out = json.loads(r.stdout)
        inv = (out.get("invocations") or [{}])[0]
        summary = (inv.get("body") or {}).get("summary") if isinstance(inv.get("body"), dict) else None
        if inv.get("outcome") != "response" or not summary or summary.get("ok") != self.a.instances:
            got = json.dumps(inv)[:800] if inv else f"no invocation (exit {out.get('exit')}, init error " \
                f"{json.dumps(out.get('init_error'))[:400]})"
            sys.exit(f"bench-lambda: {method} did not rotate {self.a.instances} instances: {got}\n"
                     f"its stderr: {out.get('stderr', '')[-800:]}")
        after = self.key_id()
        if after is None or after == before:
            sys.exit(f"bench-lambda: {method} answered ok, but {self.doc} does not hold the new document")
        calls = self.recording.take()
        rounds = calls.count("ListCommandInvocations")
        total = out["init_ms"] + inv["ms"]
        return {"init_ms": out["init_ms"], "invoke_ms": inv["ms"], "total_ms": total,
                "active_ms": total - rounds * POLL_S * 1000, "rounds": rounds, "rss_kb": out["max_rss_kb"],
                "calls": compress(calls)}

    def measure(self):
        results = {m: [] for m in METHODS}
        rounds = self.a.warmup + self.a.runs
        for i in range(rounds):
            order = METHODS if i % 2 == 0 else METHODS[::-1]
            for m in order:
                r = self.once(m)
                warm = i < self.a.warmup
                print(f"{'warm-up' if warm else 'run'} {i + 1 - (0 if warm else self.a.warmup)}: {m:<8} cold start "
                      f"{r['init_ms']:7.1f} ms, first invocation {r['invoke_ms']:7.1f} ms, RSS "
                      f"{r['rss_kb'] / 1024:5.1f} MB, {r['rounds']} poll round(s)", file=sys.stderr)
                if not warm:
                    results[m].append(r)
        calls = {m: {r["calls"] for r in rs} for m, rs in results.items()}
        return results, calls


def same_calls(calls):
    """The function's calls as moto recorded them (runs differ only in their number of polling rounds)."""
    if calls["credpush"] == calls["python"]:
        return f"Both made the same calls, in this order: {' / '.join(sorted(calls['credpush']))}."
    return " ".join(f"{LABEL[m]} made: {' / '.join(sorted(c))}." for m, c in calls.items())


def stats(rs, key):
    v = [r[key] for r in rs]
    return statistics.median(v), min(v), max(v)


def machine(a):
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    with open(a.bootstrap, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    ver = subprocess.run([f"{LAMBDA_VENV}/bin/python", "-c", "import sys, boto3, importlib.metadata as m; "
                          "print(sys.version.split()[0], boto3.__version__, m.version('awslambdaric'))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem / 1024 / 1024), "kernel": platform.release(),
            "commit": commit, "bootstrap": a.bootstrap, "built": a.built, "bootstrap_bytes": os.path.getsize(a.bootstrap),
            "bootstrap_sha256": digest, "python": ver[0], "boto3": ver[1], "awslambdaric": ver[2]}


def markdown(a, info, results, calls, load):
    med = {m: {k: stats(results[m], k) for k in ("init_ms", "invoke_ms", "total_ms", "active_ms", "rss_kb")}
           for m in METHODS}
    ratio = {k: med["python"][k][0] / med["credpush"][k][0] for k in med["credpush"]}
    rel = os.path.relpath(a.bootstrap, REPO) if a.bootstrap.startswith(REPO + os.sep) else a.bootstrap
    lines = [
        BEGIN,
        f"## {time.strftime('%Y-%m-%d')}, the Lambda mode's cold start: credpush beside Python + boto3 "
        "(`scripts/bench-lambda`)",
        "",
        f"Produced by `{a.command}`: {a.runs} run(s) per method after {a.warmup} warm-up round(s), the methods "
        f"alternating, each run one fresh execution environment of `tests/support/lambda_runtime.py` serving the "
        f"stack's scheduler event, which rotates {a.instances} emulated instances (`tests/support/ssm_agent.py`, each "
        "running `credpush fetch`) on moto with auth enforced. Every run must answer with the report of "
        f"{a.instances} ok instances and leave the new document. One moto and one set of instances serve every "
        "run; each run writes a new version of the parameter, as each scheduled run does. " + same_calls(calls),
        "",
        f"Machine: {info['cores']} × {info['cpu']}, {info['mem_gib']} GiB, Linux {info['kernel']}; load average "
        f"{load[0]} at the start and {load[1]} at the end (other builds and tests share these cores). credpush "
        f"`{rel}` ({info['built']}, {info['bootstrap_bytes']:,} bytes, sha256 {info['bootstrap_sha256']}…, commit "
        f"{info['commit']}); the reference: Python {info['python']}, boto3 {info['boto3']}, awslambdaric "
        f"{info['awslambdaric']} (`scripts/lib/lambda_reference/`).",
        "",
        "| | credpush median (min–max) | Python + boto3 median (min–max) | ratio (Python / credpush) |",
        "|---|---|---|---|",
    ]
    rows = [("cold start (spawn → first `next`)", "init_ms"), ("first invocation (`next` → `response`)", "invoke_ms"),
            ("**sum**", "total_ms"), ("sum less the polling's 1-second waits", "active_ms")]

    def cell(m, k):
        x, lo, hi = med[m][k]
        return f"{x:.0f} ms ({lo:.0f}–{hi:.0f})" if x >= 10 else f"{x:.1f} ms ({lo:.1f}–{hi:.1f})"

    for name, k in rows:
        lines.append(f"| {name} | {cell('credpush', k)} | {cell('python', k)} | {ratio[k]:.1f}× |")
    rss = {m: med[m]["rss_kb"] for m in METHODS}
    lines.append(f"| peak RSS of the function process | {rss['credpush'][0] / 1024:.1f} MB "
                 f"({rss['credpush'][1] / 1024:.1f}–{rss['credpush'][2] / 1024:.1f}) | {rss['python'][0] / 1024:.1f} MB "
                 f"({rss['python'][1] / 1024:.1f}–{rss['python'][2] / 1024:.1f}) | {ratio['rss_kb']:.1f}× |")
    rounds = sorted({r["rounds"] for m in METHODS for r in results[m]})
    verdict = "holds" if ratio["total_ms"] >= 5 else "does not hold"
    lines += [
        "",
        f"Polling rounds per invocation: {', '.join(map(str, rounds))} (each after a 1-second wait, in both).",
        "",
        f"Target (issue 19): credpush at least 5× faster on cold start plus first invocation: "
        f"{ratio['total_ms']:.1f}×, {verdict}. On the cold start alone: {ratio['init_ms']:.1f}×; less the polling "
        f"waits: {ratio['active_ms']:.1f}×.",
        "",
        END,
    ]
    # Prose wrapped as the rest of the file is; headings, tables and markers as they are.
    wrapped = [line if line[:1] in ("#", "|", "<", "") else textwrap.fill(line, 115, break_on_hyphens=False)
               for line in lines]
    return "\n".join(wrapped) + "\n", ratio, med


def place(old, section):
    """Where a report without this section gets it: before the history, else at the end."""
    if "\n# History\n" in old:
        head, tail = old.split("\n# History\n", 1)
        return head.rstrip("\n") + "\n\n" + section + "\n# History\n" + tail
    return (old.rstrip("\n") + "\n\n" if old else "# Benchmarks\n\n") + section


def write_report(path, section):
    write_section(path, BEGIN, END, section, place)


def main():
    ap = argparse.ArgumentParser()
    for opt in ("--endpoint", "--work", "--bootstrap", "--built", "--command"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--report")
    a = ap.parse_args()
    load = [" ".join(open("/proc/loadavg").read().split()[:3])]
    bench = Bench(a)
    try:
        bench.start()
        results, calls = bench.measure()
    finally:
        bench.stop()
    load.append(" ".join(open("/proc/loadavg").read().split()[:3]))
    if calls["credpush"] != calls["python"]:
        # Reported, not hidden: the section says so too.
        print(f"bench-lambda: note: the call sequences differ: {json.dumps({m: sorted(c) for m, c in calls.items()})}",
              file=sys.stderr)
    section, ratio, med = markdown(a, machine(a), results, calls, load)
    print(section)
    if a.report:
        write_report(a.report, section)
        print(f"wrote {a.report}", file=sys.stderr)
    print(json.dumps({"median": med, "ratio": ratio, "load": load, "runs": results}), file=sys.stderr)


if __name__ == "__main__":
    main()
