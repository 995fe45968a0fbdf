"""The SSM benchmark's driver (see scripts/bench-ssm): moto (auth enforced) with the SSM world, the agent
emulator with N instances, then
  (1) `credpush fetch` against what a user would script, `aws ssm get-parameter --with-decryption` piped to an
      atomic write (temp file, chmod 600, mv), each on a fresh parameter version, timed one call at a time;
  (2) the wall time of `credpush rotate --ssm-targets` to N emulated instances, from its start (the first STS
      call) to its end (the last invocation final).
Prints a Markdown section on stdout and the figures as JSON on stderr's last line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SUPPORT = os.path.join(REPO, "tests", "support")
VENV = os.environ.get("CREDPUSH_VENV", "/opt/credpush/venv")
USER = "credpush-it"


def reset_auth(endpoint, value):
    req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=value.encode(), method="POST",
                                 headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req).read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--credpush", required=True)
    ap.add_argument("--instances", type=int, default=50)
    ap.add_argument("--fetches", type=int, default=20)
    ap.add_argument("--rotations", type=int, default=3)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    home = subprocess.run(["getent", "passwd", USER], capture_output=True, text=True, check=True).stdout.split(":")[5]
    dest = tempfile.mkdtemp(prefix="credpush-bench-ssm-", dir=home)
    subprocess.run(["chown", f"{USER}:", dest], check=True)
    os.chmod(dest, 0o700)
    agent = None
    try:
        reset_auth(a.endpoint, "inf")
        spec = {"document": os.path.join(REPO, "deploy/credpush-fetch.yml"), "pickup_delay": 0.05,
                "instances": [{"id": f"mi-{n:017x}", "tags": {"credpush": "bench"}, "online": True}
                              for n in range(1, a.instances + 1)]}
        config = os.path.join(a.work, "agent.json")
        out = subprocess.run([f"{VENV}/bin/python", os.path.join(SUPPORT, "ssm_world.py"), a.endpoint, config],
                             input=json.dumps(spec), capture_output=True, text=True, check=True)
        world = json.loads(out.stdout)
        reset_auth(a.endpoint, "0")
        agent = subprocess.Popen([f"{VENV}/bin/python", os.path.join(SUPPORT, "ssm_agent.py"), "--moto", a.endpoint,
                                  "--config", config, "--state", os.path.join(a.work, "agent")],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        proxy = "http://127.0.0.1:" + agent.stdout.readline().split()[1]
        rot = world["rotator"]
        base = {"PATH": f"{VENV}/bin:/usr/bin:/bin", "HOME": a.work, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
        rotator_env = dict(base, AWS_ACCESS_KEY_ID=rot["access_key_id"], AWS_SECRET_ACCESS_KEY=rot["secret_access_key"],
                           AWS_ENDPOINT_URL_STS=a.endpoint, AWS_ENDPOINT_URL_SSM=proxy)
        doc = os.path.join(dest, "temp.json")
        rotate = [a.credpush, "rotate", "--role-arn", world["target_role_arn"], "--ssm-targets",
                  "Key=tag:credpush,Values=bench", "--path", doc, "--owner", USER, "--ssm-credpush-path", a.credpush,
                  "--json", "--timeout", "120s"]
        walls = []
        for _ in range(a.rotations):
            t0 = time.monotonic()
            r = subprocess.run(rotate, env=rotator_env, capture_output=True, text=True)
            walls.append(time.monotonic() - t0)
            report = json.loads(r.stdout)
            ok = sum(1 for h in report["hosts"] if h["status"] == "ok")
            if r.returncode != 0 or ok != a.instances:
                sys.exit(f"bench-ssm: rotation failed ({r.returncode}, {ok} ok): {r.stderr[-500:]}")

        # The agent's credentials of one instance, as the document's fetch step sees them.
        creds = os.path.join(a.work, "agent", spec["instances"][0]["id"], "credentials")
        host_env = dict(base, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_CONFIG_FILE="/dev/null", AWS_ENDPOINT_URL=proxy)
        ssm = boto3.client("ssm", endpoint_url=proxy, region_name="us-east-1",
                           aws_access_key_id=rot["access_key_id"], aws_secret_access_key=rot["secret_access_key"])
        value = open(doc).read()
        name = "/credpush/credpush-onprem"
        scripted = ("set -e; umask 077; t=$(mktemp \"$1.XXXXXX\"); "
                    "aws ssm get-parameter --name \"$2\" --with-decryption --query Parameter.Value --output text > \"$t\"; "
                    "chmod 600 \"$t\"; chown \"$3\" \"$t\"; mv -f \"$t\" \"$1\"")
        ways = {
            "credpush fetch": lambda: [a.credpush, "fetch", "--parameter", name, "--path", doc, "--owner", USER],
            "aws ssm get-parameter + atomic write": lambda: ["sh", "-c", scripted, "sh", doc + ".cli", name, USER],
        }
        times = {k: [] for k in ways}
        for _ in range(a.fetches):
            for label, argv in ways.items():
                # A fresh version each time, so that fetch really writes (it skips a version it already holds).
                ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId="alias/credpush", Overwrite=True)
                t0 = time.monotonic()
                subprocess.run(argv(), env=host_env, check=True, capture_output=True)
                times[label].append(time.monotonic() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["aws ssm get-parameter + atomic write"] / med["credpush fetch"]
        print(f"| what | median | runs |\n|---|---|---|")
        for k, v in med.items():
            print(f"| {k} | {v * 1000:.0f} ms | {a.fetches} |")
        print(f"| ratio (aws CLI script / credpush fetch) | {ratio:.1f}x | |")
        print(f"| `credpush rotate --ssm-targets` to {a.instances} emulated instances, wall | "
              f"{statistics.median(walls):.2f} s | {a.rotations} |")
        print(json.dumps({"fetch_ms": {k: v * 1000 for k, v in med.items()}, "ratio": ratio,
                          "rotation_s": walls}), file=sys.stderr)
    finally:
        if agent:
            os.killpg(agent.pid, 9)
            agent.wait()
        subprocess.run(["rm", "-rf", dest])


if __name__ == "__main__":
    main()
