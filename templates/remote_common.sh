# credpush remote prelude, put before each of credpush's remote scripts (the writer, the status probe).
# Builtins only (each step costs no process), but for show_file, which runs stat and head when called.
nl='
'
# absolute PATH: sets $abs to PATH with a leading ~ or ~/ resolved against $HOME, the way Ansible's modules
# resolve it (no command substitution, so no fork).
absolute() {
  case $1 in
    "~") abs=$HOME ;;
    "~/"*) abs=$HOME/${1#"~/"} ;;
    *) abs=$1 ;;
  esac
}
# The answer goes between two marker lines that carry the caller's nonce, so whatever a login script prints
# before or after it (a .bashrc echo, ~/.ssh/rc, a MOTD) is told apart from it. The leading newline starts the
# marker on a line of its own even after noise without one.
begun=
begin() {
  if [ -z "$begun" ]; then
    printf '\ncredpush-reply %s\n' "$nonce"
    # The SSH writer's word on its helper, when it asked for one and wrote without it.
    [ -z "${hnote-}" ] || printf 'helper %s\n' "$hnote"
  fi
  begun=1
}
end() { printf 'credpush-end %s\n' "$nonce"; }
# show_file PATH: says `show ABSOLUTE_PATH`, then `absent`, `toolarge SIZE` (over 64 KiB, or -1 when not a
# regular file), or `present MODE SIZE`, at most SIZE bytes of the file and a newline: the size is said first.
show_file() {
  absolute "$1"
  printf 'show %s\n' "$abs"
  if [ -e "$abs" ]; then
    info=$(stat -L -c '%a %s %F' -- "$abs") || info="0 -1 unreadable"
    size=${info#* } size=${size%% *}
    case $info in
      *" regular file") ;;
      *) size=-1 ;;
    esac
    if [ "$size" -ge 0 ] && [ "$size" -le 65536 ]; then
      printf 'present %s\n' "${info%% *} $size"
      head -c "$size" -- "$abs"
      printf '\n'
    else
      printf 'toolarge %s\n' "$size"
    fi
  else
    printf 'absent\n'
  fi
}
