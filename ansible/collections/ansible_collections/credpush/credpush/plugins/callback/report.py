# credpush.credpush.report: writes the play's per-host outcome as credpush-report.json, in the shape of
# `credpush rotate --json` ({"summary": {...}, "seconds": N, "hosts": [{"host", "status", ...}]}), so the CodeBuild
# build reports the playbook path the way it reports the rotate path.
#
# Only named, non-secret fields are copied from a result (path, expiration, sha256, profile, role_arn, changed,
# and the failure message, bounded), never the result itself: whatever a module or a connection put in a result,
# the report carries no document, argument or output beyond those fields.
from __future__ import annotations

DOCUMENTATION = r"""
name: report
type: notification
short_description: Writes one JSON entry per host, as credpush rotate --json does
description:
  - At the end of the playbook, writes a report with one entry per host that ran a task (status ok, failed,
    unreachable or skipped; the reason; the document's path and expiration) and counts by status.
  - Results are not copied whole; only fields that never hold a secret are.
requirements:
  - enable it with callbacks_enabled (ANSIBLE_CALLBACKS_ENABLED=credpush.credpush.report)
options:
  path:
    description: The report file, written atomically (temp file in the same directory, fsync, rename).
    required: true
    env:
      - name: CREDPUSH_REPORT_FILE
    ini:
      - section: callback_credpush_report
        key: path
"""

import json
import os
import tempfile
import time

from ansible.plugins.callback import CallbackBase

# Worse statuses win when a host has several results (a later ok does not hide an earlier failure).
RANK = {"ok": 0, "skipped": 1, "failed": 2, "unreachable": 3}
# Fields of a credpush result that hold no secret (see the module's contract in the README).
FIELDS = ("path", "expiration", "sha256", "profile", "role_arn")
MAX_ERROR = 2000


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "credpush.credpush.report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._began = time.monotonic()
        self._started = {}
        self._hosts = {}

    def v2_runner_on_start(self, host, task):
        self._started.setdefault(host.get_name(), time.monotonic())

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        # Ignored or not, the host did not get its document.
        self._record(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def _record(self, result, status):
        name = result._host.get_name()
        data = result._result if isinstance(result._result, dict) else {}
        entry = self._hosts.setdefault(name, {"host": name, "status": status})
        if RANK[status] >= RANK[entry["status"]]:
            entry["status"] = status
        for key in FIELDS:
            value = data.get(key)
            if isinstance(value, str):
                entry[key] = value
        if status in ("failed", "unreachable") and "error" not in entry:
            msg = data.get("msg")
            msg = msg if isinstance(msg, str) and msg else status
            # The rotate path says "unreachable: <why>"; the build log's summary reads the same on both paths.
            if status == "unreachable" and not msg.startswith("unreachable"):
                msg = f"unreachable: {msg}"
            entry["error"] = " ".join(msg.split())[:MAX_ERROR]
        entry["seconds"] = round(time.monotonic() - self._started.get(name, self._began), 3)

    def v2_playbook_on_stats(self, stats):
        hosts = [self._hosts[h] for h in sorted(self._hosts)]
        summary = {"hosts": len(hosts), "ok": 0, "failed": 0, "unreachable": 0, "skipped": 0}
        for h in hosts:
            summary[h["status"]] += 1
        report = {"summary": summary, "seconds": round(time.monotonic() - self._began, 3), "hosts": hosts}
        path = self.get_option("path")
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".credpush-report.", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(report, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
