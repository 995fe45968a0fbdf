"""A long-running boto3 consumer of `credpush serve`, driven by the serve tests over stdin.

Each line "call" makes one real, signed STS GetCallerIdentity through one boto3 session whose credentials come
from the container provider (AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, set
by the test), and prints one JSON line: {"ok": true, "arn": ..., "key": ...} or {"ok": false, "error": ...}.
The session lives as long as the process, so the test sees whether botocore's refresh picks up a rotation.
End of input ends the process.
"""

import json
import sys

import boto3

session = boto3.Session()
sts = session.client("sts")

for line in sys.stdin:
    if line.strip() != "call":
        continue
    try:
        arn = sts.get_caller_identity()["Arn"]
        key = session.get_credentials().get_frozen_credentials().access_key
        out = {"ok": True, "arn": arn, "key": key}
    except Exception as e:  # every failure is reported to the test, which asserts on it
        out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)
