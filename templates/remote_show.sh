# credpush remote reader, after the prelude: `sh -c SCRIPT credpush FILE NONCE`. Reads FILE (a credentials file
# that rotate merges a managed section into) for the exec that writes it next; the answer, framed, is what
# show_file says. Read-only: nothing is created or changed.
set -eu
nonce=$2
case $nonce in '' | *[!0-9a-f]*) echo "credpush: bad nonce" >&2; exit 64 ;; esac
begin
show_file "$1"
end
