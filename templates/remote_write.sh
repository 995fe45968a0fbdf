# credpush remote writer. Runs as `sh -c SCRIPT credpush TARGET MODE [SHOW]`; needs only a POSIX shell and
# coreutils. stdin: one line with the sha256 of the content, then the content. Nothing secret is in the command
# text. Writes TARGET atomically: temp file in the same directory, checksum, fsync, rename. A short or broken
# stdin fails the checksum and leaves the previous file untouched. Prints "SHA256 ABSOLUTE_PATH" of the result.
# With SHOW (a small non-secret file such as ~/.aws/config), it then prints SHOW's absolute path, and either
# "absent" or "present", its octal mode and its content, so that one exec serves both.
set -eu
umask 077
want=
IFS= read -r want || { echo "credpush: no input received" >&2; exit 65; }
target=$1
mode=$2
show=${3-}
target=$(absolute "$target")
case $target in
  /*) ;;
  *) echo "credpush: target path $target is not absolute" >&2; exit 64 ;;
esac
if [ -d "$target" ]; then
  echo "credpush: target path $target is a directory (or a link to one); name the file to write, e.g. $target/temp.json" >&2
  exit 66
fi
dir=$(dirname -- "$target")
mkdir -p -- "$dir"
tmp=$(mktemp -- "$dir/.credpush.XXXXXXXX")
trap 'rm -f -- "$tmp"' EXIT
trap 'rm -f -- "$tmp"; exit 129' HUP INT TERM PIPE
cat > "$tmp"
got=$(sha256sum < "$tmp")
if [ "${got%% *}" != "$want" ]; then
  echo "credpush: received content is incomplete (checksum mismatch); $target was left as it was" >&2
  exit 65
fi
chmod "$mode" -- "$tmp"
sync -- "$tmp" 2>/dev/null || sync
# -T: never move into a directory that appeared at the target since the check above.
mv -fT -- "$tmp" "$target"
trap - EXIT HUP INT TERM PIPE
sync -- "$dir" 2>/dev/null || true
final=$(sha256sum < "$target")
printf '%s %s\n' "${final%% *}" "$target"
[ -n "$show" ] || exit 0
show=$(absolute "$show")
printf '%s\n' "$show"
if [ -e "$show" ]; then
  printf 'present\n'
  stat -c '%a' -- "$show"
  cat -- "$show"
else
  printf 'absent\n'
fi
