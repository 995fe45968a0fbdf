# credpush remote writer. Runs as `sh -c SCRIPT credpush HELPER TARGET MODE STAMP SECONDS NONCE [SHOW [EXPECT]]`;
# needs a POSIX shell and coreutils (util-linux's flock, where present, serializes writers of one file).
# HELPER is `-`, or SHA256:CRC:SIZE of credpush's helper program (the same writer in one process, the Ansible
# module's static binary: src/host/helper.rs). When ~/.cache/credpush/bin/credpush-helper-SHA256 is there (put by
# credpush's own write, which checked its sha256), in a directory that passes the rule below, owned by the writing
# user and not writable by group or others, with that `cksum` CRC and size, this script runs it with the
# remaining arguments and stdin, and it answers as this script would. Otherwise this script writes, and its answer
# says `helper missing`, `helper mismatch` or `helper refused REASON` first, so that credpush can install it.
# stdin: a line `credpush-write SHA256 LENGTH`, LENGTH bytes of content, a line `credpush-end`. Nothing secret is
# in the command text. The answer is framed (see the prelude): `ok SHA256 ABSOLUTE_PATH`, `newer STAMP` when a
# later rotation already wrote TARGET, or `error CODE MESSAGE`; the exit code is CODE.
#
# The directory rule (remote_dirs.sh) holds for TARGET's directory before anything is read from stdin; from then
# on the writer works inside that directory, so no path is resolved again.
# No roll-back: STAMP (nanoseconds since the epoch at which the rotation assumed its role, `-` for a file that is
# not a rotation's document) is kept in .NAME.credpush-stamp beside TARGET; a writer whose STAMP is older than
# the kept one leaves TARGET alone. Under flock the check and the rename are one step for writers of one file.
# SECONDS bounds the whole run: past it, nothing is renamed.
# EXPECT (a merge into a file read by an earlier exec: the sha256 of TARGET as it was read, or `absent`) makes
# the writer leave TARGET alone when it changed since, checked under the same lock as the stamp.
set -eu
umask 077
unset CDPATH
helper=$1
shift
target=$1 mode=$2 stamp=$3 secs=$4 nonce=$5 show=${6-} expect=${7-}
hnote='' soft=''
fail() {
  if [ -n "$soft" ]; then
    hnote="refused ${2%%"$nl"*}" soft=
    return 1
  fi
  begin
  printf 'error %s %s\n' "$1" "$2"
  end
  printf 'credpush: %s\n' "$2" >&2
  exit "$1"
}
case $nonce in '' | *[!0-9a-f]*) echo "credpush: bad nonce" >&2; exit 64 ;; esac
case $mode in [0-7][0-7][0-7] | 0[0-7][0-7][0-7]) mode=${mode#0} ;; *) fail 64 "mode $mode is not an octal mode" ;; esac
case $stamp in -) ;; '' | *[!0-9]*) fail 64 "stamp $stamp is not a number" ;; esac
case $secs in '' | *[!0-9]*) fail 64 "deadline $secs is not a number of seconds" ;; esac
# try_helper ARGS: runs the helper in place of this shell (exec), or says in $hnote why not and returns. Its
# directory passes the rule as a target's does (it is entered, so the file checked is the file run).
# Only the user or root can change a file there since credpush installed it; the CRC catches any change that
# did happen (a disk, an edit) at a fifth of a sha256sum's cost.
try_helper() {
  [ -n "${HOME-}" ] || return 0
  h=credpush-helper-${helper%%:*} hsum=${helper#*:}
  if ! cd -P -- "$HOME/.cache/credpush/bin" 2>/dev/null || [ ! -f "$h" ] || [ -h "$h" ]; then
    hnote=missing
    return 0
  fi
  soft=1
  check_chain "$PWD" final "$h" || return 0
  soft=
  sum=
  if [ "$fuid" = "$me" ] && [ "$fkind" = "regular file" ] && [ $((0$fmode & 022)) -eq 0 ]; then
    sum=$(cksum <"$h") || sum=
  fi
  if [ "$sum" != "${hsum%%:*} ${hsum#*:}" ]; then
    hnote=mismatch
    return 0
  fi
  exec "./$h" --credpush-write "$@"
}
case $helper in
  -) ;;
  *[!0-9a-f:]* | *:*:*:* | :* | *::* | *:) fail 64 "helper $helper is not SHA256:CRC:SIZE" ;;
  *:*:*) try_helper "$@" ;;
  *) fail 64 "helper $helper is not SHA256:CRC:SIZE" ;;
esac
# This host's clock in whole seconds, read without a process where /proc exists.
clock() {
  if [ -r /proc/uptime ]; then read -r now _ </proc/uptime; now=${now%.*}; else now=$(date +%s); fi
}
clock
deadline=$((now + secs))
left() {
  clock
  left=$((deadline - now))
  [ "$left" -gt 0 ] || fail 75 "the deadline of ${secs}s passed; $target was left as it was"
}
absolute "$target"
target=$abs
case $target in
  /*) ;;
  *) fail 64 "target path $target is not absolute" ;;
esac
case $target in *"$nl"*) fail 64 "target path has a newline" ;; esac
dir=${target%/*}
name=${target##*/}
[ -n "$dir" ] || dir=/
[ -n "$name" ] || fail 64 "target path $target names no file"
if [ -d "$target" ]; then
  fail 66 "target path $target is a directory (or a link to one); name the file to write, e.g. $target/temp.json"
fi
enter_dir "$dir"
IFS=' ' read -r magic want len || fail 65 "no input received; $target was left as it was"
[ "$magic" = credpush-write ] || fail 65 "the input does not start with credpush's header; $target was left as it was"
case $want in *[!0-9a-f]* | '') fail 65 "bad checksum in the header" ;; esac
case $len in *[!0-9]* | '') fail 65 "bad length in the header" ;; esac
tmp=.credpush.$$.tmp
trap 'rm -f -- "$tmp"' EXIT
trap 'rm -f -- "$tmp"; exit 129' HUP INT TERM PIPE
[ ! -e "$tmp" ] && [ ! -h "$tmp" ] || rm -f -- "$tmp"
# noclobber: the temp file is created with O_EXCL, which never follows a symlink.
set -C
if ! err=$({ true >"$tmp"; } 2>&1); then
  fail 73 "cannot create a temporary file in $dir (${err##*: }); $target was left as it was"
fi
left
timeout "$left" head -c "$len" >>"$tmp" || fail 65 "the input stopped before its end (cut or stalled for ${secs}s); $target was left as it was"
IFS= read -r endline || endline=
[ "$endline" = credpush-end ] || fail 65 "the input ended before credpush's end marker; $target was left as it was"
got=$(sha256sum <"$tmp")
[ "${got%% *}" = "$want" ] || fail 65 "received content is incomplete (checksum mismatch); $target was left as it was"
[ "$mode" = 600 ] || chmod "$mode" -- "$tmp"
sync -- "$tmp" 2>/dev/null || sync
if [ "$stamp" != - ]; then
  lock=.$name.credpush-stamp
  command exec 9<>"$lock" || fail 73 "cannot open the stamp file $dir/$lock"
  if command -v flock >/dev/null 2>&1; then
    left
    flock -w "$left" 9 || fail 75 "another writer held $target for ${left}s; it was left as it was"
  fi
  have=
  read -r have <&9 || true
  case $have in '' | *[!0-9]*) have=0 ;; esac
  if [ "$have" -gt "$stamp" ]; then
    begin
    printf 'newer %s\n' "$have"
    end
    exit 0
  fi
fi
if [ -n "$expect" ]; then
  if [ -e "$name" ] || [ -h "$name" ]; then
    cur=$(sha256sum <"$name") || fail 73 "cannot read $target to check it is unchanged"
    cur=${cur%% *}
  else
    cur=absent
  fi
  [ "$cur" = "$expect" ] || fail 75 "$target changed since credpush read it to merge; it was left as it was (run again)"
fi
left
# The answer starts before the stamp and the rename: when credpush has given up on this host (a timeout, a
# signal) its end of stdout is closed, this write fails with SIGPIPE, and a late writer changes nothing.
begin
if [ "$stamp" != - ]; then
  # The stamp goes first: a writer killed between the two steps leaves the older document under a newer stamp,
  # which a later rotation replaces, never the other way round.
  printf '%s\n' "$stamp" >|"$lock"
fi
# -T: never move into a directory that appeared at the target since the check above.
mv -fT -- "$tmp" "$name"
trap - EXIT HUP INT TERM PIPE
sync -- . 2>/dev/null || true
# Check what was renamed: a regular file of ours, with the mode asked, one link, and the content sent.
st=$(stat -c '%u:%a:%h:%F' -- "$name")
[ "$st" = "$me:$mode:1:regular file" ] || fail 70 "$target is not the file just written ($st)"
final=$(sha256sum <"$name")
printf 'ok %s %s\n' "${final%% *}" "$target"
if [ -n "$show" ]; then
  # SHOW: a small non-secret file (~/.aws/config), so that one exec serves both.
  show_file "$show"
fi
end
