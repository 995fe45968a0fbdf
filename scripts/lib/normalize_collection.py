"""Rewrites a collection tarball from `ansible-galaxy collection build` so that one commit gives the same bytes.

    normalize_collection.py TARBALL EPOCH

ansible-galaxy stamps MANIFEST.json and FILES.json with the time of the build, the other members with the
checkout's file times, and the gzip header with the time again; it lists files in the order the file system
returns them, both in the tar and in FILES.json. This keeps every member's content and mode and changes only:
  - members: MANIFEST.json, FILES.json, then the rest sorted by name (a directory before what it holds);
  - FILES.json's entries sorted by name, and MANIFEST.json's checksum of FILES.json updated to match;
  - every mtime EPOCH, owner 0/0 with no names, and the gzip header's time EPOCH with no file name.
The result replaces TARBALL atomically (a temp file in the same directory, then rename). Exit codes: 0 rewritten;
2 usage; 1 TARBALL unreadable or not a collection (one line on stderr, TARBALL left as it was).
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

FIRST = ("MANIFEST.json", "FILES.json")


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit():
        print("usage: normalize_collection.py TARBALL EPOCH", file=sys.stderr)
        return 2
    path, epoch = argv[1], int(argv[2])
    with tarfile.open(path, "r:gz") as src:
        members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
    names = [m.name for m, _ in members]
    if any(n not in names for n in FIRST) or len(set(names)) != len(names):
        raise SystemExit(
            f"normalize_collection: {path} is not a collection tarball (no MANIFEST.json or FILES.json, or a name twice)"
        )
    data = {m.name: d for m, d in members}

    files = json.loads(data["FILES.json"])
    files["files"].sort(key=lambda f: f["name"])
    data["FILES.json"] = json.dumps(files, indent=True).encode()
    manifest = json.loads(data["MANIFEST.json"])
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(data["FILES.json"]).hexdigest()
    data["MANIFEST.json"] = json.dumps(manifest, indent=True).encode()

    order = {n: i for i, n in enumerate(FIRST)}
    members.sort(key=lambda md: (order.get(md[0].name, len(FIRST)), md[0].name))
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=epoch) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as out:
                    for m, _ in members:
                        m.mtime = epoch
                        m.uid = m.gid = 0
                        m.uname = m.gname = ""
                        m.pax_headers = {}
                        body = data[m.name]
                        if body is not None:
                            m.size = len(body)
                            out.addfile(m, io.BytesIO(body))
                        else:
                            out.addfile(m)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, tarfile.TarError, EOFError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"normalize_collection: {sys.argv[1]}: {type(e).__name__}: {e}")
