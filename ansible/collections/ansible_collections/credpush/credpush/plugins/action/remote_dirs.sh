# shellcheck shell=sh
# credpush's directory rule on a host, shared by the remote writer (templates/remote_write.sh) and the Ansible
# action's remote_tmp script (credpush.py beside it; a collection holds files, not links, so the file is here and
# templates/remote_dirs.sh links to it): before anything secret is written, every directory from / to where it goes
# must be owned by root or the writing user and not writable by group or others (unless it is sticky and root's, as
# /tmp is), and the last one must be the writing user's, as sshd's StrictModes asks of ~/.ssh. Otherwise another
# local user could swap a directory or plant a symlink and receive the secret.
# The including script defines `fail CODE MESSAGE`, which exits, or returns 1 to make check_chain return 1 (the
# SSH writer's check of its helper's directory, which falls back rather than fails). Builtins only, but for one
# stat per check.
nl='
'
# The effective uid, from /proc without a process where it exists.
me=
while read -r key _ euid _; do
  if [ "$key" = Uid: ]; then
    me=$euid
    break
  fi
done </proc/self/status || true
[ -n "$me" ] || me=$(id -u)
# check_chain DIR FINAL [FILE]: the rule for every directory from / to the physical path DIR, in one stat. With
# FINAL, DIR must also be the writing user's and be the directory this shell is in. FILE (with FINAL, a name in
# DIR) is inspected by the same stat: its owner's uid, mode and kind are left in $fuid, $fmode and $fkind.
check_chain() {
  # shellcheck disable=SC2034 # fuid, fmode and fkind are the caller's (remote_write.sh's helper check)
  d=$1 final=$2 file=${3-} fuid='' fmode='' fkind='' dot=''
  case $d in *"$nl"*) fail 77 "a directory on the way to $d has a newline in its name" || return 1 ;; esac
  set --
  while :; do
    set -- "$d" "$@"
    [ "$d" != / ] || break
    d=${d%/*}
    [ -n "$d" ] || d=/
  done
  [ -z "$final" ] || set -- "$@" .
  [ -z "$final" ] || [ -z "$file" ] || set -- "$@" "$file"
  out=$(stat -c '%u:%U:%a:%d.%i:%F:%n' -- "$@") || fail 77 "cannot inspect the directories on the way to $1" || return 1
  rest=$out$nl here=
  while [ -n "$rest" ]; do
    line=${rest%%"$nl"*} rest=${rest#*"$nl"}
    uid=${line%%:*} line=${line#*:}
    user=${line%%:*} line=${line#*:}
    m=${line%%:*} line=${line#*:}
    ino=${line%%:*} line=${line#*:}
    kind=${line%%:*} p=${line#*:}
    if [ -n "$dot" ]; then
      # shellcheck disable=SC2034 # read by the caller
      fuid=$uid fmode=$m fkind=$kind
      break
    fi
    if [ "$p" = . ]; then
      # The directory checked by name is the one this shell entered: nothing was swapped in between.
      [ "$ino" = "$here" ] || fail 77 "the directory $dp changed while it was checked" || return 1
      [ -n "$file" ] || break
      dot=1
      continue
    fi
    here=$ino dp=$p downer=$user duid=$uid
    while [ ${#m} -lt 4 ]; do m=0$m; done
    dm=$m
    [ "$kind" = directory ] || fail 66 "$p is not a directory" || return 1
    if [ "$uid" != 0 ] && [ "$uid" != "$me" ]; then
      fail 77 "directory $p is owned by $user (uid $uid, mode $m), not by root or the writing user (uid $me), so that user could redirect what credpush writes (fix: chown root or $me $p, or choose a path whose directories only root and uid $me control)" || return 1
    fi
    if [ $((0$m & 022)) -ne 0 ] && { [ $((0$m & 01000)) -eq 0 ] || [ "$uid" != 0 ]; }; then
      fail 77 "directory $p (owner $user, mode $m) is writable by group or others, so another user could swap what credpush writes (fix: chmod go-w $p)" || return 1
    fi
  done
  if [ -n "$final" ] && [ "$duid" != "$me" ]; then
    fail 77 "directory $dp is owned by $downer (uid $duid, mode $dm), not by the writing user (uid $me), so that owner could swap what credpush writes (fix: chown $me $dp, or write as its owner, e.g. with ansible_become_user)" || return 1
  fi
}
# enter_dir DIR: creates DIR (0700, umask 077) where missing, below directories that pass the rule, and enters
# it, resolving symlinks once (cd -P). Everything after uses names relative to it.
enter_dir() {
  if [ ! -d "$1" ]; then
    # What exists is checked before the rest is created, so nothing is made below someone else's directory.
    a=$1
    while [ ! -d "$a" ]; do
      a=${a%/*}
      [ -n "$a" ] || a=/
    done
    cd -P -- "$a" || fail 77 "cannot enter $a"
    check_chain "$PWD" ""
    mkdir -p -- "$1" || fail 73 "cannot create the directory $1"
  fi
  cd -P -- "$1" || fail 77 "cannot enter $1"
  check_chain "$PWD" final
}
