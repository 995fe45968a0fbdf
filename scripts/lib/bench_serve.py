"""`credpush serve` beside `credpush read` spawned per request (what credential_process costs), at 1 and 16
concurrent clients: requests per second and p50/p99 latency. Run by scripts/bench-serve; not a timed test.

Each client is its own process (no shared interpreter lock between clients), and both sides are measured from
the same loop: for serve one TCP connection and one GET with the token, as botocore's container provider makes
it; for read one fork and exec of `credpush read --path DOC` with its output collected, as botocore runs
credential_process.
"""

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import tempfile
import time


def serve_once(port, token):
    request = (
        f"GET /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"serve answered {data[:80]!r}")


def read_once(credpush, doc):
    out = subprocess.run([credpush, "read", "--path", doc], capture_output=True, check=True)
    if not out.stdout.startswith(b'{"Version":1'):
        raise RuntimeError("read printed no document")


def client(args):
    kind, seconds, params = args
    latencies = []
    end = time.perf_counter() + seconds
    while (start := time.perf_counter()) < end:
        if kind == "serve":
            serve_once(*params)
        else:
            read_once(*params)
        latencies.append(time.perf_counter() - start)
    return latencies


def measure(kind, clients, seconds, params):
    with multiprocessing.Pool(clients) as pool:
        started = time.perf_counter()
        results = pool.map(client, [(kind, seconds, params)] * clients)
        wall = time.perf_counter() - started
    lat = sorted(x for r in results for x in r)
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return {
        "method": kind,
        "clients": clients,
        "requests": len(lat),
        "per_second": round(len(lat) / wall),
        "p50_ms": round(pick(0.50), 2),
        "p99_ms": round(pick(0.99), 2),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--credpush", required=True)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--clients", default="1,16")
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="credpush-bench-serve.")
    doc = os.path.join(work, "temp.json")
    exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    with open(os.open(doc, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(json.dumps({"Version": 1, "AccessKeyId": "ASIABENCH", "SecretAccessKey": "s" * 40,
                            "SessionToken": "t" * 800, "Expiration": exp}, separators=(",", ":")))
    serve = subprocess.Popen([a.credpush, "serve", "--listen", "127.0.0.1:0", "--path", doc],
                             stdout=subprocess.PIPE, text=True)
    try:
        uri = serve.stdout.readline().strip().split("=", 1)[1]
        token_file = serve.stdout.readline().strip().split("=", 1)[1]
        port = int(uri.split(":")[2].split("/")[0])
        with open(token_file) as f:
            token = f.read()
        rows = []
        for n in [int(c) for c in a.clients.split(",")]:
            rows.append(measure("serve", n, a.seconds, (port, token)))
            rows.append(measure("read", n, a.seconds, (a.credpush, doc)))
        print("| method | clients | requests/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
        for r in rows:
            name = "`credpush serve` (GET)" if r["method"] == "serve" else "`credpush read` (spawned)"
            print(f"| {name} | {r['clients']} | {r['per_second']} | {r['p50_ms']} | {r['p99_ms']} |")
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)


if __name__ == "__main__":
    main()
