"""Runs a buildspec (version 0.2) locally the way AWS CodeBuild runs it, for the integration tests.

Usage: codebuild_local.py --buildspec FILE --src DIR --artifacts DIR [--env NAME=VALUE]... [--shard-build ID]

What it models, and why each part matters to credpush's buildspec:
- env.variables are exported; --env (the project's environment) overrides them, as project variables do.
- env.secrets-manager entries (`secret-id[:json-key[:version-stage[:version-id]]]`) are fetched from Secrets
  Manager with the credentials in CODEBUILD_AGENT_AWS_* (CodeBuild's agent fetches them, not the build's
  commands), at AWS_ENDPOINT_URL, and exported.
- Phases run in order install, pre_build, build, post_build. Each phase runs in one bash session: its commands in
  order, stopping at the first that exits non-zero, then its `finally` commands whatever happened. Exported
  variables and the working directory carry over to the next phase (0.2 semantics).
- A failed install or pre_build ends the build (with on-failure ABORT, the default); a failed build phase still
  runs post_build, with CODEBUILD_BUILD_SUCCEEDING=0. `on-failure: CONTINUE` goes on to the next phase.
- Artifacts (`artifacts.files`, `base-directory`, `discard-paths`) are uploaded (copied) once the build phase has
  been reached, even when it failed.
- --shard-build ID runs one build of `batch.build-list` with that entry's env variables on top.

Prints CodeBuild-style log lines and exits 0 when the build SUCCEEDED, 1 when it FAILED. Each phase is bounded by
CODEBUILD_PHASE_TIMEOUT seconds (default 300); its process group is stopped when the phase ends.
"""
import argparse
import glob
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

import yaml

PHASES = ["install", "pre_build", "build", "post_build"]


def log(msg: str) -> None:
    print(f"[Container] {msg}", flush=True)


def fetch_secret(ref: str) -> str:
    import boto3

    # An ARN holds colons itself: secret-id is then its first seven fields.
    parts = ref.split(":")
    if ref.startswith("arn:"):
        secret_id, rest = ":".join(parts[:7]), parts[7:]
    else:
        secret_id, rest = parts[0], parts[1:]
    json_key, stage, version = (rest + ["", "", ""])[:3]
    client = boto3.client(
        "secretsmanager",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ["CODEBUILD_AGENT_AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["CODEBUILD_AGENT_AWS_SECRET_ACCESS_KEY"],
    )
    kwargs = {"SecretId": secret_id}
    if stage:
        kwargs["VersionStage"] = stage
    if version:
        kwargs["VersionId"] = version
    value = client.get_secret_value(**kwargs)["SecretString"]
    return json.loads(value)[json_key] if json_key else value


def run_phase(name, phase, env, work, timeout) -> bool:
    """Runs one phase in one bash session; returns whether it succeeded."""
    lines = [
        "set +e",
        f'. "{work}/state"',
        # The agent sets this per phase; the previous phase's exported copy must not win.
        f"export CODEBUILD_BUILD_SUCCEEDING={env['CODEBUILD_BUILD_SUCCEEDING']}",
        f'cd "$(cat "{work}/cwd")"',
        "__rc=0",
    ]
    for i, cmd in enumerate(phase.get("commands") or []):
        path = os.path.join(work, f"{name}.{i}.sh")
        with open(path, "w") as f:
            f.write(cmd if cmd.endswith("\n") else cmd + "\n")
        # The command text is shown, as CodeBuild shows it; it names secrets by variable, never by value.
        lines += [
            'if [ "$__rc" -eq 0 ]; then',
            f"  echo {shlex.quote('[Container] Running command ' + cmd.strip())}",
            f'  . "{path}"; __rc=$?',
            f'  [ "$__rc" -eq 0 ] || echo "[Container] Command did not exit successfully (exit status $__rc)"',
            "fi",
        ]
    lines.append("__frc=0")
    for i, cmd in enumerate(phase.get("finally") or []):
        path = os.path.join(work, f"{name}.finally.{i}.sh")
        with open(path, "w") as f:
            f.write(cmd if cmd.endswith("\n") else cmd + "\n")
        lines += [
            'if [ "$__frc" -eq 0 ]; then',
            f"  echo {shlex.quote('[Container] Running command ' + cmd.strip())}",
            f'  . "{path}"; __frc=$?',
            "fi",
        ]
    lines += [
        f'export -p > "{work}/state"',
        f'pwd > "{work}/cwd"',
        '[ "$__rc" -eq 0 ] && [ "$__frc" -eq 0 ]',
    ]
    script = os.path.join(work, f"{name}.sh")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = subprocess.Popen(["bash", script], env=env, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        ok = proc.wait(timeout=timeout) == 0
    except subprocess.TimeoutExpired:
        log(f"Phase {name} timed out after {timeout} seconds")
        ok = False
    finally:
        # Whatever the phase left in its own process group ends with it (CodeBuild drops the container).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return ok


def upload_artifacts(spec, src, dest) -> None:
    art = spec.get("artifacts") or {}
    base = os.path.join(src, art.get("base-directory", ""))
    os.makedirs(dest, exist_ok=True)
    for pattern in art.get("files") or []:
        for path in glob.glob(os.path.join(base, pattern), recursive=True):
            if not os.path.isfile(path):
                continue
            rel = os.path.basename(path) if art.get("discard-paths") in (True, "yes") else os.path.relpath(path, base)
            os.makedirs(os.path.dirname(os.path.join(dest, rel)) or dest, exist_ok=True)
            shutil.copy2(path, os.path.join(dest, rel))
            log(f"Uploaded artifact {rel}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--buildspec", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--shard-build")
    args = ap.parse_args()
    with open(args.buildspec) as f:
        spec = yaml.safe_load(f)
    if str(spec.get("version")) != "0.2":
        log(f"unsupported buildspec version {spec.get('version')!r}")
        return 1
    env_spec = spec.get("env") or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEBUILD_AGENT_")}
    for k, v in (env_spec.get("variables") or {}).items():
        env[k] = str(v)
    if args.shard_build:
        entry = next(b for b in spec["batch"]["build-list"] if b["identifier"] == args.shard_build)
        for k, v in ((entry.get("env") or {}).get("variables") or {}).items():
            env[k] = str(v)
    for item in args.env:
        k, _, v = item.partition("=")
        env[k] = v
    log("Phase is DOWNLOAD_SOURCE")
    for k, ref in (env_spec.get("secrets-manager") or {}).items():
        try:
            env[k] = fetch_secret(str(ref))
        except Exception as e:  # CodeBuild fails the build before INSTALL when a secret cannot be read
            log(f"Phase context status code: Secrets Manager Error Message: {type(e).__name__} for {k}")
            log("Phase complete: DOWNLOAD_SOURCE State: FAILED")
            return 1
    env.update({"CODEBUILD_SRC_DIR": args.src, "CODEBUILD_BUILD_ID": "credpush-local:1"})
    succeeding = True
    reached_build = False
    timeout = int(os.environ.get("CODEBUILD_PHASE_TIMEOUT", "300"))
    with tempfile.TemporaryDirectory(prefix="codebuild-local-") as work:
        # The state file holds exported variables, secrets included: private to this run, removed with it.
        os.chmod(work, 0o700)
        fd = os.open(os.path.join(work, "state"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        with open(os.path.join(work, "cwd"), "w") as f:
            f.write(args.src + "\n")
        for name in PHASES:
            phase = (spec.get("phases") or {}).get(name)
            if name == "build":
                reached_build = True
            if not phase:
                continue
            if name == "post_build" and not reached_build:
                break
            env["CODEBUILD_BUILD_SUCCEEDING"] = "1" if succeeding else "0"
            log(f"Entering phase {name.upper()}")
            ok = run_phase(name, phase, env, work, timeout)
            log(f"Phase complete: {name.upper()} State: {'SUCCEEDED' if ok else 'FAILED'}")
            if not ok:
                succeeding = False
                # install and pre_build abort by default; a failed build phase still runs post_build unless it
                # says ABORT itself. CONTINUE goes on in any phase.
                default = "ABORT" if name in ("install", "pre_build") else "CONTINUE"
                if phase.get("on-failure", default) == "ABORT":
                    break
        if reached_build:
            log("Entering phase UPLOAD_ARTIFACTS")
            upload_artifacts(spec, args.src, args.artifacts)
    log(f"Build {'SUCCEEDED' if succeeding else 'FAILED'}")
    return 0 if succeeding else 1


if __name__ == "__main__":
    sys.exit(main())
