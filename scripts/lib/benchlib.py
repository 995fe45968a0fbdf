"""What the benchmarks' measuring halves share (scripts/lib/bench.py, bench_host.py, bench_lambda.py): the
machine's CPU time, moto's control API, and the report section each one rewrites in docs/BENCHMARKS.md."""

import os
import urllib.request


def machine_cpu():
    """CPU seconds the whole machine has spent (all states but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def moto_api(endpoint, path, value=None):
    """POSTs `value` (text, or nothing) to moto's control API at `path` (/moto-api/...)."""
    data = value.encode() if value is not None else b""
    req = urllib.request.Request(endpoint + path, data=data, method="POST", headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req, timeout=10).read()


def write_section(path, begin, end, section, place):
    """Replaces the part of the report at `path` between the `begin` and `end` markers with `section` (which
    carries both markers), atomically; a report without them gets `place(old, section)`."""
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        new = place(old, section)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)
